"""cdr: the planner's nav_msgs/Path written and read as CDR bytes must be exactly what rclpy's own
serializer writes and reads, for any frame id length (alignment) and any pose count."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.cdr import decode_path, encode_path
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from rclpy.serialization import deserialize_message, serialize_message

from planning.types import Trajectory


def _typed_path(stamp_ns, frame_id, stamps, x, y, quats, pose_frames) -> Path:
    """Built field by field with rclpy's message classes (independent of cdr)."""
    msg = Path()
    msg.header.stamp = Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    msg.header.frame_id = frame_id
    for s, xi, yi, q, f in zip(stamps, x, y, quats, pose_frames, strict=True):
        p = PoseStamped()
        p.header.stamp = Time(sec=int(s) // 10**9, nanosec=int(s) % 10**9)
        p.header.frame_id = f
        p.pose.position.x, p.pose.position.y = float(xi), float(yi)
        p.pose.orientation.x, p.pose.orientation.y, p.pose.orientation.z, p.pose.orientation.w = q
        msg.poses.append(p)
    return msg


@pytest.mark.parametrize("frame_id", ["", "o", "odom", "map_frame", "a" * 13])
@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_encode_writes_the_bytes_rclpy_writes(frame_id, n):
    rng = np.random.default_rng(n + len(frame_id))
    stamp = 12 * 10**9 + 345
    stamps = stamp + np.cumsum(rng.integers(1, 10**9, n))
    x, y, yaw = rng.normal(0, 50, n), rng.normal(0, 50, n), rng.uniform(-3, 3, n)
    qz, qw = np.sin(yaw / 2), np.cos(yaw / 2)
    quats = [(0.0, 0.0, float(a), float(b)) for a, b in zip(qz, qw, strict=True)]
    typed = _typed_path(stamp, frame_id, stamps, x, y, quats, [frame_id] * n)
    ours = encode_path(stamp, frame_id, stamps, x, y, qz, qw)
    # same layout (rclpy leaves its alignment padding unzeroed, so the bytes differ only there) ...
    assert len(ours) == len(serialize_message(typed))
    # ... and rclpy reads back exactly the message built field by field
    assert deserialize_message(ours, Path) == typed


def test_decode_reads_what_rclpy_writes_with_mixed_frames_and_tilted_poses():
    rng = np.random.default_rng(3)
    n = 9
    stamps = 5 * 10**9 + np.cumsum(rng.integers(1, 10**8, n))
    x, y = rng.normal(0, 10, n), rng.normal(0, 10, n)
    quats = [tuple(q / np.linalg.norm(q)) for q in rng.normal(0, 1, (n, 4))]
    frames = ["", "odom", "x", "base_link_long", "ab", "", "odom", "abc", "z" * 7]
    data = serialize_message(_typed_path(5 * 10**9, "odom", stamps, x, y, quats, frames))
    got = decode_path(data)
    assert got.stamp_ns == 5 * 10**9 and got.frame_id == "odom"
    np.testing.assert_array_equal(got.pose_stamp_ns, stamps)
    np.testing.assert_array_equal(got.x, x)
    np.testing.assert_array_equal(got.y, y)
    want_yaw = [conv.quaternion_to_yaw(p.pose.orientation) for p in deserialize_message(data, Path).poses]
    np.testing.assert_array_equal(got.yaw, want_yaw)


def test_trajectory_bytes_equal_the_typed_round_trip_bit_for_bit():
    """The control node's input must not change by a bit with the byte path (same-seed replays)."""
    t = np.arange(0.0, 6.0, 0.25)
    yaw = 0.3 * np.sin(t)
    traj = Trajectory(10**9 + 7, t, np.cumsum(np.cos(yaw)), np.cumsum(np.sin(yaw)), yaw, np.full(t.size, 4.0))
    data = conv.path_bytes_from_trajectory(traj)
    typed = deserialize_message(data, Path)
    via_bytes = conv.trajectory_from_path_bytes(data)
    assert via_bytes.stamp_ns == traj.stamp_ns
    assert len(typed.poses) == t.size
    yaw_typed = [conv.quaternion_to_yaw(p.pose.orientation) for p in typed.poses]
    np.testing.assert_array_equal(via_bytes.yaw, yaw_typed)
    np.testing.assert_array_equal(via_bytes.x, [p.pose.position.x for p in typed.poses])
    back = conv.trajectory_from_path(conv.path_from_trajectory(traj))
    for field in ("t", "x", "y", "yaw", "speed"):
        np.testing.assert_array_equal(getattr(back, field), getattr(via_bytes, field))


def test_bad_bytes_are_a_value_error_never_a_crash():
    good = conv.path_bytes_from_trajectory(
        Trajectory(10**9, np.arange(5) * 0.1, np.arange(5.0), np.zeros(5), np.zeros(5), np.ones(5))
    )
    for bad in (b"", b"\x00\x01", good[:-3], good[:40], good[:4] + b"\xff" * 8 + good[12:]):
        with pytest.raises(ValueError):
            decode_path(bad)
    # a pose count no message of this size could hold is refused before allocating for it
    huge = bytearray(good)
    count_at = 4 + 8 + 4 + len(b"odom\0")
    count_at += -(count_at - 4) % 4
    huge[count_at : count_at + 4] = (2**31).to_bytes(4, "little")
    with pytest.raises(ValueError, match="cannot fit"):
        decode_path(bytes(huge))
    rng = np.random.default_rng(0)
    for _ in range(2000):
        data = bytearray(good)
        for i in rng.integers(0, len(data), int(rng.integers(1, 6))):
            data[i] = int(rng.integers(0, 256))
        with contextlib.suppress(ValueError):
            decode_path(bytes(data[: int(rng.integers(0, len(data) + 1))]))


def test_trajectory_from_bytes_rejects_paths_a_controller_cannot_follow():
    same_time = Trajectory(10**9, np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="strictly increasing"):
        conv.trajectory_from_path_bytes(conv.path_bytes_from_trajectory(same_time))
    empty = serialize_message(Path())
    with pytest.raises(ValueError, match="empty path"):
        conv.trajectory_from_path_bytes(empty)


def test_header_stamp_is_read_from_any_stamped_message():
    from fleetpilot_nodes.cdr import header_stamp_ns
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Imu

    for msg_type in (Odometry, Imu, Path):
        msg = msg_type()
        msg.header.stamp = Time(sec=1234, nanosec=567_890_123)
        msg.header.frame_id = "odom"
        assert header_stamp_ns(serialize_message(msg)) == 1234 * 10**9 + 567_890_123
    data = serialize_message(Odometry())
    for bad in (data[:8], b"\x00\x07" + data[2:], data[:4] + b"\x00" * 4 + b"\xff" * 4 + data[12:]):
        with pytest.raises(ValueError):
            header_stamp_ns(bad)


def test_odometry_bytes_give_what_the_typed_message_gives():
    from nav_msgs.msg import Odometry

    rng = np.random.default_rng(4)
    for frame, child in (("odom", "base_link"), ("", ""), ("o", "abcdefg"), ("map_x", "b")):
        msg = Odometry()
        msg.header.stamp = Time(sec=3, nanosec=5)
        msg.header.frame_id, msg.child_frame_id = frame, child
        p, q, t = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
        p.x, p.y, p.z = rng.normal(size=3)
        q.x, q.y, q.z, q.w = rng.normal(size=4) / 2
        t.linear.x, t.linear.y, t.angular.z = rng.normal(size=3)
        msg.pose.covariance = rng.uniform(0, 1, 36)
        data = serialize_message(msg)
        assert conv.odometry_from_bytes(data) == conv.odometry_from_msg(msg)
    with pytest.raises(ValueError, match="Odometry"):
        conv.odometry_from_bytes(data[:20])
    with pytest.raises(ValueError, match="Odometry"):
        conv.odometry_from_bytes(b"\x00\x07" + data[2:40])  # not plain CDR, and not an Odometry

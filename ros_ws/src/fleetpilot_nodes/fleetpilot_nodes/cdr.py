"""Serialised messages read and written without rclpy's per-field Python objects: nav_msgs/Path,
and the header stamp of any message that starts with a std_msgs/Header.

Why: rclpy turns every PoseStamped of a Path into five Python objects (PoseStamped, Header, Time, Pose,
Point, Quaternion) when it builds or receives one. For the planner's 26–51-pose path that cost 0.6–1.1 ms
per camera frame between planning and control (40 poses: building 0.21 ms, serialising 0.09 ms,
deserialising 0.50 ms), about a tenth of the lockstep loop. Here the planner writes the CDR bytes itself
and publishes them with ``Publisher.publish(bytes)``; the controller subscribes with ``raw=True`` and
reads the numbers it needs. On the wire it is an ordinary nav_msgs/Path: ros2 bag, rviz2 and typed rclpy
subscriptions see no difference (tests/ros/test_cdr.py checks both directions against rclpy's own
serialize_message / deserialize_message).

Format: the 4-byte encapsulation header, then plain CDR (XCDR1) as rmw_fastrtps and rmw_cyclonedds use
for ROS 2 messages: primitives aligned to their size relative to the end of the encapsulation header,
strings as uint32 length (including the NUL) + bytes + NUL, sequences as uint32 count + elements.
Encapsulations other than plain CDR (little or big endian) are handed to rclpy's deserializer.

Odometry arrives at 60 Hz but the planner and the controller use one message per camera frame (the one
with the frame's stamp): they subscribe raw, key the bytes by header_stamp_ns(), and deserialise only the
one they use.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

_CDR_BE, _CDR_LE = b"\x00\x00", b"\x00\x01"  # the encapsulation id, big-endian uint16
_HEADER_LE = b"\x00\x01\x00\x00"
_NS = 1_000_000_000


@dataclass(frozen=True)
class PathArrays:
    """What control and locomotion read from a Path: its stamp and, per pose, stamp and planar pose."""

    stamp_ns: int
    frame_id: str
    pose_stamp_ns: np.ndarray  # (N,) int64
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray


def _plain_cdr(data: bytes, what: str, min_len: int = 4) -> tuple[str, memoryview] | None:
    """(struct byte-order prefix, the bytes after the encapsulation header) for plain CDR, None for
    any other encapsulation. ValueError when the bytes are too short to hold `what`."""
    if len(data) < min_len:
        raise ValueError(f"a serialised {what} needs at least {min_len} bytes, got {len(data)}")
    kind = bytes(data[:2])
    if kind not in (_CDR_LE, _CDR_BE):
        return None
    return ("<" if kind == _CDR_LE else ">"), memoryview(data)[4:]


def header_stamp_ns(data: bytes) -> int:
    """The stamp of a serialised message whose first field is a std_msgs/Header (Odometry, Imu,
    Image, ...), in integer ns. Raises ValueError on bytes too short or not plain CDR."""
    plain = _plain_cdr(data, "message with a header", 12)
    if plain is None:
        raise ValueError(f"unsupported CDR encapsulation {bytes(data[:2]).hex()}")
    e, view = plain
    sec, nanosec = struct.unpack_from(e + "iI", view, 0)
    if nanosec >= _NS:
        raise ValueError(f"header stamp nanosec {nanosec} is not below 1e9")
    return sec * _NS + nanosec


@dataclass(frozen=True)
class OdometryFields:
    """What the stack reads from a nav_msgs/Odometry."""

    stamp_ns: int
    x: float
    y: float
    qx: float
    qy: float
    qz: float
    qw: float
    vx: float
    vy: float
    wz: float
    pose_covariance: tuple[float, ...]  # 36 values, row-major (x, y, z, rot x, rot y, rot z)


def decode_odometry(data: bytes) -> OdometryFields:
    """Read a serialised nav_msgs/Odometry (plain CDR; anything else goes through rclpy). ValueError
    if it is not one."""
    plain = _plain_cdr(data, "Odometry")
    if plain is None:
        return _odometry_with_rclpy(data)
    e, view = plain
    try:
        sec, nanosec = struct.unpack_from(e + "iI", view, 0)
        if nanosec >= _NS:
            raise ValueError(f"header stamp nanosec {nanosec} is not below 1e9")
        o = 8
        for _ in range(2):  # header.frame_id, child_frame_id
            o += -o % 4
            (length,) = struct.unpack_from(e + "I", view, o)
            o += 4 + length
        o += -o % 8
        # pose (7), pose covariance (36), twist (6), twist covariance (36): contiguous doubles
        v = struct.unpack_from(e + "85d", view, o)
    except struct.error as exc:
        raise ValueError(f"malformed nav_msgs/Odometry CDR ({len(data)} bytes): {exc}") from exc
    return OdometryFields(sec * _NS + nanosec, v[0], v[1], *v[3:7], v[43], v[44], v[48], tuple(v[7:43]))


def _odometry_with_rclpy(data: bytes) -> OdometryFields:
    from nav_msgs.msg import Odometry
    from rclpy.serialization import deserialize_message

    try:
        m = deserialize_message(data, Odometry)
    except Exception as exc:  # rclpy's own error type is not public
        raise ValueError(f"not a serialised nav_msgs/Odometry: {exc}") from exc
    p, q, t = m.pose.pose.position, m.pose.pose.orientation, m.twist.twist
    return OdometryFields(
        m.header.stamp.sec * _NS + m.header.stamp.nanosec,
        p.x,
        p.y,
        q.x,
        q.y,
        q.z,
        q.w,
        t.linear.x,
        t.linear.y,
        t.angular.z,
        tuple(float(c) for c in m.pose.covariance),
    )


def _stamp_parts(ns: int) -> tuple[int, int]:
    sec, nanosec = divmod(int(ns), _NS)
    if not -(2**31) <= sec < 2**31:
        raise ValueError(f"stamp {ns} ns does not fit builtin_interfaces/Time")
    return sec, nanosec


def _string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<I", len(raw) + 1) + raw + b"\0"


def encode_path(
    stamp_ns: int, frame_id: str, pose_stamp_ns, x, y, qz, qw, pose_frame_id: str | None = None
) -> bytes:
    """CDR bytes of a planar nav_msgs/Path: pose i at (x[i], y[i], 0), orientation (0, 0, qz[i], qw[i]),
    stamped pose_stamp_ns[i] in pose_frame_id (default: the path's frame)."""
    n = len(pose_stamp_ns)
    if not (len(x) == len(y) == len(qz) == len(qw) == n):
        raise ValueError("pose_stamp_ns, x, y, qz, qw must have the same length")
    buf = bytearray(_HEADER_LE)
    buf += struct.pack("<iI", *_stamp_parts(stamp_ns)) + _string(frame_id)
    buf += b"\0" * (-(len(buf) - 4) % 4) + struct.pack("<I", n)
    pose_frame = _string(frame_id if pose_frame_id is None else pose_frame_id)
    pack_pose = struct.Struct("<7d").pack
    stamps = [int(s) for s in pose_stamp_ns]
    xs, ys, zs, ws = (np.asarray(a, dtype=float).tolist() for a in (x, y, qz, qw))
    for i in range(n):
        buf += b"\0" * (-(len(buf) - 4) % 4)
        buf += struct.pack("<iI", *_stamp_parts(stamps[i])) + pose_frame
        buf += b"\0" * (-(len(buf) - 4) % 8)
        buf += pack_pose(xs[i], ys[i], 0.0, 0.0, 0.0, zs[i], ws[i])
    return bytes(buf)


def decode_path(data: bytes) -> PathArrays:
    """Read a serialised nav_msgs/Path. Raises ValueError on bytes that are not one."""
    plain = _plain_cdr(data, "Path")
    if plain is None:
        return _decode_with_rclpy(data)
    e, view = plain
    try:
        return _decode_plain_cdr(view, e)
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise ValueError(f"malformed nav_msgs/Path CDR ({len(data)} bytes): {exc}") from exc


def _decode_plain_cdr(view: memoryview, e: str) -> PathArrays:
    stamp_t = struct.Struct(e + "iI")
    u32 = struct.Struct(e + "I")
    pose_t = struct.Struct(e + "7d")
    end = len(view)

    def string(o: int) -> tuple[str, int]:
        (length,) = u32.unpack_from(view, o)
        o += 4
        if length < 1 or o + length > end:
            raise ValueError(f"string of {length} bytes at offset {o} runs past the {end}-byte message")
        return bytes(view[o : o + length - 1]).decode(), o + length

    sec, nanosec = stamp_t.unpack_from(view, 0)
    if nanosec >= _NS:
        raise ValueError(f"header stamp nanosec {nanosec} is not below 1e9")
    frame_id, o = string(8)
    o += -o % 4
    (n,) = u32.unpack_from(view, o)
    o += 4
    # a count no message of this size can hold is refused before anything is allocated for it:
    # the smallest PoseStamped is 8 (stamp) + 5 (empty frame id) + 56 (pose) bytes
    if n * 69 > end - o:
        raise ValueError(f"a path of {n} poses cannot fit in {end} bytes")
    stamps = np.empty(n, np.int64)
    xs, ys, yaws = np.empty(n), np.empty(n), np.empty(n)
    atan2 = math.atan2
    for i in range(n):
        o += -o % 4
        s, ns = stamp_t.unpack_from(view, o)
        (length,) = u32.unpack_from(view, o + 8)
        o += 12 + length
        o += -o % 8
        px, py, _pz, qx, qy, qz, qw = pose_t.unpack_from(view, o)
        o += 56
        if ns >= _NS:
            raise ValueError(f"pose {i} stamp nanosec {ns} is not below 1e9")
        stamps[i] = s * _NS + ns
        xs[i], ys[i] = px, py
        # the same formula as conversions.quaternion_to_yaw (small roll/pitch still give the heading)
        yaws[i] = atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
    if o > end:
        raise ValueError(f"the path's poses run past the {end}-byte message")
    return PathArrays(sec * _NS + nanosec, frame_id, stamps, xs, ys, yaws)


def _decode_with_rclpy(data: bytes) -> PathArrays:
    """Any other encapsulation (e.g. XCDR2 from another middleware): rclpy's typed deserializer."""
    from nav_msgs.msg import Path
    from rclpy.serialization import deserialize_message

    try:
        msg = deserialize_message(data, Path)
    except Exception as exc:  # rclpy raises a bare RuntimeError-like _rclpy error
        raise ValueError(f"not a serialised nav_msgs/Path: {exc}") from exc

    def ns(t) -> int:
        return t.sec * _NS + t.nanosec

    poses = msg.poses
    q = [p.pose.orientation for p in poses]
    return PathArrays(
        ns(msg.header.stamp),
        msg.header.frame_id,
        np.array([ns(p.header.stamp) for p in poses], dtype=np.int64),
        np.array([p.pose.position.x for p in poses], dtype=float),
        np.array([p.pose.position.y for p in poses], dtype=float),
        np.array(
            [math.atan2(2.0 * (r.w * r.z + r.x * r.y), 1.0 - 2.0 * (r.y * r.y + r.z * r.z)) for r in q],
            dtype=float,
        ),
    )

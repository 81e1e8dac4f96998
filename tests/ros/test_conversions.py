"""Every ROS ↔ core conversion round-trips (no nodes needed)."""

import dataclasses
import math

import numpy as np
import pytest
from fleetpilot_nodes import conversions as conv

from contracts.messages import CameraFrame, CameraModel, DriveCommand, Imu, Odometry
from perception.classes import Cls
from perception.types import BevGrid, LightState, PerceptionOutput, TrafficLightObservation
from planning.types import ControlCommand, RouteMap, StopLine, Trajectory

STAMP = 12_345_678_901  # not a multiple of 1 s: exercises sec/nanosec split


def test_time_roundtrip_exact():
    for ns in (0, 1, 999_999_999, 1_000_000_000, STAMP, 2**62):
        assert conv.from_time(conv.to_time(ns)) == ns
    t = conv.to_time(STAMP)
    assert (t.sec, t.nanosec) == (12, 345_678_901)
    with pytest.raises(ValueError, match="non-negative"):
        conv.to_time(-1)


def test_image_roundtrip():
    rgb = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    msg = conv.image_from_frame(CameraFrame(STAMP, rgb))
    assert (msg.encoding, msg.height, msg.width, msg.step) == ("rgb8", 12, 16, 48)
    back = conv.frame_from_image(msg)
    assert back.stamp_ns == STAMP
    np.testing.assert_array_equal(back.rgb, rgb)


def test_image_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        conv.image_from_frame(CameraFrame(0, np.zeros((4, 4, 3), np.float32)))
    msg = conv.image_from_frame(CameraFrame(0, np.zeros((4, 4, 3), np.uint8)))
    msg.encoding = "bgr8"
    with pytest.raises(ValueError, match="rgb8"):
        conv.frame_from_image(msg)


def test_camera_model_roundtrip():
    model = CameraModel(160, 120, 110.0, 111.0, 79.5, 59.5, x=1.2, y=-0.1, z=1.4, pitch=0.15)
    info = conv.camera_info_from_model(model, STAMP)
    mount = conv.camera_mount_to_pose(model)
    back = conv.camera_model_from_ros(info, mount)
    for field in ("width", "height", "fx", "fy", "cx", "cy", "x", "y", "z", "near", "far"):
        assert getattr(back, field) == pytest.approx(getattr(model, field)), field
    assert back.pitch == pytest.approx(model.pitch, abs=1e-12)
    assert conv.stamp_of(info) == STAMP


def test_odometry_roundtrip():
    odom = Odometry(STAMP, 3.0, -2.0, 2.9, 4.5, 0.1, -0.3, pose_std=(0.1, 0.2, 0.01))
    msg = conv.odometry_to_msg(odom)
    assert (msg.header.frame_id, msg.child_frame_id) == ("odom", "base_link")
    back = conv.odometry_from_msg(msg)
    assert back.stamp_ns == STAMP
    for field in ("x", "y", "yaw", "vx", "vy", "yaw_rate"):
        assert getattr(back, field) == pytest.approx(getattr(odom, field)), field
    assert back.pose_std == pytest.approx(odom.pose_std)


def test_yaw_wraps_correctly_near_pi():
    for yaw in (-math.pi + 1e-6, math.pi - 1e-6, 0.0, 1.0, -2.0):
        assert conv.quaternion_to_yaw(conv.yaw_to_quaternion(yaw)) == pytest.approx(yaw)


def test_imu_roundtrip():
    imu = Imu(STAMP, (0.1, -0.2, 9.81), (0.01, 0.02, -0.5))
    back = conv.imu_from_msg(conv.imu_to_msg(imu))
    assert back.stamp_ns == STAMP
    assert back.accel == pytest.approx(imu.accel) and back.gyro == pytest.approx(imu.gyro)


def _grid() -> BevGrid:
    classes = np.random.default_rng(1).integers(0, 10, (7, 9)).astype(np.uint8)
    classes[0, :3] = BevGrid.UNKNOWN
    return BevGrid(classes=classes, resolution=0.25, origin_x=0.5, origin_y=-1.125)


def test_semantic_grid_roundtrip():
    grid = _grid()
    msg = conv.semantic_grid_from_bev(grid, STAMP)
    assert (msg.info.width, msg.info.height) == (9, 7)
    assert list(msg.data[:3]) == [-1, -1, -1]  # unknown is −1 on the wire
    back = conv.bev_from_semantic_grid(msg)
    np.testing.assert_array_equal(back.classes, grid.classes)
    assert (back.resolution, back.origin_x, back.origin_y) == (0.25, 0.5, -1.125)


def test_occupancy_values():
    grid = _grid()
    data = np.frombuffer(conv.occupancy_from_bev(grid, STAMP).data, np.int8).reshape(7, 9)
    c = grid.classes
    assert np.all(data[np.isin(c, [Cls.ROAD, Cls.LANE_MARKING, Cls.SIDEWALK])] == 0)
    assert np.all(data[np.isin(c, [Cls.VEHICLE, Cls.PEDESTRIAN, Cls.OBSTACLE])] == 100)
    assert np.all(data[c == BevGrid.UNKNOWN] == -1)
    assert set(np.unique(data)) <= {-1, 0, 100}


def test_perception_roundtrip():
    out = PerceptionOutput(STAMP, _grid(), TrafficLightObservation(LightState.RED, 0.8, 0.05), 0.93, 7.5)
    back = conv.perception_from_ros(conv.semantic_grid_from_bev(out.grid, STAMP), conv.perception_status(out))
    assert back.stamp_ns == STAMP
    assert back.traffic_light == out.traffic_light
    assert (back.confidence, back.latency_ms) == (0.93, 7.5)
    np.testing.assert_array_equal(back.grid.classes, out.grid.classes)
    none = PerceptionOutput(STAMP, _grid(), TrafficLightObservation(LightState.NONE, 0.0), 0.5)
    back = conv.perception_from_ros(
        conv.semantic_grid_from_bev(none.grid, STAMP), conv.perception_status(none)
    )
    assert back.traffic_light.state is LightState.NONE and math.isnan(back.traffic_light.bearing)


def test_perception_rejects_mismatched_stamps():
    out = PerceptionOutput(STAMP, _grid(), TrafficLightObservation(LightState.NONE, 0.0), 0.5)
    with pytest.raises(ValueError, match="differ"):
        conv.perception_from_ros(
            conv.semantic_grid_from_bev(out.grid, STAMP + 1), conv.perception_status(out)
        )


def test_trajectory_roundtrip_keeps_speed_profile():
    t = np.arange(0, 3.0, 0.1)
    speed = np.where(t < 1.5, 5.0, 2.0)  # piecewise-constant: recovered exactly
    yaw = 0.1 * t
    x = np.concatenate([[0.0], np.cumsum(speed[:-1] * np.cos(yaw[:-1]) * 0.1)])
    y = np.concatenate([[0.0], np.cumsum(speed[:-1] * np.sin(yaw[:-1]) * 0.1)])
    traj = Trajectory(STAMP, t, x, y, yaw, speed, behaviour="follow_lane")
    msg = conv.path_from_trajectory(traj)
    assert len(msg.poses) == len(t)
    assert conv.stamp_of(msg.poses[5]) == STAMP + 500_000_000  # arrival time
    back = conv.trajectory_from_path(msg)
    assert back.stamp_ns == STAMP
    np.testing.assert_allclose(back.t, t, atol=1e-9)
    np.testing.assert_allclose(back.x, x)
    np.testing.assert_allclose(back.y, y)
    np.testing.assert_allclose(back.yaw, yaw, atol=1e-12)
    np.testing.assert_allclose(back.speed, speed, rtol=1e-6)


def test_trajectory_rejects_bad_paths():
    traj = Trajectory(STAMP, np.array([0.0, 0.0]), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="strictly increasing"):
        conv.trajectory_from_path(conv.path_from_trajectory(traj))
    with pytest.raises(ValueError, match="same length"):
        conv.path_from_trajectory(
            Trajectory(STAMP, np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2), np.zeros(2))
        )


def test_commands_roundtrip():
    cmd = ControlCommand(STAMP, 3.5, -0.2)
    msg = conv.twist_from_command(cmd)
    assert conv.control_command_from_twist(msg) == cmd
    assert conv.drive_command_from_twist(msg) == DriveCommand(STAMP, 3.5, -0.2)


def test_route_roundtrip():
    route = RouteMap(
        np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.5]]), 3.5, 10.0, (3.5,), (StopLine(40.0, 2),), 99.0
    )
    back = conv.route_from_msg(conv.route_to_msg(route))
    np.testing.assert_allclose(back.centerline, route.centerline)
    assert (back.lane_width, back.speed_limit, back.adjacent_lane_offsets, back.stop_lines, back.goal_s) == (
        3.5,
        10.0,
        (3.5,),
        (StopLine(40.0, 2),),
        99.0,
    )
    assert conv.route_from_msg(conv.route_to_msg(route.to_dict())).to_dict() == route.to_dict()
    with pytest.raises(ValueError, match="JSON"):
        conv.route_from_msg(conv.String(data="{nope"))


def test_objects_roundtrip_and_malformed_messages_are_value_errors():
    from std_msgs.msg import String

    from perception.objects import DetectedObject

    objs = (
        DetectedObject("vehicle", 6.25, -1.5, 0.6, "red", 150, -0.24),
        DetectedObject("obstacle", 4.0, 2.0, 0.5, "yellow", 80, 0.46),
    )
    msg = conv.objects_to_msg(123_000, objs)
    assert conv.objects_stamp(msg) == 123_000
    assert conv.objects_from_msg(msg) == objs
    assert conv.objects_from_msg(conv.objects_to_msg(5, ())) == ()
    for bad in (
        "",
        "[]",
        '{"stamp_ns": 1}',
        '{"stamp_ns": 1, "objects": [{"label": "x"}]}',
        '{"stamp_ns": 1, "objects": [{"label": "v", "x": NaN, "y": 0, "width": 1, "colour": "r",'
        ' "pixels": 3, "bearing": 0}]}',
    ):
        with pytest.raises(ValueError):
            conv.objects_from_msg(String(data=bad))
    with pytest.raises(ValueError):
        conv.objects_stamp(String(data="{}"))


def test_a_dropped_frame_is_an_error_status_with_typed_counters_and_round_trips():
    from diagnostic_msgs.msg import DiagnosticStatus

    from perception.pipeline import dropped_output

    out = dropped_output(STAMP, "encoding")
    msg = conv.perception_status(out, dropped={"encoding": 2, "data_size": 1})
    st = msg.status[0]
    values = {kv.key: kv.value for kv in st.values}
    assert st.level == DiagnosticStatus.ERROR and st.message == "frame dropped: encoding"
    assert values["frames_dropped"] == "3" and values["frames_dropped.encoding"] == "2"
    assert values["frames_dropped.data_size"] == "1" and values["dropped_reason"] == "encoding"
    back = conv.perception_from_ros(conv.semantic_grid_from_bev(out.grid, STAMP), msg)
    assert back.dropped == "encoding" and back.confidence == 0.0
    assert np.all(back.grid.classes == BevGrid.UNKNOWN)
    # a good frame after drops says ok and still carries the counts: drops are never silent
    good = dataclasses.replace(out, dropped="", confidence=0.9)
    st = conv.perception_status(good, dropped={"encoding": 2}).status[0]
    values = {kv.key: kv.value for kv in st.values}
    assert st.level == DiagnosticStatus.OK and values["frames_dropped"] == "2"
    assert "dropped_reason" not in values


def test_unusable_camera_info_is_a_frame_rejected():
    from contracts.messages import FrameRejected

    model = CameraModel(160, 120, 100.0, 100.0, 80.0, 60.0, 1.0, 0.0, 1.5, 0.1)
    mount = conv.camera_mount_to_pose(model)
    for broken in ({"k": [0.0] * 9}, {"width": 0}, {"k": [float("nan")] + [0.0] * 8}):
        info = conv.camera_info_from_model(model, STAMP)
        for field, value in broken.items():
            setattr(info, field, value)
        with pytest.raises(FrameRejected) as err:
            conv.camera_model_from_ros(info, mount)
        assert err.value.reason == "camera_info"


def test_tracks_roundtrip_and_malformed_messages_are_value_errors():
    from std_msgs.msg import String

    from perception.tracker import Detection, ObjectTracker

    tracker = ObjectTracker()
    for k in range(4):
        tracker.update(k * 100_000_000, [Detection("vehicle", 20.0 - 0.5 * k, 3.5, 2.0, 1.5, 0.1, 12)])
    tracks = tracker.confirmed()
    msg = conv.tracks_to_msg(STAMP, tracks)
    back = conv.tracks_from_msg(msg)
    assert len(back) == 1 and back[0].track_id == tracks[0].track_id and back[0].label == "vehicle"
    assert back[0].vx == pytest.approx(tracks[0].vx, abs=1e-3) and len(back[0].covariance) == 16
    assert back[0].velocity_std == pytest.approx(tracks[0].velocity_std, abs=1e-3)
    for bad in ("", "{}", '{"tracks": [{"track_id": 1}]}'):
        with pytest.raises(ValueError):
            conv.tracks_from_msg(String(data=bad))

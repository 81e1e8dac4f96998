"""The ONLY module that knows both ROS 2 messages and fleetpilot core types.

Every function is a pure conversion (no node, no I/O) so it can be round-trip tested without a graph.
Stamps are integer nanoseconds on the sim time grid (contracts/clock.py); they become builtin_interfaces/Time
exactly, so nodes can match messages by stamp equality.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, Quaternion, TwistStamped
from nav_msgs.msg import OccupancyGrid, Path
from nav_msgs.msg import Odometry as OdometryMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from sensor_msgs.msg import Imu as ImuMsg
from std_msgs.msg import Header, String

from contracts.messages import (
    CameraFrame,
    CameraModel,
    DriveCommand,
    FrameRejected,
    Imu,
    JointEffortCommand,
    Odometry,
)
from fleetpilot_nodes import cdr
from perception.classes import GROUND_CLASSES, OBSTACLE_CLASSES
from perception.types import BevGrid, LightState, PerceptionOutput, TrafficLightObservation
from planning.types import ControlCommand, RouteMap, Trajectory

ODOM_FRAME = "odom"
BASE_FRAME = "base_link"
CAMERA_FRAME = "camera_link"  # REP-103 body axes at the camera mount
CAMERA_OPTICAL_FRAME = "camera_optical"  # z forward, x right, y down

# --- stamps ----------------------------------------------------------------------------------------


def to_time(stamp_ns: int) -> Time:
    stamp_ns = int(stamp_ns)
    if stamp_ns < 0:
        raise ValueError(f"stamps must be non-negative nanoseconds, got {stamp_ns}")
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def from_time(t: Time) -> int:
    return int(t.sec) * 1_000_000_000 + int(t.nanosec)


def header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=to_time(stamp_ns), frame_id=frame_id)


def stamp_of(msg) -> int:
    """The integer-ns stamp of any message with a std_msgs/Header."""
    return from_time(msg.header.stamp)


def yaw_to_quaternion(yaw: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


def quaternion_to_yaw(q: Quaternion) -> float:
    # Full formula (not 2·atan2(z, w)) so a pose with small roll/pitch still yields the right heading.
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


# --- camera ----------------------------------------------------------------------------------------


def image_from_frame(frame: CameraFrame, frame_id: str = CAMERA_OPTICAL_FRAME) -> Image:
    rgb = np.ascontiguousarray(frame.rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"camera frames must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    msg = Image()
    msg.header = header(frame.stamp_ns, frame_id)
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    # Assigning bytes is ~80× faster than assigning a list or an ndarray element by element.
    msg.data = rgb.tobytes()
    return msg


def frame_from_image(msg: Image) -> CameraFrame:
    """An rgb8 image as a CameraFrame; anything else raises contracts.messages.FrameRejected with its
    reason. Sizes are checked before the data is touched: a header may claim any size."""
    if msg.encoding != "rgb8":
        raise FrameRejected("encoding", f"expected an rgb8 image, got encoding {msg.encoding[:32]!r}")
    if msg.width == 0 or msg.height == 0:
        raise FrameRejected("empty", f"image is {msg.width}x{msg.height}")
    if msg.step != msg.width * 3:
        raise FrameRejected(
            "step", f"rgb8 image with padded rows (step {msg.step} != 3·width {msg.width}) unsupported"
        )
    expected = msg.height * msg.step
    if len(msg.data) != expected:
        raise FrameRejected(
            "data_size",
            f"{msg.width}x{msg.height} rgb8 image has {len(msg.data)} data bytes, expected {expected}",
        )
    rgb = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)
    return CameraFrame(stamp_ns=stamp_of(msg), rgb=rgb)


def camera_info_from_model(
    model: CameraModel, stamp_ns: int, frame_id: str = CAMERA_OPTICAL_FRAME
) -> CameraInfo:
    """Intrinsics only; the mount pose (x, y, z, pitch) travels as camera_mount_to_pose()."""
    msg = CameraInfo()
    msg.header = header(stamp_ns, frame_id)
    msg.width, msg.height = int(model.width), int(model.height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [model.fx, 0.0, model.cx, 0.0, model.fy, model.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [model.fx, 0.0, model.cx, 0.0, 0.0, model.fy, model.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def camera_mount_to_pose(model: CameraModel, stamp_ns: int = 0) -> PoseStamped:
    """The camera mount in base_link as a PoseStamped (stands in for a static TF: tf2 is not a wheel
    here). Orientation is a pure pitch about +y: positive pitch points the camera down (REP-103)."""
    msg = PoseStamped()
    msg.header = header(stamp_ns, BASE_FRAME)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (
        float(model.x),
        float(model.y),
        float(model.z),
    )
    msg.pose.orientation = Quaternion(
        x=0.0, y=math.sin(model.pitch / 2.0), z=0.0, w=math.cos(model.pitch / 2.0)
    )
    return msg


def camera_model_from_ros(
    info: CameraInfo, mount: PoseStamped, near: float = 0.1, far: float = 100.0
) -> CameraModel:
    if mount.header.frame_id != BASE_FRAME:
        raise FrameRejected(
            "camera_info",
            f"camera mount must be given in {BASE_FRAME}, got frame {mount.header.frame_id[:32]!r}",
        )
    k = list(info.k)
    if not (k[0] > 0.0 and k[4] > 0.0 and math.isfinite(k[0]) and math.isfinite(k[4])):
        raise FrameRejected("camera_info", f"camera_info has no valid intrinsics (fx={k[0]}, fy={k[4]})")
    if info.width == 0 or info.height == 0:
        raise FrameRejected("camera_info", f"camera_info says the image is {info.width}x{info.height}")
    q = mount.pose.orientation
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (q.w * q.y - q.z * q.x))))
    return CameraModel(
        width=int(info.width),
        height=int(info.height),
        fx=float(k[0]),
        fy=float(k[4]),
        cx=float(k[2]),
        cy=float(k[5]),
        x=float(mount.pose.position.x),
        y=float(mount.pose.position.y),
        z=float(mount.pose.position.z),
        pitch=pitch,
        near=near,
        far=far,
    )


# --- odometry / imu ----------------------------------------------------------------------------------


def odometry_to_msg(odom: Odometry) -> OdometryMsg:
    msg = OdometryMsg()
    msg.header = header(odom.stamp_ns, ODOM_FRAME)
    msg.child_frame_id = BASE_FRAME
    msg.pose.pose.position.x = float(odom.x)
    msg.pose.pose.position.y = float(odom.y)
    msg.pose.pose.orientation = yaw_to_quaternion(odom.yaw)
    cov = [0.0] * 36
    sx, sy, syaw = odom.pose_std
    cov[0], cov[7], cov[35] = sx * sx, sy * sy, syaw * syaw
    msg.pose.covariance = cov
    msg.twist.twist.linear.x = float(odom.vx)
    msg.twist.twist.linear.y = float(odom.vy)
    msg.twist.twist.angular.z = float(odom.yaw_rate)
    return msg


def odometry_from_bytes(data: bytes) -> Odometry:
    """odometry_from_msg for a serialised nav_msgs/Odometry (raw subscriptions); ValueError if not one.
    Read directly from the CDR (cdr.py): rclpy's deserialiser took about 0.1 ms a message."""
    f = cdr.decode_odometry(data)
    cov = f.pose_covariance
    return Odometry(
        stamp_ns=f.stamp_ns,
        x=f.x,
        y=f.y,
        # the formula of quaternion_to_yaw, on the same numbers
        yaw=math.atan2(2.0 * (f.qw * f.qz + f.qx * f.qy), 1.0 - 2.0 * (f.qy * f.qy + f.qz * f.qz)),
        vx=f.vx,
        vy=f.vy,
        yaw_rate=f.wz,
        pose_std=(math.sqrt(cov[0]), math.sqrt(cov[7]), math.sqrt(cov[35])),
    )


def add_by_header_stamp(add, name: str, logger):
    """A raw-subscription callback that offers the bytes to StampSync.add(name, stamp, bytes), keyed
    by the header stamp read from the bytes: only the message a set uses is ever deserialised (see
    cdr.py). Bytes without a readable header are logged and dropped."""

    def on_bytes(data: bytes) -> None:
        try:
            stamp = cdr.header_stamp_ns(data)
        except ValueError as exc:
            logger.warning(f"dropping a {name} message: {exc}", throttle_duration_sec=1.0)
            return
        add(name, stamp, data)

    return on_bytes


def odometry_from_msg(msg: OdometryMsg) -> Odometry:
    cov = msg.pose.covariance
    return Odometry(
        stamp_ns=stamp_of(msg),
        x=msg.pose.pose.position.x,
        y=msg.pose.pose.position.y,
        yaw=quaternion_to_yaw(msg.pose.pose.orientation),
        vx=msg.twist.twist.linear.x,
        vy=msg.twist.twist.linear.y,
        yaw_rate=msg.twist.twist.angular.z,
        pose_std=(math.sqrt(cov[0]), math.sqrt(cov[7]), math.sqrt(cov[35])),
    )


def imu_to_msg(imu: Imu) -> ImuMsg:
    msg = ImuMsg()
    msg.header = header(imu.stamp_ns, BASE_FRAME)
    msg.orientation_covariance[0] = -1.0  # REP-145: no orientation estimate
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = map(float, imu.accel)
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = map(float, imu.gyro)
    return msg


def imu_from_msg(msg: ImuMsg) -> Imu:
    a, g = msg.linear_acceleration, msg.angular_velocity
    return Imu(stamp_ns=stamp_of(msg), accel=(a.x, a.y, a.z), gyro=(g.x, g.y, g.z))


# --- BEV grids ---------------------------------------------------------------------------------------

# OccupancyGrid cost per class for the display grid: ground is free, obstacle classes are lethal,
# everything else (background, traffic lights, cells the camera cannot see) is unknown, because the
# camera tells us neither that it is drivable nor that it is an obstacle.
_OCCUPANCY_LUT = np.full(256, -1, dtype=np.int8)
for _c in GROUND_CLASSES:
    _OCCUPANCY_LUT[int(_c)] = 0
for _c in OBSTACLE_CLASSES:
    _OCCUPANCY_LUT[int(_c)] = 100


def _grid_msg(grid: BevGrid, data: np.ndarray, stamp_ns: int) -> OccupancyGrid:
    msg = OccupancyGrid()
    msg.header = header(stamp_ns, BASE_FRAME)
    msg.info.map_load_time = to_time(stamp_ns)
    msg.info.resolution = float(grid.resolution)
    msg.info.width, msg.info.height = grid.cols, grid.rows
    msg.info.origin.position.x = float(grid.origin_x)
    msg.info.origin.position.y = float(grid.origin_y)
    msg.info.origin.orientation.w = 1.0
    msg.data = np.ascontiguousarray(data, dtype=np.int8).tobytes()
    return msg


def occupancy_from_bev(grid: BevGrid, stamp_ns: int) -> OccupancyGrid:
    """Display grid for RViz/Foxglove: 0 free ground, 100 obstacle classes, −1 unknown/other."""
    return _grid_msg(grid, _OCCUPANCY_LUT[grid.classes], stamp_ns)


def semantic_grid_from_bev(grid: BevGrid, stamp_ns: int) -> OccupancyGrid:
    """The planner's input: OccupancyGrid whose data are perception.classes.Cls ids, −1 unknown."""
    classes = np.asarray(grid.classes)
    if classes.dtype != np.uint8 or classes.ndim != 2:
        raise ValueError(f"BevGrid.classes must be a 2-D uint8 array, got {classes.shape} {classes.dtype}")
    data = classes.astype(np.int8)  # 255 (UNKNOWN) wraps to −1, class ids 0..9 are unchanged
    return _grid_msg(grid, data, stamp_ns)


def bev_from_semantic_grid(msg: OccupancyGrid) -> BevGrid:
    rows, cols = int(msg.info.height), int(msg.info.width)
    if len(msg.data) != rows * cols:
        raise ValueError(f"grid data has {len(msg.data)} cells, expected {rows}×{cols}")
    q = msg.info.origin.orientation
    if abs(quaternion_to_yaw(q)) > 1e-9:
        raise ValueError("rotated grid origins are not supported (BevGrid is axis-aligned with base_link)")
    data = np.frombuffer(msg.data, dtype=np.int8).reshape(rows, cols)
    return BevGrid(
        classes=data.view(np.uint8).copy(),
        resolution=float(msg.info.resolution),
        origin_x=float(msg.info.origin.position.x),
        origin_y=float(msg.info.origin.position.y),
    )


# --- perception status -------------------------------------------------------------------------------

PERCEPTION_STATUS_NAME = "perception"


def scenario_result_to_diagnostics(result: Mapping, stamp_ns: int) -> DiagnosticArray:
    """The sim's end-of-scenario result as one diagnostics status (OK on success, WARN otherwise)."""
    status = DiagnosticStatus(
        level=DiagnosticStatus.OK if result.get("success") else DiagnosticStatus.WARN,
        name="sim",
        message="scenario finished",
        values=[KeyValue(key=str(k), value=str(v)) for k, v in result.items()],
    )
    return DiagnosticArray(header=header(stamp_ns, "odom"), status=[status])


def perception_status(
    out: PerceptionOutput,
    hardware_id: str = "",
    dropped: Mapping[str, int] | None = None,
    model: Mapping[str, str] | None = None,
) -> DiagnosticArray:
    """One status per frame. `dropped`: frames rejected so far by reason (FrameRejected.reason); each
    reason is its own key (frames_dropped.<reason>) beside the total, so nothing has to parse a message.
    A dropped frame's own status is an ERROR naming its reason in `dropped_reason`. `model`: the active
    model's fields (perception.types.model_fields), each its own key."""
    tl = out.traffic_light
    dropped = dict(dropped or {})
    values = {
        "traffic_light_state": tl.state.name,
        "traffic_light_confidence": repr(float(tl.confidence)),
        "traffic_light_bearing": repr(float(tl.bearing)),
        "frame_confidence": repr(float(out.confidence)),
        "latency_ms": repr(float(out.latency_ms)),
        "frames_dropped": str(sum(dropped.values())),
        **{f"frames_dropped.{reason}": str(n) for reason, n in sorted(dropped.items())},
    }
    if out.dropped:
        values["dropped_reason"] = out.dropped
    values.update({k: str(v) for k, v in (model or {}).items()})
    status = DiagnosticStatus(
        level=DiagnosticStatus.ERROR if out.dropped else DiagnosticStatus.OK,
        name=PERCEPTION_STATUS_NAME,
        message=f"frame dropped: {out.dropped}" if out.dropped else "ok",
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    return DiagnosticArray(header=header(out.stamp_ns, BASE_FRAME), status=[status])


def _status_values(msg: DiagnosticArray, name: str) -> dict[str, str]:
    for status in msg.status:
        if status.name == name:
            return {kv.key: kv.value for kv in status.values}
    raise ValueError(f"diagnostic array has no status named {name!r}")


def perception_from_ros(grid_msg: OccupancyGrid, status_msg: DiagnosticArray) -> PerceptionOutput:
    """Rebuild what the Perceiver produced from the semantic grid and the status (same stamp)."""
    stamp = stamp_of(grid_msg)
    if stamp_of(status_msg) != stamp:
        raise ValueError(f"grid stamp {stamp} and status stamp {stamp_of(status_msg)} differ")
    v = _status_values(status_msg, PERCEPTION_STATUS_NAME)
    light = TrafficLightObservation(
        state=LightState[v["traffic_light_state"]],
        confidence=float(v["traffic_light_confidence"]),
        bearing=float(v["traffic_light_bearing"]),
    )
    return PerceptionOutput(
        stamp_ns=stamp,
        grid=bev_from_semantic_grid(grid_msg),
        traffic_light=light,
        confidence=float(v["frame_confidence"]),
        latency_ms=float(v["latency_ms"]),
        dropped=v.get("dropped_reason", ""),
    )


# --- detected objects (std_msgs/String carrying JSON: no vision_msgs wheel for pip-only machines) ------

_OBJECT_FIELDS = ("label", "x", "y", "width", "colour", "pixels", "bearing")


def objects_to_msg(stamp_ns: int, objects) -> String:
    """perception.objects.DetectedObject list (base_link at the frame stamp) as JSON: stamp_ns, frame_id,
    objects [{label, x, y, width, colour, pixels, bearing}]."""
    body = {
        "stamp_ns": int(stamp_ns),
        "frame_id": BASE_FRAME,
        "objects": [{f: _rounded(getattr(o, f)) for f in _OBJECT_FIELDS} for o in objects],
    }
    return String(data=json.dumps(body, separators=(",", ":")))


def _rounded(v):
    return round(v, 3) if isinstance(v, float) else v  # millimetres: the JSON stays short


_TRACK_FIELDS = ("track_id", "label", "x", "y", "vx", "vy", "length", "width", "yaw", "hits", "age_s")


def tracks_to_msg(stamp_ns: int, tracks) -> String:
    """contracts.messages.TrackedObject list (odom) as JSON: stamp_ns, frame_id, tracks [{track_id, label,
    x, y, vx, vy, length, width, yaw, hits, age_s, covariance (16, row-major x y vx vy)}]."""
    body = {
        "stamp_ns": int(stamp_ns),
        "frame_id": ODOM_FRAME,
        "tracks": [
            {
                **{f: _rounded(getattr(t, f)) for f in _TRACK_FIELDS},
                "covariance": [round(c, 6) for c in t.covariance],
            }
            for t in tracks
        ],
    }
    return String(data=json.dumps(body, separators=(",", ":")))


def tracks_from_msg(msg: String) -> tuple:
    """(TrackedObject, ...) from tracks_to_msg's JSON; ValueError naming what is wrong."""
    from contracts.messages import TrackedObject

    try:
        body = json.loads(msg.data)
        return tuple(
            TrackedObject(
                **{
                    f: (int if f in ("track_id", "hits") else str if f == "label" else float)(t[f])
                    for f in _TRACK_FIELDS
                },
                covariance=tuple(float(c) for c in t["covariance"]),
            )
            for t in body["tracks"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed tracks message: {exc!r}") from None


def objects_stamp(msg: String) -> int:
    """The frame stamp of an objects message (for stamp matching); ValueError if it has none."""
    try:
        return int(json.loads(msg.data)["stamp_ns"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"objects message without a stamp: {exc!r}") from None


def objects_from_msg(msg: String) -> tuple:
    """(DetectedObject, ...) from objects_to_msg's JSON; ValueError naming what is wrong."""
    from perception.objects import DetectedObject

    try:
        body = json.loads(msg.data)
        out = []
        for d in body["objects"]:
            o = DetectedObject(
                label=str(d["label"]),
                x=float(d["x"]),
                y=float(d["y"]),
                width=float(d["width"]),
                colour=str(d["colour"]),
                pixels=int(d["pixels"]),
                bearing=float(d["bearing"]),
            )
            if not all(math.isfinite(v) for v in (o.x, o.y, o.width, o.bearing)):
                raise ValueError(f"non-finite object {d}")
            out.append(o)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed objects message: {exc!r}") from None
    return tuple(out)


PLANNING_STATUS_NAME = "planning"


def planning_status(traj: Trajectory, planning_ms: float = 0.0) -> DiagnosticArray:
    level = DiagnosticStatus.WARN if traj.fallback else DiagnosticStatus.OK
    values = {
        "behaviour": traj.behaviour,
        "fallback": str(bool(traj.fallback)).lower(),
        "planning_ms": repr(float(planning_ms)),
    }
    for k, val in sorted(traj.debug.items()):
        if isinstance(val, (int, float, str, bool)):
            values[f"debug.{k}"] = str(val)
    status = DiagnosticStatus(
        level=level,
        name=PLANNING_STATUS_NAME,
        message=traj.behaviour,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    return DiagnosticArray(header=header(traj.stamp_ns, ODOM_FRAME), status=[status])


# --- trajectory ----------------------------------------------------------------------------------------


def path_bytes_from_trajectory(traj: Trajectory) -> bytes:
    """The serialised nav_msgs/Path (what the planning node publishes): one pose per point in odom,
    each pose's header.stamp its planned arrival time, so the speed profile survives as spacing over
    time (see trajectory_from_path_bytes). Written directly as CDR: cdr.py says why."""
    n = len(traj.t)
    if not (len(traj.x) == len(traj.y) == len(traj.yaw) == len(traj.speed) == n):
        raise ValueError("trajectory arrays t, x, y, yaw, speed must have the same length")
    arrival_ns = traj.stamp_ns + np.round(np.asarray(traj.t, dtype=float) * 1e9).astype(np.int64)
    if n and arrival_ns.min() < 0:
        raise ValueError("trajectory arrival times must not be before time 0")
    half_yaw = np.asarray(traj.yaw, dtype=float) / 2.0
    return cdr.encode_path(
        traj.stamp_ns, ODOM_FRAME, arrival_ns, traj.x, traj.y, np.sin(half_yaw), np.cos(half_yaw)
    )


def path_from_trajectory(traj: Trajectory) -> Path:
    """The same path as a typed message (for callers that want one; the planning node sends bytes)."""
    from rclpy.serialization import deserialize_message

    return deserialize_message(path_bytes_from_trajectory(traj), Path)


def trajectory_from_path_bytes(data: bytes) -> Trajectory:
    """Inverse of path_bytes_from_trajectory, for any serialised nav_msgs/Path. Speed is recovered per
    point as the distance to the next point over the time to reach it (the last point repeats the last
    segment's speed): exact for a piecewise-constant speed profile, first-order for a smooth one."""
    path = cdr.decode_path(data)
    n = len(path.x)
    if n == 0:
        raise ValueError("empty path: a trajectory needs at least one point")
    t_ns = path.pose_stamp_ns - path.stamp_ns
    if np.any(np.diff(t_ns) <= 0):
        raise ValueError("path pose stamps (planned arrival times) must be strictly increasing")
    t = t_ns * 1e-9
    speed = np.zeros(n)
    if n > 1:
        seg = np.hypot(np.diff(path.x), np.diff(path.y)) / np.diff(t)
        speed[:-1] = seg
        speed[-1] = seg[-1]
    return Trajectory(stamp_ns=path.stamp_ns, t=t, x=path.x, y=path.y, yaw=path.yaw, speed=speed)


def usable_path(data: bytes, logger) -> Trajectory | None:
    """trajectory_from_path_bytes for a raw planning/path subscription: None (and a throttled
    warning) for bytes a follower cannot use, which are dropped, never a crash."""
    try:
        return trajectory_from_path_bytes(data)
    except ValueError as exc:
        logger.warning(f"dropping an unusable planning/path: {exc}", throttle_duration_sec=1.0)
        return None


def trajectory_from_path(msg: Path) -> Trajectory:
    """trajectory_from_path_bytes for a typed nav_msgs/Path."""
    from rclpy.serialization import serialize_message

    return trajectory_from_path_bytes(serialize_message(msg))


# --- commands ------------------------------------------------------------------------------------------


def twist_from_command(cmd: ControlCommand | DriveCommand) -> TwistStamped:
    msg = TwistStamped()
    msg.header = header(cmd.stamp_ns, BASE_FRAME)
    msg.twist.linear.x = float(cmd.speed)
    msg.twist.angular.z = float(cmd.yaw_rate)
    return msg


def drive_command_from_twist(msg: TwistStamped) -> DriveCommand:
    return DriveCommand(stamp_ns=stamp_of(msg), speed=msg.twist.linear.x, yaw_rate=msg.twist.angular.z)


def control_command_from_twist(msg: TwistStamped) -> ControlCommand:
    return ControlCommand(stamp_ns=stamp_of(msg), speed=msg.twist.linear.x, yaw_rate=msg.twist.angular.z)


# --- route -----------------------------------------------------------------------------------------------


def route_to_msg(route: RouteMap | Mapping) -> String:
    d = route.to_dict() if isinstance(route, RouteMap) else RouteMap.from_dict(dict(route)).to_dict()
    return String(data=json.dumps(d, sort_keys=True))


def route_from_msg(msg: String) -> RouteMap:
    try:
        d = json.loads(msg.data)
    except json.JSONDecodeError as e:
        raise ValueError(f"map/route is not valid JSON: {e}") from None
    return RouteMap.from_dict(d)


# --- legged bodies: proprioception and joint efforts ---------------------------------------------------
#
# The humanoid's state goes as ONE sensor_msgs/JointState per control period (`joint_states`), so the
# locomotion node gets everything its policy needs in one message per 16.5 ms (one lockstep round trip)
# and rebuilds the core's Proprioception exactly. Entries, in order:
#   - the actuated joints (position rad, velocity rad/s), in the policy's action order;
#   - the floating base, as is usual for legged robots (a free-flyer seen as six virtual joints):
#     base_x/y/z = torso origin (m, odom frame), base_roll/pitch/yaw = torso orientation (rad); their
#     velocities are the torso's linear velocity (m/s) and angular velocity (rad/s), both in the odom frame;
#   - body_com_x/y: the body position the policy steers by (mean of its parts, m, odom frame), velocity 0;
#   - right/left_foot_contact: 1.0 while the foot touches the floor (a contact switch), else 0.0.
# Joint efforts go back as sensor_msgs/JointState too (`locomotion/joint_effort`): name + effort (N·m),
# stamped with the proprioception stamp they answer. JointState rather than std_msgs/Float64MultiArray
# (ros2_control's forward command controllers): it has a header, so lockstep can match the answer to
# its period by stamp, and names, so a reordered or partial command is an error, not a wrong torque.

BASE_ENTRIES = ("base_x", "base_y", "base_z", "base_roll", "base_pitch", "base_yaw")
COM_ENTRIES = ("body_com_x", "body_com_y")
CONTACT_ENTRIES = ("right_foot_contact", "left_foot_contact")


def joint_state_from_proprioception(pr, joint_names) -> JointState:
    names = tuple(joint_names)
    if len(names) != len(pr.joint_pos):
        raise ValueError(f"{len(names)} joint names for {len(pr.joint_pos)} joints")
    if len(pr.foot_contact) != len(CONTACT_ENTRIES):
        raise ValueError(f"expected {len(CONTACT_ENTRIES)} foot contacts, got {len(pr.foot_contact)}")
    msg = JointState()
    msg.header = header(pr.stamp_ns, ODOM_FRAME)
    msg.name = [*names, *BASE_ENTRIES, *COM_ENTRIES, *CONTACT_ENTRIES]
    msg.position = [
        *(float(v) for v in pr.joint_pos),
        *(float(v) for v in pr.torso_xyz),
        *(float(v) for v in pr.torso_rpy),
        *(float(v) for v in pr.parts_mean_xy),
        *(float(v) for v in pr.foot_contact),
    ]
    msg.velocity = [
        *(float(v) for v in pr.joint_vel),
        *(float(v) for v in pr.torso_lin_vel),
        *(float(v) for v in pr.torso_ang_vel),
        0.0,
        0.0,
        0.0,
        0.0,
    ]
    return msg


def proprioception_from_joint_state(msg: JointState, joint_lower, joint_upper):
    """Inverse of joint_state_from_proprioception; joint limits come from the node's parameters (a
    JointState has none). Missing or extra entries raise ValueError naming them."""
    from contracts.messages import Proprioception

    lower = np.asarray(joint_lower, dtype=np.float64)
    upper = np.asarray(joint_upper, dtype=np.float64)
    n = len(lower)
    extra = (*BASE_ENTRIES, *COM_ENTRIES, *CONTACT_ENTRIES)
    names = list(msg.name)
    if len(names) != n + len(extra) or tuple(names[n:]) != extra:
        raise ValueError(
            f"joint_states must list {n} joints then {', '.join(extra)}; got {len(names)} entries {names}"
        )
    if len(msg.position) != len(names) or len(msg.velocity) != len(names):
        raise ValueError("joint_states needs a position and a velocity for every entry")
    pos = np.asarray(msg.position, dtype=np.float64)
    vel = np.asarray(msg.velocity, dtype=np.float64)
    return Proprioception(
        stamp_ns=stamp_of(msg),
        joint_pos=pos[:n].copy(),
        joint_vel=vel[:n].copy(),
        joint_lower=lower,
        joint_upper=upper,
        torso_xyz=pos[n : n + 3].copy(),
        torso_rpy=pos[n + 3 : n + 6].copy(),
        torso_lin_vel=vel[n : n + 3].copy(),
        torso_ang_vel=vel[n + 3 : n + 6].copy(),
        parts_mean_xy=pos[n + 6 : n + 8].copy(),
        foot_contact=pos[n + 8 : n + 10].copy(),
    )


def joint_effort_to_msg(stamp_ns: int, joint_names, effort) -> JointState:
    names = list(joint_names)
    e = [float(v) for v in effort]
    if len(names) != len(e):
        raise ValueError(f"{len(names)} joint names for {len(e)} efforts")
    msg = JointState()
    msg.header = header(stamp_ns, BASE_FRAME)
    msg.name = names
    msg.effort = e
    return msg


def joint_effort_from_msg(msg: JointState, joint_names) -> JointEffortCommand:
    """The efforts in the body's joint order; a command naming other joints raises ValueError."""
    names = tuple(joint_names)
    if tuple(msg.name) != names or len(msg.effort) != len(names):
        raise ValueError(
            f"joint effort command must name exactly {names} with one effort each; got {list(msg.name)}"
        )
    return JointEffortCommand(stamp_ns=stamp_of(msg), effort=tuple(float(v) for v in msg.effort))

"""Plain data the simulator, the stack and the nodes exchange. No ROS, no PyBullet handles."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics plus the camera pose in base_link (REP-103 body frame: x forward, y left,
    z up). The optical frame follows REP-103's camera convention (z forward, x right, y down)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    # camera origin in base_link, metres
    x: float
    y: float
    z: float
    # pitch > 0 tilts the camera down, radians
    pitch: float
    near: float = 0.1
    far: float = 100.0


@dataclass(frozen=True)
class CameraFrame:
    stamp_ns: int
    rgb: np.ndarray  # (H, W, 3) uint8 — the only thing the stack may consume
    tags: np.ndarray | None = None  # (H, W) uint8 contracts.semantics.Tag — ground truth, labels/eval only
    depth_m: np.ndarray | None = None  # (H, W) float32 metric depth — ground truth, labels/eval only


class FrameRejected(ValueError):
    """A camera frame the stack will not use. `reason` is one of FRAME_REJECT_REASONS: diagnostics count
    drops per reason (a counter name must not depend on the bad input); the message says what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in FRAME_REJECT_REASONS:
            raise ValueError(f"unknown frame reject reason {reason!r}; reasons are {FRAME_REJECT_REASONS}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


FRAME_REJECT_REASONS = (
    "encoding",  # not rgb8 (e.g. 'weird', '16UC1')
    "empty",  # zero width or height
    "step",  # row stride is not 3·width (padded rows are not supported)
    "data_size",  # data is not height·step bytes (short, long, or a header claiming a huge image)
    "size",  # a well-formed image of another size than the camera the stack was set up for
    "camera_info",  # camera_info the camera model cannot be built from (no intrinsics, wrong frame)
)


@dataclass(frozen=True)
class Odometry:
    """Pose of base_link in the odom frame and its velocity in base_link (nav_msgs/Odometry semantics)."""

    stamp_ns: int
    x: float
    y: float
    yaw: float
    vx: float  # m/s, base_link
    vy: float
    yaw_rate: float  # rad/s
    pose_std: tuple[float, float, float] = (0.0, 0.0, 0.0)  # x, y, yaw noise std used


@dataclass(frozen=True)
class Imu:
    stamp_ns: int
    accel: tuple[float, float, float]  # m/s², base_link, gravity included (z ≈ +9.81 at rest)
    gyro: tuple[float, float, float]  # rad/s


@dataclass(frozen=True)
class DriveCommand:
    """What the stack asks of the embodiment for the next control periods (geometry_msgs/Twist
    semantics): the speed to reach and the yaw rate to hold. The embodiment applies its own limits."""

    stamp_ns: int  # the camera stamp this command answers
    speed: float  # m/s, forward
    yaw_rate: float  # rad/s, positive turns left


@dataclass(frozen=True)
class JointEffortCommand:
    """What a legged embodiment's locomotion asks for the next control period (sensor_msgs/JointState
    effort semantics): one torque per actuated joint, N·m, in the body's joint order. The body clips
    each to its motor's limit."""

    stamp_ns: int  # the proprioception stamp this command answers
    effort: tuple[float, ...]


@dataclass
class SensorBatch:
    """Everything the sim produced while advancing to the next camera frame, in stamp order."""

    odometry: list[Odometry] = field(default_factory=list)
    imu: list[Imu] = field(default_factory=list)
    camera: CameraFrame | None = None
    clock_ns: int = 0
    # legged bodies only (the humanoid): one per control period, like odometry
    proprioception: list[Proprioception] = field(default_factory=list)


@dataclass(frozen=True)
class Proprioception:
    """A legged body's own state, read from raw simulator state (added for the humanoid; the car does
    not use it). Joint arrays are in the locomotion policy's action order. World frame unless noted."""

    stamp_ns: int
    joint_pos: np.ndarray  # (J,) rad
    joint_vel: np.ndarray  # (J,) rad/s
    joint_lower: np.ndarray  # (J,) rad, joint limits
    joint_upper: np.ndarray  # (J,) rad
    torso_xyz: np.ndarray  # (3,) m, torso (base link) origin
    torso_rpy: np.ndarray  # (3,) rad, roll pitch yaw (pybullet getEulerFromQuaternion)
    torso_lin_vel: np.ndarray  # (3,) m/s, world frame
    torso_ang_vel: np.ndarray  # (3,) rad/s, world frame
    parts_mean_xy: np.ndarray  # (2,) m, mean x, y of all body parts (the policy's notion of "body position")
    foot_contact: np.ndarray  # (F,) 1.0 if that foot touches the floor now (right, left), else 0.0

    def __post_init__(self) -> None:
        j = np.shape(self.joint_pos)
        if len(j) != 1:
            raise ValueError(f"joint_pos must be 1-D, got shape {j}")
        for name in ("joint_vel", "joint_lower", "joint_upper"):
            if np.shape(getattr(self, name)) != j:
                raise ValueError(
                    f"{name} must have shape {j} like joint_pos, not {np.shape(getattr(self, name))}"
                )
        for name, shape in (
            ("torso_xyz", (3,)),
            ("torso_rpy", (3,)),
            ("torso_lin_vel", (3,)),
            ("torso_ang_vel", (3,)),
            ("parts_mean_xy", (2,)),
        ):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {np.shape(getattr(self, name))}")
        if np.ndim(self.foot_contact) != 1:
            raise ValueError(f"foot_contact must be 1-D, got shape {np.shape(self.foot_contact)}")
        if np.any(np.asarray(self.joint_upper) <= np.asarray(self.joint_lower)):
            raise ValueError("every joint needs joint_upper > joint_lower")


@dataclass(frozen=True)
class TrackedObject:
    """A road user followed over frames by perception's tracker (perception/tracker.py), in odom.

    Position and velocity come from a constant-velocity Kalman filter; `covariance` is its 4x4 state
    covariance (x, y, vx, vy; m², m²/s², row-major). The footprint (length along yaw, width across) is
    the extent of what was seen, not the whole object: a car seen from behind is as long as its visible
    part. `hits` counts the frames it was associated in; a velocity is only worth trusting after a few.
    """

    track_id: int  # unique per tracker, never reused
    label: str  # perception.classes name: "vehicle" or "pedestrian"
    x: float  # odom, m
    y: float
    vx: float  # odom, m/s
    vy: float
    covariance: tuple[float, ...]  # 16 values
    length: float  # m
    width: float
    yaw: float  # rad, odom: orientation of the footprint
    hits: int
    age_s: float  # since the first association

    @property
    def speed(self) -> float:
        return float(np.hypot(self.vx, self.vy))

    @property
    def velocity_std(self) -> float:
        """Standard deviation of the velocity estimate along its worse axis, m/s."""
        cov_v = np.asarray(self.covariance, dtype=float).reshape(4, 4)[2:, 2:]
        return float(np.sqrt(max(np.linalg.eigvalsh(cov_v).max(), 0.0)))


# A grid cell belongs to a tracked object when within this of its footprint: the filtered centre lags a
# blob whose visible part changes, and the reasoner pools cells to half a metre.
FOOTPRINT_CELL_MARGIN_M = 0.5


def points_in_footprints(
    objects, x: np.ndarray, y: np.ndarray, margin_m: float = FOOTPRINT_CELL_MARGIN_M
) -> np.ndarray:
    """Which points lie within margin_m of one of the objects' footprints: rectangles of `length` along
    `yaw` and `width` across, centred at (x, y), all in one frame (TrackedObject, or the reasoner's
    DetectedObject: the meaning of those fields, written once)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    hit = np.zeros(x.shape, dtype=bool)
    for o in objects:
        c, s = np.cos(o.yaw), np.sin(o.yaw)
        along, across = c * (x - o.x) + s * (y - o.y), -s * (x - o.x) + c * (y - o.y)
        hit |= (np.abs(along) <= 0.5 * o.length + margin_m) & (np.abs(across) <= 0.5 * o.width + margin_m)
    return hit

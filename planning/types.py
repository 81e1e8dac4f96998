"""Planning's inputs and outputs, independent of ROS."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Embodiment:
    """Geometry and limits of the thing being driven; loaded from the bringup parameter files."""

    name: str  # "car" or "humanoid"; used in logs only, never branched on
    length: float  # m, footprint along x
    width: float  # m, footprint along y
    rear_to_center: float  # m, from the base_link origin to the footprint centre along x
    wheelbase: float  # m; a humanoid uses a small value (it can turn on the spot)
    max_speed: float  # m/s
    max_accel: float  # m/s²
    max_decel: float  # m/s², positive number: hardest braking the planner may ask for
    comfort_decel: float  # m/s², positive
    max_yaw_rate: float  # rad/s
    max_curvature: float  # 1/m
    safety_margin: float  # m, lateral and longitudinal clearance added to the footprint
    can_change_lane: bool = True


@dataclass(frozen=True)
class StopLine:
    s: float  # arc length along the route, m
    light_id: int


@dataclass(frozen=True)
class RouteMap:
    """The navigation route: the ego lane's centre line plus what the map knows along it.

    Serialised as JSON (see to_dict / from_dict) on the `map/route` topic; this is the schema.
    """

    centerline: np.ndarray  # (N, 2) x, y in the map/odom frame, metres, ~1 m spacing
    lane_width: float
    speed_limit: float  # m/s
    # Lateral offsets (m, positive left) of lanes of the same direction next to the route lane,
    # e.g. [3.5] when a free lane to the left exists; empty when the road has one lane each way.
    adjacent_lane_offsets: tuple[float, ...] = ()
    stop_lines: tuple[StopLine, ...] = ()
    goal_s: float | None = None  # arc length of the goal; defaults to the end of the centre line
    # arc length of a parking spot: the vehicle stops there and stays until released (drive request)
    park_s: float | None = None
    # Lateral offsets (m, positive left) of lanes of the OPPOSITE direction the map knows, e.g. [3.5] on
    # a two-way road. The planner never uses them alone; only System 2 advice may open one (system2.py).
    oncoming_lane_offsets: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {
            "centerline": np.asarray(self.centerline, dtype=float).round(4).tolist(),
            "lane_width": self.lane_width,
            "speed_limit": self.speed_limit,
            "adjacent_lane_offsets": list(self.adjacent_lane_offsets),
            "stop_lines": [{"s": sl.s, "light_id": sl.light_id} for sl in self.stop_lines],
            "goal_s": self.goal_s,
            **({"park_s": self.park_s} if self.park_s is not None else {}),
            "oncoming_lane_offsets": list(self.oncoming_lane_offsets),
        }

    @classmethod
    def from_dict(cls, d: dict) -> RouteMap:
        centerline = np.asarray(d["centerline"], dtype=float)
        if centerline.ndim != 2 or centerline.shape[1] != 2 or len(centerline) < 2:
            raise ValueError("route centerline must be a list of at least two [x, y] points")
        return cls(
            centerline=centerline,
            lane_width=float(d["lane_width"]),
            speed_limit=float(d["speed_limit"]),
            adjacent_lane_offsets=tuple(float(o) for o in d.get("adjacent_lane_offsets", ())),
            stop_lines=tuple(StopLine(float(s["s"]), int(s["light_id"])) for s in d.get("stop_lines", ())),
            goal_s=None if d.get("goal_s") is None else float(d["goal_s"]),
            park_s=None if d.get("park_s") is None else float(d["park_s"]),
            oncoming_lane_offsets=tuple(float(o) for o in d.get("oncoming_lane_offsets", ())),
        )


@dataclass(frozen=True)
class EgoState:
    stamp_ns: int
    x: float
    y: float
    yaw: float
    speed: float
    yaw_rate: float

    @classmethod
    def from_odometry(cls, odom) -> EgoState:
        """From contracts.messages.Odometry (or anything with its fields): base_link forward speed."""
        return cls(
            stamp_ns=odom.stamp_ns, x=odom.x, y=odom.y, yaw=odom.yaw, speed=odom.vx, yaw_rate=odom.yaw_rate
        )


@dataclass(frozen=True)
class Trajectory:
    """A time-parameterised path in the odom frame; becomes nav_msgs/Path with one PoseStamped per
    point whose header.stamp is the planned arrival time."""

    stamp_ns: int
    t: np.ndarray  # (N,) seconds from stamp
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray
    behaviour: str = ""  # e.g. "follow_lane", "stop_red_light", "yield_pedestrian", "fallback_stop"
    fallback: bool = False
    debug: dict = field(default_factory=dict)

    def restamped(self, stamp_ns: int) -> Trajectory:
        """The same plan (every point keeps its absolute arrival time) seen from a later stamp: points
        already passed are dropped except the last one before the stamp, which interpolation needs."""
        shift = (int(stamp_ns) - int(self.stamp_ns)) * 1e-9
        if shift < 0:
            raise ValueError(f"restamped to {stamp_ns}, before the plan's stamp {self.stamp_ns}")
        t = np.asarray(self.t, dtype=float) - shift
        first = max(int(np.searchsorted(t, 0.0, side="right")) - 1, 0)
        return dataclasses.replace(
            self,
            stamp_ns=int(stamp_ns),
            t=t[first:],
            x=np.asarray(self.x)[first:],
            y=np.asarray(self.y)[first:],
            yaw=np.asarray(self.yaw)[first:],
            speed=np.asarray(self.speed)[first:],
        )

    def decimated(self, max_gap_s: float, speed_tolerance: float = 0.2) -> Trajectory:
        """The points worth publishing: nav_msgs/Path carries no speed, so a consumer recovers it as the
        chord between consecutive poses over their time gap (conversions.trajectory_from_path). A point
        is dropped only while that recovered speed stays within speed_tolerance of every planned speed it
        stands for, and no gap grows past max_gap_s: cruising keeps one pose per max_gap_s, braking to a
        stop and pulling away keep every sample (a coarse stop ramp would read as "stopped" early).
        The first and last points are always kept."""
        if not max_gap_s > 0 or not speed_tolerance > 0:
            raise ValueError(f"max_gap_s and speed_tolerance must be > 0, got {max_gap_s}, {speed_tolerance}")
        t = np.asarray(self.t, dtype=float)
        x, y = np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)
        speed = np.asarray(self.speed, dtype=float)
        # plain floats: the loop runs every frame and numpy scalar calls were most of its time
        tl, xl, yl, vl = t.tolist(), x.tolist(), y.tolist(), speed.tolist()
        keep, k, n = [0], 0, len(tl)
        while k < n - 1:
            j = k + 1  # the next sample is always a valid end of the segment
            while j + 1 < n and tl[j + 1] - tl[k] <= max_gap_s + 1e-9:
                recovered = math.hypot(xl[j + 1] - xl[k], yl[j + 1] - yl[k]) / (tl[j + 1] - tl[k])
                if max(abs(v - recovered) for v in vl[k : j + 2]) > speed_tolerance:
                    break
                j += 1
            keep.append(j)
            k = j
        idx = np.asarray(keep if n else [], dtype=int)
        return dataclasses.replace(
            self, t=t[idx], x=x[idx], y=y[idx], yaw=np.asarray(self.yaw)[idx], speed=speed[idx]
        )


@dataclass(frozen=True)
class ControlCommand:
    stamp_ns: int
    speed: float
    yaw_rate: float

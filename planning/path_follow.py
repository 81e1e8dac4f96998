"""Locomotion on the planned path: the next path point becomes the walking policy's target.

The policy (planning/locomotion.py) only knows a bearing to a target point and walks at its own pace
(about 2.4 m/s), so the stack steers a legged body by where it puts that point: `lookahead` metres along
the planned path ahead of the point nearest the body, or the path's end when it is shorter (a planned
stop). The action becomes joint efforts (N·m, sensor_msgs/JointState effort semantics): effort =
max_effort × clip(action, -1, 1), max_effort being the body's motor limits (0.41 × gear in the policy's
training environment; a parameter of the humanoid's file).

Holding a planned stop: the policy cannot stand still. Given a target at its feet it runs through it and
circles back, falling now and then (2-7 falls in 45 s on flat ground) and drifting. So once the stop has
lasted (StopHold), the target is a point `hold_lead` radians further round a circle of `hold_radius`
about it: the body walks a steady small circle (2 falls in 24 runs of 45 s, all within 1.7 m of the
centre; flat ground, seeds 0-23). Paths that end far from the centre for a while (a new plan, not one
frame's flicker: a waiting robot's plans jump about as it sees its own arms) end the hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from contracts.messages import Proprioception
from planning.locomotion import ACT_DIM, LocomotionController
from planning.params import strict_from_dict
from planning.types import Trajectory


@dataclass(frozen=True)
class PathFollowParams:
    lookahead: float = 2.0  # m along the path from the point nearest the body
    # N·m per joint in action order; empty = the policy's own table (POLICY_MAX_EFFORT)
    max_effort: tuple = field(default=())
    hold_enter: float = 0.5  # m from the path's end: the body is at a planned stop ...
    hold_enter_s: float = 3.0  # ... which has lasted this long (s; 0 before any walk): hold it
    hold_radius: float = 0.75  # m, of the circle walked about the stop; 0 = no hold (run to the end point)
    hold_lead: float = -1.2  # rad ahead on that circle (negative: clockwise, which falls least)
    hold_release: float = 2.5  # m: paths ending this far from the hold centre ...
    hold_release_s: float = 0.5  # ... for this long (s, body stamps) are a new plan

    @classmethod
    def from_dict(cls, d: dict) -> PathFollowParams:
        d = dict(d)
        if "max_effort" in d:
            d["max_effort"] = tuple(float(v) for v in d["max_effort"])
        p = strict_from_dict(cls, d, "locomotion")
        if not p.lookahead > 0:
            raise ValueError(f"locomotion lookahead must be > 0, got {p.lookahead}")
        if p.max_effort and (len(p.max_effort) != ACT_DIM or min(p.max_effort) <= 0):
            raise ValueError(f"locomotion max_effort needs {ACT_DIM} positive values, got {p.max_effort}")
        if (
            p.hold_radius < 0
            or not p.hold_enter > 0
            or not p.hold_release > p.hold_enter
            or p.hold_release_s < 0
            or p.hold_enter_s < 0
        ):
            raise ValueError(
                "locomotion needs hold_radius >= 0, hold_enter > 0, hold_release > hold_enter, "
                f"hold_enter_s >= 0 and hold_release_s >= 0, got {p.hold_radius}, {p.hold_enter}, "
                f"{p.hold_release}, {p.hold_enter_s}, {p.hold_release_s}"
            )
        if p.hold_radius > 0 and not 0 < abs(p.hold_lead) < math.pi:
            raise ValueError(f"locomotion hold_lead must be within (-pi, pi) and not 0, got {p.hold_lead}")
        return p

    def effort_limits(self) -> np.ndarray:
        return np.asarray(self.max_effort if self.max_effort else POLICY_MAX_EFFORT, dtype=np.float64)


# 0.41 × gear of the policy's training environment (gears 100, 300 hip y, 200 knee, 75 arms).
POLICY_MAX_EFFORT = tuple(
    0.41 * g for g in (100, 100, 100, 100, 100, 300, 200, 100, 100, 300, 200, 75, 75, 75, 75, 75, 75)
)


def target_on_path(x: np.ndarray, y: np.ndarray, body_xy, lookahead: float) -> tuple[float, float]:
    """The point `lookahead` metres along the polyline (x, y) after its point nearest body_xy (the
    projection onto the nearest segment), clamped to the polyline's end."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError("path needs at least one point and as many x as y")
    bx, by = float(body_xy[0]), float(body_xy[1])
    if len(x) == 1:
        return float(x[0]), float(y[0])
    ax, ay, dx, dy = x[:-1], y[:-1], np.diff(x), np.diff(y)
    seg = np.hypot(dx, dy)
    u = np.clip(((bx - ax) * dx + (by - ay) * dy) / np.maximum(seg * seg, 1e-12), 0.0, 1.0)
    dist = np.hypot(ax + u * dx - bx, ay + u * dy - by)
    k = int(np.argmin(dist))
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    want = arc[k] + u[k] * seg[k] + lookahead
    if want >= arc[-1]:
        return float(x[-1]), float(y[-1])
    j = int(np.searchsorted(arc, want, side="right")) - 1
    f = (want - arc[j]) / max(seg[j], 1e-12)
    return float(x[j] + f * dx[j]), float(y[j] + f * dy[j])


def target_on_circle(centre, radius: float, lead: float, body_xy, heading: float) -> tuple[float, float]:
    """The point `lead` radians further round the circle (centre, radius) than the body's own angle
    about the centre (lead < 0: clockwise). Near the centre that angle means nothing; there the body is
    taken as on the circle and heading along it (its angle is the heading less a quarter turn towards
    the direction of travel)."""
    cx, cy = float(centre[0]), float(centre[1])
    dx, dy = float(body_xy[0]) - cx, float(body_xy[1]) - cy
    if math.hypot(dx, dy) < 0.5 * radius:
        phi = heading - math.copysign(0.5 * math.pi, lead)
    else:
        phi = math.atan2(dy, dx)
    return cx + radius * math.cos(phi + lead), cy + radius * math.sin(phi + lead)


class StopHold:
    """When a planned stop is held, and where. A path ending within hold_enter of the body starts a
    candidate stop at that end; it becomes the hold centre once paths have kept ending within
    hold_release of it for hold_enter_s. The dwell is there because a walk pauses for a second or so
    (the planner stops for an obstacle, or falls back) and the runner, circling there, stays blocked
    where running on would have cleared it (humanoid_push seeds 0:20, direct loop: 14/20 reached their
    goals with no dwell, 18-19/20 with 3 s, 19/20 with no hold). A stop planned before the body has been
    sent anywhere (waiting where it starts, e.g. for an answer) is held at once. The centre is latched:
    a stop planned at the body itself moves with it, and so would the circle. Paths ending farther than
    hold_release from it for hold_release_s end the hold. Times are the body's stamps (sim time:
    deterministic)."""

    def __init__(self, params: PathFollowParams):
        self.p = params
        self.reset()

    def reset(self) -> None:
        self.sent_away = False  # has a path (outside a stop) ended away from the body yet
        self._drop()

    def _drop(self) -> None:
        self.point: tuple[float, float] | None = None  # the candidate stop, or the hold centre
        self.holding = False
        self._since_ns = 0  # candidate: since when paths end at it; holding: since when they do not
        self._far = False

    def update(self, path_end, body_xy, stamp_ns: int) -> tuple[float, float] | None:
        """The hold centre for this control period, or None (follow the path)."""
        p = self.p
        if self.point is None:
            if math.dist(path_end[:2], body_xy[:2]) >= p.hold_enter:
                self.sent_away = True
                return None
            self.point, self._since_ns = (float(path_end[0]), float(path_end[1])), stamp_ns
        near = math.dist(path_end[:2], self.point) <= p.hold_release
        if not self.holding:
            dwell_ns = p.hold_enter_s * 1e9 if self.sent_away else 0.0
            if not near:
                self._drop()  # the walk went on: a pause, not a stop
            elif stamp_ns - self._since_ns >= dwell_ns:
                self.holding, self._far = True, False
            return self.point if self.holding else None
        if near:
            self._far = False
        elif not self._far:
            self._far, self._since_ns = True, stamp_ns
        elif stamp_ns - self._since_ns >= p.hold_release_s * 1e9:
            self._drop()
            self.sent_away = True
            return None
        return self.point


class PathLocomotion:
    """What the locomotion node runs every control period: the latest planned path + the body's state →
    joint efforts. Until a path arrives the target is straight ahead of the body (it keeps its heading)."""

    def __init__(
        self, params: PathFollowParams | None = None, controller: LocomotionController | None = None
    ):
        self.p = params or PathFollowParams()
        self.controller = controller if controller is not None else LocomotionController()
        self.limits = self.p.effort_limits()
        self.path: Trajectory | None = None
        self.last_target: tuple[float, float] | None = None
        self.hold = StopHold(self.p)

    def reset(self) -> None:
        self.controller.reset()
        self.path = None
        self.last_target = None
        self.hold.reset()

    def set_path(self, trajectory: Trajectory) -> None:
        self.path = trajectory

    def target(self, proprio: Proprioception) -> tuple[float, float]:
        bxy = np.asarray(proprio.parts_mean_xy, dtype=float)
        if self.path is None or len(self.path.x) == 0:
            yaw = float(proprio.torso_rpy[2])
            return float(bxy[0] + 5.0 * np.cos(yaw)), float(bxy[1] + 5.0 * np.sin(yaw))
        if self.p.hold_radius > 0:
            end = (float(self.path.x[-1]), float(self.path.y[-1]))
            centre = self.hold.update(end, bxy, proprio.stamp_ns)
            if centre is not None:
                heading = float(proprio.torso_rpy[2])
                return target_on_circle(centre, self.p.hold_radius, self.p.hold_lead, bxy, heading)
        return target_on_path(self.path.x, self.path.y, bxy, self.p.lookahead)

    def step(self, proprio: Proprioception) -> np.ndarray:
        """(17,) joint efforts, N·m, in the policy's joint order."""
        target = self.target(proprio)
        self.last_target = target
        action = self.controller.step(proprio, target)
        return self.limits * np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)


__all__ = [
    "POLICY_MAX_EFFORT",
    "PathFollowParams",
    "PathLocomotion",
    "StopHold",
    "target_on_circle",
    "target_on_path",
]

"""Locomotion on the planned path: the next path point becomes the walking policy's target.

The policy (planning/locomotion.py) only knows a bearing to a target point and walks at its own pace
(about 2.4 m/s), so the stack steers a legged body by where it puts that point: `lookahead` metres along
the planned path ahead of the point nearest the body, or the path's end when it is shorter (a planned
stop). The action becomes joint efforts (N·m, sensor_msgs/JointState effort semantics): effort =
max_effort × clip(action, -1, 1), max_effort being the body's motor limits (0.41 × gear in the policy's
training environment; a parameter of the humanoid's file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planning.locomotion import ACT_DIM, LocomotionController
from planning.params import strict_from_dict
from planning.types import Trajectory
from sim.types import Proprioception


@dataclass(frozen=True)
class PathFollowParams:
    lookahead: float = 2.0  # m along the path from the point nearest the body
    # N·m per joint in action order; empty = the policy's own table (POLICY_MAX_EFFORT)
    max_effort: tuple = field(default=())

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

    def reset(self) -> None:
        self.controller.reset()
        self.path = None
        self.last_target = None

    def set_path(self, trajectory: Trajectory) -> None:
        self.path = trajectory

    def target(self, proprio: Proprioception) -> tuple[float, float]:
        bxy = np.asarray(proprio.parts_mean_xy, dtype=float)
        if self.path is None or len(self.path.x) == 0:
            yaw = float(proprio.torso_rpy[2])
            return float(bxy[0] + 5.0 * np.cos(yaw)), float(bxy[1] + 5.0 * np.sin(yaw))
        return target_on_path(self.path.x, self.path.y, bxy, self.p.lookahead)

    def step(self, proprio: Proprioception) -> np.ndarray:
        """(17,) joint efforts, N·m, in the policy's joint order."""
        target = self.target(proprio)
        self.last_target = target
        action = self.controller.step(proprio, target)
        return self.limits * np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)


__all__ = ["POLICY_MAX_EFFORT", "PathFollowParams", "PathLocomotion", "target_on_path"]

"""Independent safety check of a candidate trajectory, and the minimal-risk fallback.

The checker does not trust the generator: it densifies the trajectory, sweeps the footprint (with the
embodiment's margin) against every occupied cell, predicts moving leads along the route, and checks
the dynamic limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planning.occupancy import Footprint, footprint_clearance, points_near
from planning.paths import Path
from planning.route import Route, wrap_angle
from planning.types import Embodiment, Trajectory

# Numerical tolerances on the limits: the rollout clips exactly at the limits, finite differences
# add a little.
_ACCEL_TOL = 0.05
_KAPPA_TOL = 1.05


@dataclass(frozen=True)
class MovingObstacle:
    """Cells of a tracked lead, predicted at constant speed along the route."""

    s: np.ndarray  # (M,) route arc length
    d: np.ndarray  # (M,) lateral offset
    speed: float


@dataclass(frozen=True)
class SafetyResult:
    ok: bool
    reason: str
    min_clearance: float


class SafetyChecker:
    def __init__(self, emb: Embodiment, route: Route, cell_size: float):
        self.emb = emb
        self.route = route
        # Cells are points at their centres; half a cell extends the object towards us.
        self.fp = Footprint.of(emb, emb.safety_margin + 0.5 * cell_size)
        self.fp_raw = Footprint.of(emb, 0.0)

    def densify(self, traj: Trajectory) -> tuple[np.ndarray, ...]:
        """Poses at most half the smaller footprint side apart, so nothing slips between samples."""
        x, y = np.asarray(traj.x), np.asarray(traj.y)
        step = np.hypot(np.diff(x), np.diff(y))
        arc = np.concatenate([[0.0], np.cumsum(step)])
        spacing = max(0.05, min(self.fp_raw.half_length, self.fp_raw.half_width))
        n = max(int(np.ceil(arc[-1] / spacing)) + 1, 2)
        # Sample by time where the ego moves, so moving obstacles are compared at the right time.
        fine_arc = np.linspace(0.0, arc[-1], n)
        moving = np.concatenate([[True], step > 1e-6])
        t_fine = np.interp(fine_arc, arc[moving], np.asarray(traj.t)[moving]) if arc[-1] > 0 else np.zeros(n)
        yaw_u = np.unwrap(np.asarray(traj.yaw))
        return (
            np.interp(fine_arc, arc, x),
            np.interp(fine_arc, arc, y),
            wrap_angle(np.interp(fine_arc, arc, yaw_u)),
            t_fine,
        )

    def check(
        self, traj: Trajectory, static_pts: np.ndarray, moving: MovingObstacle | None = None
    ) -> SafetyResult:
        limits = self.check_limits(traj)
        if limits:
            return SafetyResult(False, limits, float("nan"))
        x, y, yaw, t = self.densify(traj)
        radius = self.fp.half_length + abs(self.fp.center_offset) + self.fp.half_width
        near = points_near(static_pts, x, y, radius)
        clearance = footprint_clearance(self.fp, x, y, yaw, static_pts[near])
        if np.any(clearance <= 0.0):
            i = int(np.argmax(clearance <= 0.0))
            return SafetyResult(False, f"footprint overlaps an occupied cell at t={t[i]:.2f}s", 0.0)
        min_clear = float(clearance.min()) if len(clearance) else float("inf")
        if moving is not None and len(moving.s):
            # (N, M) predicted positions of every lead cell at every pose time.
            s_pred = moving.s[None, :] + moving.speed * t[:, None]
            mx, my, _ = self.route.pose_at(s_pred, np.broadcast_to(moving.d[None, :], s_pred.shape))
            c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
            dx, dy = mx - x[:, None], my - y[:, None]
            lx = c * dx + s * dy - self.fp.center_offset
            ly = -s * dx + c * dy
            ex = np.maximum(np.abs(lx) - self.fp.half_length, 0.0)
            ey = np.maximum(np.abs(ly) - self.fp.half_width, 0.0)
            mc = np.sqrt(ex * ex + ey * ey).min(axis=1)
            if np.any(mc <= 0.0):
                i = int(np.argmax(mc <= 0.0))
                return SafetyResult(False, f"footprint meets the predicted lead at t={t[i]:.2f}s", 0.0)
            min_clear = min(min_clear, float(mc.min()))
        return SafetyResult(True, "", min_clear)

    def check_limits(self, traj: Trajectory) -> str:
        """Empty string when the trajectory respects the embodiment's limits, else why not."""
        e = self.emb
        v = np.asarray(traj.speed)
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(traj.x)) and np.all(np.isfinite(traj.y))):
            return "non-finite values"
        # The first point is the measured speed, which may sit a hair above the limit; the plan after it
        # must respect the limit.
        if v[1:].max(initial=0.0) > e.max_speed + 1e-6 or v.min(initial=0.0) < -1e-6:
            return f"speed outside [0, {e.max_speed}]"
        dt = np.diff(np.asarray(traj.t))
        if np.any(dt <= 0):
            return "time not increasing"
        acc = np.diff(v) / dt
        if np.any(acc > e.max_accel + _ACCEL_TOL) or np.any(acc < -e.max_decel - _ACCEL_TOL):
            return "acceleration outside the embodiment's limits"
        step = np.hypot(np.diff(traj.x), np.diff(traj.y))
        dyaw = np.abs(wrap_angle(np.diff(traj.yaw)))
        moving = step > 0.05
        if np.any(dyaw[moving] / step[moving] > e.max_curvature * _KAPPA_TOL + 1e-3):
            return "curvature above the embodiment's limit"
        if np.any(dyaw / dt > e.max_yaw_rate * _KAPPA_TOL + 1e-3):
            return "yaw rate above the embodiment's limit"
        return ""


def fallback_trajectory(
    path: Path, v0: float, stamp_ns: int, emb: Embodiment, horizon_s: float, dt: float, reason: str
) -> Trajectory:
    """Minimal-risk manoeuvre: brake with max_decel along the given path until stopped."""
    n = round(horizon_s / dt) + 1
    t = np.arange(n) * dt
    v = np.maximum(max(v0, 0.0) - emb.max_decel * t, 0.0)
    t_stop = max(v0, 0.0) / emb.max_decel
    tc = np.minimum(t, t_stop)
    arc = max(v0, 0.0) * tc - 0.5 * emb.max_decel * tc**2
    x, y, yaw = path.interp(arc)
    return Trajectory(
        stamp_ns, t, x, y, yaw, v, behaviour="fallback_stop", fallback=True, debug={"fallback_reason": reason}
    )

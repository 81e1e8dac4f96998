"""Geometric paths from the ego pose along the route: hold a lateral offset or blend to a new one with
a quintic d(s) (zero lateral velocity and acceleration at the target, so the transition is smooth)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from planning.route import Route, wrap_angle


@dataclass(frozen=True)
class Path:
    target_d: float
    s_route: np.ndarray  # (K,) route arc length of each sample
    d: np.ndarray  # (K,) lateral offset
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    kappa: np.ndarray  # (K,) signed curvature of the path itself
    arc: np.ndarray  # (K,) arc length along the path from the ego, starts at 0

    @cached_property
    def _yaw_unwrapped(self) -> np.ndarray:
        return np.unwrap(self.yaw)  # once per path: every speed sample interpolates on it

    def interp(self, arc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y, yaw at path arc lengths (clamped to the path)."""
        return (
            np.interp(arc, self.arc, self.x),
            np.interp(arc, self.arc, self.y),
            wrap_angle(np.interp(arc, self.arc, self._yaw_unwrapped)),
        )

    def arc_of_route_s(self, s: float) -> float:
        """Path arc length where the path reaches route arc length s (inf when beyond the path)."""
        if s > self.s_route[-1]:
            return float("inf")
        return float(np.interp(s, self.s_route, self.arc))


def quintic_coefficients(d0: float, dd0: float, ddd0: float, d1: float, length: float) -> np.ndarray:
    """d(u) = Σ c_i u^i on u ∈ [0, length] from (d0, d0', d0'') to (d1, 0, 0)."""
    L = length
    c0, c1, c2 = d0, dd0, 0.5 * ddd0
    A = np.array([[L**3, L**4, L**5], [3 * L**2, 4 * L**3, 5 * L**4], [6 * L, 12 * L**2, 20 * L**3]])
    b = np.array([d1 - (c0 + c1 * L + c2 * L**2), -(c1 + 2 * c2 * L), -2 * c2])
    c3, c4, c5 = np.linalg.solve(A, b)
    return np.array([c0, c1, c2, c3, c4, c5])


def build_path(
    route: Route,
    s0: float,
    d0: float,
    heading_error: float,
    target_d: float,
    length: float,
    ds: float,
    transition_length: float,
) -> Path:
    """Path starting at (s0, d0) with the ego's heading relative to the route, ending on target_d."""
    n = max(int(np.ceil(length / ds)) + 1, 3)
    u = np.arange(n) * ds  # route-arc distance from the ego
    # Start slope from the heading error, capped so a badly misaligned ego does not give wild paths.
    dd0 = float(np.tan(np.clip(heading_error, -0.8, 0.8)))
    L = max(transition_length, 2.0 * ds)
    c = quintic_coefficients(d0, dd0, 0.0, target_d, L)
    uu = np.minimum(u, L)
    d = np.polyval(c[::-1], uu)
    d[u >= L] = target_d
    s_route = s0 + u
    x, y, _ = route.pose_at(s_route, d)
    dx, dy = np.gradient(x), np.gradient(y)
    yaw = np.arctan2(dy, dx)
    step = np.hypot(np.diff(x), np.diff(y))
    arc = np.concatenate([[0.0], np.cumsum(step)])
    kappa = np.gradient(np.unwrap(yaw)) / np.maximum(np.gradient(arc), 1e-6)
    return Path(target_d, s_route, d, x, y, yaw, kappa, arc)


def transition_length(
    speed: float,
    delta_d: float,
    lane_width: float,
    lane_change_time: float,
    min_distance: float,
    max_curvature: float,
) -> float:
    """Long enough for comfort at this speed and for the embodiment's curvature limit: a quintic blend
    over length L peaks at ≈ 5.77·|Δd|/L² curvature; keep that under 60 % of the limit.

    The comfort length scales with the lateral distance still to go: replanning every frame must not
    restart a full-length transition, or a lane change half done would be pushed ahead forever.
    """
    by_curvature = float(np.sqrt(5.77 * abs(delta_d) / (0.6 * max_curvature))) if delta_d else 0.0
    remaining = float(np.clip(abs(delta_d) / max(lane_width, 1e-6), 0.3, 1.0))
    return float(max(remaining * max(min_distance, lane_change_time * speed), by_curvature))

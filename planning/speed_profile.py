"""Longitudinal rollout along a path: cruise towards a desired speed, respect curve speed limits, stop
at a stop point, and keep an IDM gap to a moving lead."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from planning.params import PlannerParams
from planning.types import Embodiment


@dataclass(frozen=True)
class Lead:
    arc: float  # path arc length of the lead's rear edge at t = 0
    speed: float  # m/s along the path, >= 0


@dataclass(frozen=True)
class Rollout:
    t: np.ndarray
    arc: np.ndarray
    v: np.ndarray
    a: np.ndarray


def curve_speed_limit(
    path_arc: np.ndarray,
    kappa: np.ndarray,
    v_cap: float,
    emb: Embodiment,
    params: PlannerParams,
    extra_cap: np.ndarray | None = None,
) -> np.ndarray:
    """Speed limit per path sample: lateral accel and yaw-rate bounds (and any extra per-sample cap),
    then a backward pass so the ego starts slowing early enough with comfortable braking."""
    k = np.maximum(np.abs(kappa), 1e-6)
    v = np.minimum.reduce(
        [np.full_like(k, v_cap), np.sqrt(params.max_lateral_accel / k), emb.max_yaw_rate / k]
    )
    if extra_cap is not None:
        v = np.minimum(v, extra_cap)
    ds = np.diff(path_arc).tolist()
    vl = v.tolist()
    for i in range(len(vl) - 2, -1, -1):
        vl[i] = min(vl[i], math.sqrt(vl[i + 1] ** 2 + 2.0 * emb.comfort_decel * ds[i]))
    return np.array(vl)


def rollout(
    path_arc: np.ndarray,
    v_limit: np.ndarray,
    v0: float,
    v_desired: float,
    stop_arc: float,
    lead: Lead | None,
    front: float,
    emb: Embodiment,
    params: PlannerParams,
) -> Rollout:
    """Forward-integrate speed along the path with dt = params.dt over params.horizon_s.

    The acceleration is the minimum of: reaching v_desired (time constant speed_tau), the curve speed
    limit ahead, braking to stand still at stop_arc, and the IDM interaction term to the lead.
    """
    n = round(params.horizon_s / params.dt) + 1
    dt = params.dt
    t = np.arange(n) * dt
    b_comf = emb.comfort_decel
    sqrt_ab = math.sqrt(emb.max_accel * b_comf)
    max_accel, max_decel = emb.max_accel, emb.max_decel
    # Plain Python floats and lists: this loop runs per candidate per frame and numpy scalar calls
    # (indexing, float(), np.sqrt on a scalar) dominated it. Same IEEE operations, same results.
    arcs, vlims = path_arc.tolist(), np.asarray(v_limit, dtype=float).tolist()
    times = t.tolist()
    stop_finite = math.isfinite(stop_arc)
    vi, si = max(float(v0), 0.0), 0.0
    arc, v, a = [si], [vi], []
    for i in range(n - 1):
        acc = (v_desired - vi) / params.speed_tau
        # Curve / speed-limit ahead: the limit where we will be after this step.
        v_lim_next = _interp(si + vi * dt, arcs, vlims)
        acc = min(acc, (v_lim_next - vi) / dt)
        # Stop point: start braking once the needed deceleration reaches the comfortable one.
        if stop_finite:
            remaining = stop_arc - si
            if remaining <= 0.05:
                acc = min(acc, -vi / dt)
            else:
                b_req = vi * vi / (2.0 * remaining)
                if b_req >= 0.9 * b_comf:
                    acc = min(acc, -b_req)
        if lead is not None:
            gap = lead.arc + lead.speed * times[i] - (si + front)
            if gap <= 0.05:
                acc = min(acc, -max_decel)
            else:
                s_star = params.min_gap + vi * params.time_headway + vi * (vi - lead.speed) / (2.0 * sqrt_ab)
                acc = min(acc, max_accel * (1.0 - (max(s_star, 0.0) / gap) ** 2))
        acc = min(max(acc, -max_decel), max_accel)
        # Never reverse: a stop is a stop.
        v_next = max(vi + acc * dt, 0.0)
        acc = (v_next - vi) / dt
        s_next = si + 0.5 * (vi + v_next) * dt
        # No clamp at stop_arc: if braking cannot stop in time the overshoot must stay visible so the
        # safety checker rejects the candidate.
        arc.append(s_next)
        v.append(v_next)
        a.append(acc)
        vi, si = v_next, s_next
    a.append(a[-1] if n > 1 else 0.0)
    return Rollout(t, np.array(arc), np.array(v), np.array(a))


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """np.interp for one scalar on a sorted list, without numpy call overhead."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    j = bisect.bisect_right(xs, x)
    x0, x1 = xs[j - 1], xs[j]
    return ys[j - 1] + (ys[j] - ys[j - 1]) * (x - x0) / (x1 - x0) if x1 > x0 else ys[j]

"""Trajectory tracking: pure pursuit for the yaw rate, PID on speed for the commanded speed.

The output is a DriveCommand-like (speed, yaw_rate): the speed to reach and the yaw rate to hold; the
embodiment applies its own actuator limits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planning.params import strict_from_dict
from planning.route import wrap_angle
from planning.types import ControlCommand, EgoState, Embodiment, Trajectory


@dataclass(frozen=True)
class ControllerParams:
    # How often command() is called, s: the control node answers once per planned frame (camera period,
    # 3 × 16.5 ms) in lockstep. Used for the integral and derivative terms.
    dt: float = 0.0495
    # The drive-by-wire turns a speed command into an acceleration request (v_cmd − v) / T with
    # T = 0.5 s, so asking for acceleration a means commanding v + a·T (see the embodiment's docs).
    command_horizon: float = 0.5
    lookahead_min: float = 2.0  # m
    lookahead_gain: float = 0.6  # s: lookahead = lookahead_min + gain · v
    lookahead_max: float = 15.0
    kp: float = 1.5  # 1/s, speed error → acceleration
    ki: float = 0.2
    kd: float = 0.0
    integral_limit: float = 2.0  # m/s·s anti-windup
    feedforward: bool = True  # add the trajectory's own acceleration
    stop_speed: float = 0.05  # below this a zero reference means command exactly 0

    @classmethod
    def from_dict(cls, d: dict) -> ControllerParams:
        p = strict_from_dict(cls, d, "controller")
        if p.dt <= 0 or p.command_horizon <= 0 or p.lookahead_min <= 0 or p.lookahead_max < p.lookahead_min:
            raise ValueError("controller needs dt > 0 and 0 < lookahead_min <= lookahead_max")
        return p


class Controller:
    def __init__(self, embodiment: Embodiment, params: ControllerParams | None = None):
        self.emb = embodiment
        self.p = params or ControllerParams()
        self.integral = 0.0
        self.prev_error: float | None = None

    def reset(self) -> None:
        self.integral, self.prev_error = 0.0, None

    def command(self, trajectory: Trajectory, ego: EgoState) -> ControlCommand:
        tr, p, e = trajectory, self.p, self.emb
        n = len(tr.t)
        if n == 0 or not (len(tr.x) == len(tr.y) == len(tr.yaw) == len(tr.speed) == n):
            raise ValueError("trajectory arrays must be non-empty and of equal length")
        t_now = (int(ego.stamp_ns) - int(tr.stamp_ns)) * 1e-9
        if t_now < -1e-3:
            raise ValueError(f"ego stamp {ego.stamp_ns} is before the trajectory stamp {tr.stamp_ns}")
        v = max(float(ego.speed), 0.0)

        # --- speed: reference one period ahead, PID + feed-forward, accel-limited ---------------------
        t_ref = t_now + p.dt
        v_ref = float(np.interp(t_ref, tr.t, tr.speed))
        a_ff = 0.0
        if p.feedforward and n >= 2:
            a_ff = float(np.interp(t_ref, tr.t[:-1], np.diff(tr.speed) / np.diff(tr.t)))
        err = v_ref - v
        self.integral = float(np.clip(self.integral + err * p.dt, -p.integral_limit, p.integral_limit))
        deriv = 0.0 if self.prev_error is None else (err - self.prev_error) / p.dt
        self.prev_error = err
        acc = a_ff + p.kp * err + p.ki * self.integral + p.kd * deriv
        acc = float(np.clip(acc, -e.max_decel, e.max_accel))
        speed_cmd = float(np.clip(v + acc * p.command_horizon, 0.0, e.max_speed))
        if v_ref <= p.stop_speed and float(tr.speed[-1]) <= p.stop_speed and v <= p.stop_speed:
            speed_cmd, self.integral = 0.0, 0.0

        # --- steering: pure pursuit on the path ---------------------------------------------------------
        yaw_rate = self._pure_pursuit(tr, ego, max(v, speed_cmd))
        return ControlCommand(int(ego.stamp_ns), speed_cmd, yaw_rate)

    def _pure_pursuit(self, tr: Trajectory, ego: EgoState, v: float) -> float:
        p, e = self.p, self.emb
        x, y = np.asarray(tr.x, float), np.asarray(tr.y, float)
        step = np.hypot(np.diff(x), np.diff(y))
        arc = np.concatenate([[0.0], np.cumsum(step)])
        if arc[-1] < 1e-3:
            return 0.0  # a standing trajectory: hold heading
        i_near = int(np.argmin((x - ego.x) ** 2 + (y - ego.y) ** 2))
        lookahead = float(np.clip(p.lookahead_min + p.lookahead_gain * v, p.lookahead_min, p.lookahead_max))
        target_arc = arc[i_near] + lookahead
        if target_arc <= arc[-1]:
            tx, ty = np.interp(target_arc, arc, x), np.interp(target_arc, arc, y)
        else:
            # Past the end of the trajectory: extend it along its final heading.
            extra = target_arc - arc[-1]
            tx, ty = x[-1] + extra * np.cos(tr.yaw[-1]), y[-1] + extra * np.sin(tr.yaw[-1])
        dx, dy = tx - ego.x, ty - ego.y
        alpha = float(wrap_angle(np.arctan2(dy, dx) - ego.yaw))
        ld = max(float(np.hypot(dx, dy)), 1e-3)
        kappa = float(np.clip(2.0 * np.sin(alpha) / ld, -e.max_curvature, e.max_curvature))
        return float(np.clip(v * kappa, -e.max_yaw_rate, e.max_yaw_rate))

"""The ego car's motion: a kinematic bicycle about the rear axle with actuator limits.

The stack commands (speed, yaw_rate). Like a drive-by-wire car, the embodiment turns that into a
steering angle δ = atan(L·ω / v) and an acceleration request, both limited:
- steering |δ| ≤ 0.6 rad, steering rate ≤ 0.7 rad/s (a fast human on the wheel);
- acceleration request a = (v_cmd − v) / 0.5 s (at least 2 m/s² braking when asked to stop),
  clamped to [−8, +3] m/s², followed by a first-order
  powertrain/brake lag (τ = 0.15 s) so the true motion has finite jerk;
- speed in [0, 15.5] m/s (no reverse; 15 m/s plus a margin for the speed controller).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from contracts.embodiment import load as load_embodiment
from sim.geometry import wrap_angle

# The body's own numbers come from its embodiment file; the actuator dynamics below are the simulator's.
_CAR = load_embodiment("car")
WHEELBASE = _CAR.wheelbase
MAX_STEER = _CAR.max_steer
MAX_STEER_RATE = 0.7
MAX_ACCEL = _CAR.max_accel
MAX_DECEL = _CAR.max_decel
MAX_SPEED = _CAR.max_speed + 0.5  # the planner's limit plus a margin for the speed controller
SPEED_GAIN_TIME = 0.5
ACCEL_LAG = 0.15
STOP_REQUEST_SPEED = 0.05
STOP_BRAKE = 2.0
MIN_STEER_SPEED = 0.5  # below this, δ = atan(Lω / 0.5): avoids dividing by ~0 when starting off


@dataclass
class EgoState:
    x: float
    y: float
    yaw: float
    v: float = 0.0
    accel: float = 0.0
    steer: float = 0.0

    @property
    def yaw_rate(self) -> float:
        return self.v * math.tan(self.steer) / WHEELBASE


def steering_target(speed: float, yaw_rate: float) -> float:
    v = max(abs(speed), MIN_STEER_SPEED)
    return max(-MAX_STEER, min(MAX_STEER, math.atan(WHEELBASE * yaw_rate / v)))


def step(state: EgoState, cmd_speed: float, cmd_yaw_rate: float, dt: float) -> None:
    """Advance the ego by dt under the held command (in place)."""
    if not (math.isfinite(cmd_speed) and math.isfinite(cmd_yaw_rate)):
        raise ValueError(f"drive command must be finite, got speed={cmd_speed}, yaw_rate={cmd_yaw_rate}")
    v_cmd = max(0.0, min(MAX_SPEED, cmd_speed))
    a_req = (v_cmd - state.v) / SPEED_GAIN_TIME
    if v_cmd < STOP_REQUEST_SPEED and state.v > 0.0:
        # a stop request brakes at least this hard, so the car stops in finite time instead of
        # creeping towards zero along the proportional law's exponential
        a_req = min(a_req, -STOP_BRAKE)
    a_req = max(-MAX_DECEL, min(MAX_ACCEL, a_req))
    state.accel += (a_req - state.accel) * min(1.0, dt / ACCEL_LAG)
    d_target = steering_target(state.v, cmd_yaw_rate)
    d_step = max(-MAX_STEER_RATE * dt, min(MAX_STEER_RATE * dt, d_target - state.steer))
    state.steer += d_step
    v_new = state.v + state.accel * dt
    if v_new <= 0.0:  # brakes hold the car; they do not drive it backwards
        v_new = 0.0
        state.accel = max(state.accel, 0.0) if v_cmd > 0 else 0.0
    v_new = min(v_new, MAX_SPEED)
    v_mid = 0.5 * (state.v + v_new)
    yaw_mid = state.yaw + 0.5 * v_mid * math.tan(state.steer) / WHEELBASE * dt
    state.x += v_mid * math.cos(yaw_mid) * dt
    state.y += v_mid * math.sin(yaw_mid) * dt
    state.yaw = wrap_angle(state.yaw + v_mid * math.tan(state.steer) / WHEELBASE * dt)
    state.v = v_new

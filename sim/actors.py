"""Kinematic actors: traffic lights (phase timing lives in TrafficLightSpec), walkers, lead vehicle."""

from __future__ import annotations

import math

from sim.layout import LeadVehicleSpec, PedestrianSpec

MAX_TRIGGER_GAP = 50.0  # m: walkers do not react to an ego further away than this


class Walker:
    """Walks straight from start to end once triggered, then stands still on the far side."""

    def __init__(self, spec: PedestrianSpec):
        self.spec = spec
        self.t_start: float | None = None
        dx, dy = spec.end[0] - spec.start[0], spec.end[1] - spec.start[1]
        self.distance = math.hypot(dx, dy)
        self.heading = math.atan2(dy, dx)

    def update(self, t: float, ego_front_route_s: float, ego_speed: float) -> None:
        if self.t_start is not None:
            return
        gap = self.spec.crossing_route_s - ego_front_route_s
        arriving = -1.0 < gap <= MAX_TRIGGER_GAP and gap <= max(ego_speed, 0.1) * self.spec.time_to_lane_s
        if arriving:
            self.t_start = t
        elif t >= self.spec.trigger_time_s:
            # start at the scheduled time, not at the (possibly later) time we were asked about, so that
            # Simulation.set_time(t) for datasets shows the walker where it would be at t
            self.t_start = self.spec.trigger_time_s

    def state(self, t: float) -> tuple[float, float, float, float, float]:
        """(x, y, yaw, vx, vy) in the world frame."""
        walked = 0.0 if self.t_start is None else min(self.distance, (t - self.t_start) * self.spec.speed)
        moving = self.t_start is not None and walked < self.distance
        c, s = math.cos(self.heading), math.sin(self.heading)
        x = self.spec.start[0] + walked * c
        y = self.spec.start[1] + walked * s
        v = self.spec.speed if moving else 0.0
        return x, y, self.heading, v * c, v * s


class LeadVehicle:
    """Speed profile in time: accelerate to cruise, slow down at t_slow, brake hard at t_brake to a
    stop, wait, then accelerate back to cruise. Integrated on the control grid (deterministic)."""

    def __init__(self, spec: LeadVehicleSpec):
        self.spec = spec
        self.s = spec.s0
        self.v = 0.0
        self.t_stopped: float | None = None

    def target_and_rate(self, t: float) -> tuple[float, float]:
        sp = self.spec
        if t < sp.t_slow:
            return sp.cruise_speed, sp.accel
        if t < sp.t_brake:
            return sp.slow_speed, 1.5
        if self.t_stopped is None or t < self.t_stopped + sp.wait_s:
            return 0.0, sp.brake_decel
        return sp.cruise_speed, sp.accel

    def step(self, t: float, dt: float) -> None:
        target, rate = self.target_and_rate(t)
        dv = max(-rate * dt, min(rate * dt, target - self.v))
        v_new = max(0.0, self.v + dv)
        self.s += 0.5 * (self.v + v_new) * dt
        self.v = v_new
        if t >= self.spec.t_brake and self.v == 0.0 and self.t_stopped is None:
            self.t_stopped = t

    def state(self) -> tuple[float, float, float, float, float]:
        """(x, y, yaw, vx, vy) of the rear axle centre, world frame."""
        x, y, h = self.spec.path.sample(self.s)
        return x, y, h, self.v * math.cos(h), self.v * math.sin(h)

"""Oncoming traffic: cars driving along the oncoming lane at a cruise speed, on a fixed schedule.

They are *responsible* drivers in the RSS sense (Shalev-Shwartz et al., "On a Formal Model of Safe and
Scalable Self-driving Cars", 2017): they do not anticipate anything, but once a car stands or drives in
their lane ahead of them, within their stopping distance plus a reaction time, they brake (at a
bounded, reasonable deceleration) and drive on when their lane is clear. A car beyond the ego's 40 m
camera range can therefore be assumed to stop for it; the ego must still never make a *seen* car brake,
and every such braking is counted (`oncoming_yields` in the result) so a careless ego shows up.
"""

from __future__ import annotations

import math

from sim.layout import OncomingVehicleSpec

BRAKE_DECEL = 3.5  # m/s², a responsible driver's braking for an obstacle in its lane
RESUME_ACCEL = 1.5  # m/s²
REACTION_S = 1.0
STANDSTILL_GAP = 4.0  # m, front bumper to the obstacle
CAR_FRONT = 3.6  # m from the rear axle to the front bumper (sim.ego geometry)


class OncomingVehicle:
    def __init__(self, spec: OncomingVehicleSpec):
        self.spec = spec
        self.s = spec.s0
        self.v = spec.speed
        self.braking = False
        self.braking_for_ego = False
        self.yields = 0  # times it started braking for the ego in its lane

    def plan(self, obstacle_gap: float | None, ego_gap: float | None) -> None:
        """Once per control period: distances from its front bumper to the nearest other car and to the
        ego in its lane ahead (None where its lane is clear). Braking for the ego is counted."""
        need = self.v * REACTION_S + self.v * self.v / (2 * BRAKE_DECEL) + STANDSTILL_GAP
        for_ego = ego_gap is not None and ego_gap <= need
        brake = for_ego or (obstacle_gap is not None and obstacle_gap <= need)
        if for_ego and not self.braking_for_ego:
            self.yields += 1
        self.braking, self.braking_for_ego = brake, for_ego

    def step(self, dt: float) -> None:
        if self.s >= self.spec.path.length:
            self.v = 0.0
            return
        if self.braking:
            self.v = max(0.0, self.v - BRAKE_DECEL * dt)
        else:
            self.v = min(self.spec.speed, self.v + RESUME_ACCEL * dt)
        self.s += self.v * dt

    def state(self) -> tuple[float, float, float, float, float]:
        """(x, y, yaw, vx, vy) of the rear axle centre, world frame; parked at the path end when done."""
        s = min(max(self.s, 0.0), self.spec.path.length)
        x, y, h = self.spec.path.sample(s)
        return x, y, h, self.v * math.cos(h), self.v * math.sin(h)

    def gap_to(
        self, x: float, y: float, half_length: float, half_width: float, lane_half: float
    ) -> float | None:
        """Front bumper to a box centred at (x, y) if it reaches into this car's lane ahead, else None."""
        s_o, d_o = self.spec.path.project(x, y)
        if abs(d_o) > lane_half + half_width:
            return None
        gap = s_o - half_length - (self.s + CAR_FRONT)
        return gap if gap > -half_length else None

"""A humanoid with a mission in some world: its body, its goals in order, and its ground-truth metrics.

Shared by the humanoid-only world (sim/humanoid_sim.py, the yard) and the world it shares with the car
(sim/shared_sim.py). The owner steps the physics and calls before_substep() / after_substep() around
every p.stepSimulation and after_period(t) once per control period.

Metrics: collisions = new contact episodes of the body with any of `hazards` (summed over bodies, after
every substep), falls (torso below 0.7 m), recoveries (back above 0.9 m), goals_reached / goals_total (the
mean of the body's parts within goal_radius of the next goal, in order), min_clearance_m / min_ttc_s to
the static obstacles' covering circles (conservative: a box's circle is larger than the box).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from sim._quiet_import import pybullet as p
from sim.humanoid import FALL_HEIGHT, HumanoidBody

RECOVERED_HEIGHT = 0.9  # m: a fall ends when the torso is back above this
FALLEN_LIMIT_S = 5.0  # s down without recovering ends the mission
ROUTE_SPACING = 1.0  # m between route map points (the car's maps use about 1 m too)
BODY_RADIUS = 0.3  # m, for the ground-truth clearance and TTC
TTC_CAP = 99.0
JERK_SMOOTHING_SAMPLES = 15


def resample_chain(points, spacing: float = ROUTE_SPACING) -> np.ndarray:
    """The polyline through points, with a vertex at every point and about `spacing` between vertices."""
    out = [tuple(points[0])]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(math.dist(a, b) / spacing))
        for k in range(1, n + 1):
            out.append((a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n))
    return np.asarray(out, dtype=float)


class HumanoidAgent:
    def __init__(
        self,
        client: int,
        body: HumanoidBody,
        start_xy: tuple[float, float],
        goals: tuple[tuple[float, float], ...],
        *,
        goal_radius: float,
        hazards: frozenset[int],
        obstacles=(),
        lane_width: float,
        speed_limit: float,
    ):
        """hazards: bodies whose contact is a collision; obstacles: static (x, y, radius) circles for
        clearance and TTC."""
        if not goals:
            raise ValueError("a humanoid mission needs at least one goal")
        self.client = client
        self.body = body
        self.start_xy = (float(start_xy[0]), float(start_xy[1]))
        self.goals = tuple((float(x), float(y)) for x, y in goals)
        self.goal_radius = float(goal_radius)
        self.hazards = frozenset(hazards)
        self.obstacles = tuple((float(x), float(y), float(r)) for x, y, r in obstacles)
        self.lane_width = float(lane_width)
        self.speed_limit = float(speed_limit)
        self.goal_index = 0
        self.collisions = 0
        self.falls = 0
        self.recoveries = 0
        self.events: list[dict] = []
        self.fallen_too_long = False
        self._touching: set[int] = set()
        self._down_since: float | None = None
        self._min_ttc = math.inf
        self._min_clearance = math.inf
        self._max_abs_accel = 0.0
        self._max_abs_jerk = 0.0
        self._prev_v: float | None = None
        self._prev_a: float | None = None
        self._accels: list[float] = []
        self.max_from_start = 0.0  # m, the torso's farthest distance from the start (a task's safe wait)
        chain = [self.start_xy, *self.goals]
        self._legs = list(itertools.pairwise(chain))
        self._leg_lengths = [math.dist(a, b) for a, b in self._legs]

    # ---- mission ----------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.goal_index == len(self.goals)

    @property
    def route_version(self) -> int:
        """Changes whenever route_map() does (a goal was reached)."""
        return min(self.goal_index, len(self.goals) - 1)

    def route_map(self) -> dict:
        """The navigation route to the NEXT goal: the leg from the last goal reached (or the start) to
        it, goal_s at its end; replaced by the next leg when the goal is reached (route_version). One leg
        at a time, like a mission handing out waypoints: with the whole chain as one route the planner
        followed it past a goal it had missed by a metre and never came back."""
        from planning.types import RouteMap

        a, b = self._legs[self.route_version]
        rm = RouteMap(
            centerline=resample_chain([a, b]),
            lane_width=self.lane_width,
            speed_limit=self.speed_limit,
            adjacent_lane_offsets=(),
            stop_lines=(),
            goal_s=None,
        )
        return rm.to_dict()

    def body_xy(self) -> tuple[float, float]:
        """The body position as the policy and the goal check know it: the mean of its parts."""
        b, c = self.body.body_id, self.client
        pos, _ = p.getBasePositionAndOrientation(b, physicsClientId=c)
        links = p.getLinkStates(b, list(range(self.body.n_links)), physicsClientId=c)
        xs = [pos[0]] + [ls[0][0] for ls in links]
        ys = [pos[1]] + [ls[0][1] for ls in links]
        return float(np.mean(xs)), float(np.mean(ys))

    # ---- stepping ---------------------------------------------------------------------------------
    def before_substep(self) -> None:
        self.body.apply_torques()

    def after_substep(self, t: float, record: bool = True) -> None:
        if not record:
            return
        now = {cp[2] for cp in p.getContactPoints(bodyA=self.body.body_id, physicsClientId=self.client)}
        now &= self.hazards
        for o in sorted(now - self._touching):  # each new contact episode once
            self.collisions += 1
            self.event(t, "collision", body=int(o))
        self._touching = now

    def after_period(self, t: float) -> None:
        pos, _ = self.body.torso_pose()
        lin, _ = p.getBaseVelocity(self.body.body_id, physicsClientId=self.client)
        vx, vy = float(lin[0]), float(lin[1])
        self._update_motion(math.hypot(vx, vy))
        self._update_ttc(float(pos[0]), float(pos[1]), vx, vy)
        away = math.hypot(float(pos[0]) - self.start_xy[0], float(pos[1]) - self.start_xy[1])
        self.max_from_start = max(self.max_from_start, away)
        z = float(pos[2])
        if self._down_since is None and z < FALL_HEIGHT:
            self._down_since = t
            self.falls += 1
            self.event(t, "fall")
        elif self._down_since is not None and z > RECOVERED_HEIGHT:
            self._down_since = None
            self.recoveries += 1
            self.event(t, "recovered")
        if not self.finished:
            bx, by = self.body_xy()
            gx, gy = self.goals[self.goal_index]
            if math.hypot(gx - bx, gy - by) < self.goal_radius:
                self.event(t, "goal_reached", goal=self.goal_index)
                self.goal_index += 1
        if self._down_since is not None and t - self._down_since >= FALLEN_LIMIT_S - 1e-9:
            self.fallen_too_long = True

    def event(self, t: float, kind: str, **extra) -> None:
        pos, _ = self.body.torso_pose()
        self.events.append(
            {"t": round(t, 4), "kind": kind, "x": round(float(pos[0]), 3), "y": round(float(pos[1]), 3)}
            | extra
        )

    # ---- results ----------------------------------------------------------------------------------
    def route_completion(self) -> float:
        if self.finished:
            return 1.0
        done = sum(self._leg_lengths[: self.goal_index])
        a, b = self._legs[self.goal_index]
        bx, by = self.body_xy()
        leg = self._leg_lengths[self.goal_index]
        along = ((bx - a[0]) * (b[0] - a[0]) + (by - a[1]) * (b[1] - a[1])) / max(leg, 1e-9)
        return round((done + min(max(along, 0.0), leg)) / sum(self._leg_lengths), 4)

    def metrics(self) -> dict:
        return {
            "goals_reached": int(self.goal_index),
            "goals_total": len(self.goals),
            "falls": int(self.falls),
            "recoveries": int(self.recoveries),
            "min_clearance_m": round(min(self._min_clearance, TTC_CAP), 3),
        }

    @property
    def success(self) -> bool:
        return self.finished and self.collisions == 0

    def _update_motion(self, v: float) -> None:
        from contracts import clock

        dt = clock.CONTROL_PERIOD
        if self._prev_v is not None:
            a = (v - self._prev_v) / dt
            self._max_abs_accel = max(self._max_abs_accel, abs(a))
            self._accels.append(a)
            if len(self._accels) > JERK_SMOOTHING_SAMPLES:
                self._accels.pop(0)
            a_smooth = sum(self._accels) / len(self._accels)
            if self._prev_a is not None:
                self._max_abs_jerk = max(self._max_abs_jerk, abs(a_smooth - self._prev_a) / dt)
            self._prev_a = a_smooth
        self._prev_v = v

    def _update_ttc(self, x: float, y: float, vx: float, vy: float) -> None:
        for ox, oy, r in self.obstacles:
            dx, dy = ox - x, oy - y
            dist = math.hypot(dx, dy)
            gap = dist - r - BODY_RADIUS
            self._min_clearance = min(self._min_clearance, gap)
            closing = (vx * dx + vy * dy) / max(dist, 1e-9)
            if gap <= 0:
                self._min_ttc = 0.0
            elif closing > 1e-6:
                self._min_ttc = min(self._min_ttc, gap / closing)

    @property
    def min_ttc(self) -> float:
        return self._min_ttc

    @property
    def max_abs_accel(self) -> float:
        return self._max_abs_accel

    @property
    def max_abs_jerk(self) -> float:
        return self._max_abs_jerk


__all__ = ["HumanoidAgent", "resample_chain"]

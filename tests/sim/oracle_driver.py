"""A test double that drives the sim's scenarios from ground truth (NOT the stack).

It reads the scenario spec and actor states straight from the Simulation object: pure pursuit on the
route (shifted to the free adjacent lane around a blocking obstacle), and a speed that respects every
stop point (red/yellow light, crossing pedestrians, blocking obstacle without a free lane) and a
safe gap to the lead vehicle. If it succeeds, the scenario and its success criteria are consistent.
"""

from __future__ import annotations

import math

from contracts.messages import DriveCommand
from sim.engine import Simulation
from sim.world import CAR_LENGTH, CAR_REAR_OVERHANG

FRONT = CAR_LENGTH - CAR_REAR_OVERHANG
COMFORT_DECEL = 3.0
STOP_MARGIN = 2.5  # m between the front bumper and a stop point


class OracleDriver:
    """ignore: hazards to pretend not to see ("lights", "pedestrians", "obstacles", "lead", "parking") —
    negative controls showing that each scenario punishes the matching mistake."""

    def __init__(self, sim: Simulation, ignore: frozenset[str] = frozenset()):
        unknown = set(ignore) - {"lights", "pedestrians", "obstacles", "lead", "parking"}
        if unknown:
            raise ValueError(f"unknown hazards to ignore: {sorted(unknown)}")
        self.sim = sim
        self.spec = sim.spec
        self.ignore = ignore
        self.passing = False  # System 2 scenarios: committed to the detour through the oncoming lane

    def _stop_speed(self, gap: float) -> float:
        """Highest speed from which we can still stop within `gap` metres at comfortable deceleration."""
        return math.sqrt(2.0 * COMFORT_DECEL * max(0.0, gap - STOP_MARGIN))

    def _zone_end(self) -> float:
        """Route s past the last obstacle (System 2 scenarios: where the detour may end)."""
        return max(self.spec.route.project(o.x, o.y)[0] for o in self.spec.obstacles) + 6.0

    def _oncoming_clear(self, front_s: float) -> bool:
        """No oncoming car reaches the detour before the ego is through it (ground truth, 3 s margin)."""
        end = self._zone_end()
        t_through = 2.0 * math.sqrt(max(end - front_s, 0.0) / 1.5) + 3.0  # from rest at ~1.5 m/s²
        for car in self.sim.oncoming:
            x, y, _, vx, vy = car.state()
            s_c = self.spec.route.project(x, y)[0]
            v = max(math.hypot(vx, vy), 0.1)
            if s_c > front_s - 8.0 and (s_c - end) / v < t_through:
                return False
        return True

    def _lane_offset(self, s: float) -> float:
        spec = self.spec
        if "obstacles" in self.ignore:
            return 0.0
        detour = spec.stall_at_s is not None and spec.oncoming_lane_offsets and self.passing
        if detour and spec.stall_at_s - 10.0 <= s <= self._zone_end() + 2.0:
            return spec.oncoming_lane_offsets[0]
        if spec.adjacent_lane_offsets and spec.obstacles and spec.blocked_at_s is None:
            s_obs = min(spec.route.project(o.x, o.y)[0] for o in spec.obstacles)
            if s_obs - 40.0 <= s <= s_obs + 12.0:
                return spec.adjacent_lane_offsets[0]
        return 0.0

    def command(self, stamp_ns: int) -> DriveCommand:
        sim, spec = self.sim, self.spec
        ego = sim.ego
        t = sim.t
        s, _ = spec.route.project(ego.x, ego.y)
        front_s = s + FRONT
        v_cmd = spec.speed_limit

        for sl in [] if "lights" in self.ignore else spec.stop_lines:
            light = next(lt for lt in spec.lights if lt.light_id == sl.light_id)
            state = light.state_at(t)
            gap = sl.route_s - front_s
            can_stop = gap > ego.v**2 / (2 * 6.0)
            if gap > -0.5 and (state == "red" or (state == "yellow" and can_stop)):
                v_cmd = min(v_cmd, self._stop_speed(gap))

        for walker in [] if "pedestrians" in self.ignore else sim.walkers:
            x, y, _, vx, vy = walker.state(t)
            road = spec.roads[0]
            _, lat = road.reference.project(x, y)
            moving = math.hypot(vx, vy) > 0.0
            if moving or abs(lat) <= road.half_width + 0.3:
                cw = spec.crosswalks[0]
                cw_s = spec.route.project(*road.reference.sample(cw.s)[:2])[0]
                gap = cw_s - 0.5 * cw.depth - front_s
                if gap > -1.0:
                    v_cmd = min(v_cmd, self._stop_speed(gap))

        if spec.stall_at_s is not None and "obstacles" not in self.ignore and not self.passing:
            gap = spec.stall_at_s - 10.0 - front_s
            if gap < 3.0 and ego.v < 0.5 and self._oncoming_clear(front_s):
                self.passing = True
            else:
                v_cmd = min(v_cmd, self._stop_speed(gap + STOP_MARGIN))
        if self.passing and front_s < self._zone_end():
            v_cmd = min(v_cmd, 6.0)

        if spec.blocked_at_s is not None and "obstacles" not in self.ignore:
            v_cmd = min(v_cmd, self._stop_speed(spec.blocked_at_s - front_s - 1.0))

        if spec.park_s is not None and not sim.drive_requested and "parking" not in self.ignore:
            v_cmd = min(v_cmd, self._stop_speed(spec.park_s - s + STOP_MARGIN))

        if sim.lead is not None and "lead" not in self.ignore:
            lead = sim.lead
            gap = lead.s - CAR_REAR_OVERHANG - front_s
            # never closer than what both cars' braking allows, then a 1 s time gap on top of 5 m
            v_safe = math.sqrt(max(0.0, 2 * 5.0 * (gap - 5.0) + lead.v**2 * 5.0 / 6.0))
            v_follow = lead.v + 0.5 * (gap - (5.0 + 1.0 * ego.v))
            v_cmd = min(v_cmd, v_safe, max(0.0, v_follow))

        # pure pursuit towards a point ahead on the (possibly shifted) route
        lookahead = max(6.0, 0.9 * ego.v)
        lat = self._lane_offset(s + lookahead)
        tx, ty = spec.route.offset_point(s + lookahead, lat)
        dx, dy = tx - ego.x, ty - ego.y
        alpha = math.atan2(dy, dx) - ego.yaw
        curvature = 2.0 * math.sin(alpha) / math.hypot(dx, dy)
        yaw_rate = max(ego.v, 0.5) * curvature
        return DriveCommand(stamp_ns, max(0.0, v_cmd), yaw_rate)


def run_oracle(
    scenario: str, seed: int, max_frames: int = 2000, ignore: frozenset[str] = frozenset()
) -> dict:
    with Simulation(scenario, seed, render_frames=False) as sim:
        driver = OracleDriver(sim, ignore)
        batch = sim.advance(None)
        for _ in range(max_frames):
            if sim.done:
                break
            batch = sim.advance(driver.command(batch.clock_ns))
        return sim.result()

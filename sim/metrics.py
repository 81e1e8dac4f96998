"""Ground-truth driving metrics, modelled on CARLA ScenarioRunner criteria and nuPlan closed-loop
metrics. Computed by the sim from the true state only; the stack never sees them.

Definitions (all on the control grid, 16.5 ms):
- collisions: distinct contact events between the ego and any collidable body (PyBullet
  getClosestPoints at distance 0), counted when a body goes from no-contact to contact.
- red_light_violations: the ego's front bumper crosses a stop line (route arc length) while its
  light is red. Yellow is not a violation.
- route_completion: progress of the rear axle along the route from the start to the goal, 0..1.
- offroad_time_s: time the footprint centre is outside every road's carriageway.
- min_ttc_s: constant-velocity time until the ego footprint and an actor's box (its axis-aligned
  bounding box in the ego frame) overlap, over all actors; capped at TTC_CAP.
- max_abs_accel: longitudinal, finite difference of the true speed per control period.
- max_abs_jerk: finite difference of that acceleration after a 0.25 s moving average (nuPlan smooths
  with a Savitzky-Golay filter too); otherwise the unavoidable acceleration step when the car comes
  to rest (brake force vanishes at zero speed) would dominate every run with a stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.layout import ScenarioSpec

TTC_CAP = 99.0
JERK_SMOOTHING_SAMPLES = 15  # 15 control periods = 0.25 s
STOP_SPEED = 0.05  # m/s, "stopped"
SAFE_STOP_HOLD_S = 2.0
SAFE_STOP_WINDOW_M = 25.0  # a safe stop must be this close to the blocking object (not "never left")
MAX_OFFROAD_FOR_SUCCESS_S = 1.0
PARK_WINDOW_M = 3.0  # a stop with base_link this close to the parking spot counts as parked
PARK_HOLD_S = 2.0


@dataclass
class Actor:
    """An actor's state for TTC: world pose, velocity and box half extents."""

    x: float
    y: float
    yaw: float
    vx: float
    vy: float
    half_length: float
    half_width: float


def ttc_box(
    rel_x: float,
    rel_y: float,
    vrel_x: float,
    vrel_y: float,
    x_min: float,
    x_max: float,
    y_min: float,
    y_max: float,
) -> float:
    """Time until point (rel_x, rel_y) moving with (vrel_x, vrel_y) enters the box; inf if never.
    Slab method: intersect the entry/exit times of the x and y slabs."""
    t_enter, t_exit = 0.0, math.inf
    for p0, v, lo, hi in ((rel_x, vrel_x, x_min, x_max), (rel_y, vrel_y, y_min, y_max)):
        if abs(v) < 1e-9:
            if p0 < lo or p0 > hi:
                return math.inf
            continue
        t0, t1 = (lo - p0) / v, (hi - p0) / v
        if t0 > t1:
            t0, t1 = t1, t0
        t_enter = max(t_enter, t0)
        t_exit = min(t_exit, t1)
        if t_enter > t_exit:
            return math.inf
    return t_enter


@dataclass
class Metrics:
    spec: ScenarioSpec
    seed: int
    rear_overhang: float
    length: float
    width: float
    collisions: int = 0
    red_light_violations: int = 0
    offroad_time_s: float = 0.0
    min_ttc_s: float = TTC_CAP
    max_abs_accel: float = 0.0
    max_abs_jerk: float = 0.0
    sim_time_s: float = 0.0
    route_s: float = 0.0
    goal_reached: bool = False
    stopped_before_block: bool = (
        False  # held a stop before blocked_at_s (no free lane: the goal is out of reach)
    )
    parked: bool = False  # stopped at the parking spot for PARK_HOLD_S before the drive request
    parked_time_s: float = 0.0
    drive_requested: bool = False
    stopped_before_stall: bool = False  # held a stop before stall_at_s (passable only with System 2's help)
    events: list[dict] = field(default_factory=list)
    _prev_front_s: float | None = None
    _prev_v: float | None = None
    _prev_a: float | None = None
    _accels: list = field(default_factory=list)
    _stopped_since: float | None = None
    _parked_since: float | None = None
    _stall_stopped_since: float | None = None
    _contacts: set = field(default_factory=set)

    def reset_motion_history(self) -> None:
        """After a teleport: forget previous samples so no crossing or jerk is invented."""
        self._prev_front_s = self._prev_v = self._prev_a = None
        self._accels = []
        self._stopped_since = None

    def _event(self, t: float, kind: str, x: float, y: float) -> None:
        self.events.append({"t": round(t, 4), "kind": kind, "x": round(x, 3), "y": round(y, 3)})

    def on_contacts(self, t: float, bodies: set[int], x: float, y: float) -> None:
        for _ in sorted(bodies - self._contacts):
            self.collisions += 1
            self._event(t, "collision", x, y)
        self._contacts = set(bodies)

    def update(
        self,
        t: float,
        x: float,
        y: float,
        yaw: float,
        v: float,
        dt: float,
        light_states: dict[int, str],
        actors: list[Actor],
    ) -> None:
        spec = self.spec
        self.sim_time_s = t
        c, s = math.cos(yaw), math.sin(yaw)
        front = self.length - self.rear_overhang
        centre = 0.5 * self.length - self.rear_overhang
        self.route_s, _ = spec.route.project(x, y)
        front_s, _ = spec.route.project(x + front * c, y + front * s)

        # red lights: front bumper crossing a stop line while red
        if self._prev_front_s is not None:
            for sl in spec.stop_lines:
                crossed = self._prev_front_s < sl.route_s <= front_s
                if crossed and light_states.get(sl.light_id) == "red":
                    self.red_light_violations += 1
                    self._event(t, "red_light_violation", x, y)
        self._prev_front_s = front_s

        # off road: footprint centre outside every carriageway
        cx, cy = x + centre * c, y + centre * s
        on_road = False
        for road in spec.roads:
            rs, lat = road.reference.project(cx, cy)
            if 0.0 <= rs <= road.reference.length and abs(lat) <= road.half_width:
                on_road = True
                break
        if not on_road:
            self.offroad_time_s += dt

        # longitudinal acceleration and jerk from the true speed
        if self._prev_v is not None:
            a = (v - self._prev_v) / dt
            self.max_abs_accel = max(self.max_abs_accel, abs(a))
            self._accels.append(a)
            if len(self._accels) > JERK_SMOOTHING_SAMPLES:
                self._accels.pop(0)
            a_smooth = sum(self._accels) / len(self._accels)
            if self._prev_a is not None:
                self.max_abs_jerk = max(self.max_abs_jerk, abs(a_smooth - self._prev_a) / dt)
            self._prev_a = a_smooth
        self._prev_v = v

        # time to collision under constant velocities, in the ego frame
        for act in actors:
            dx, dy = act.x - x, act.y - y
            rel_x, rel_y = c * dx + s * dy, -s * dx + c * dy
            avx, avy = c * act.vx + s * act.vy, -s * act.vx + c * act.vy
            ca, sa = abs(math.cos(act.yaw - yaw)), abs(math.sin(act.yaw - yaw))
            ax = ca * act.half_length + sa * act.half_width
            ay = sa * act.half_length + ca * act.half_width
            ttc = ttc_box(
                rel_x,
                rel_y,
                avx - v,
                avy,
                -self.rear_overhang - ax,
                front + ax,
                -0.5 * self.width - ay,
                0.5 * self.width + ay,
            )
            self.min_ttc_s = min(self.min_ttc_s, ttc)

        if not self.goal_reached and self.route_s >= spec.goal_s:
            self.goal_reached = True
            self._event(t, "goal_reached", x, y)

        if spec.park_s is not None:
            self._update_parking(t, x, y, v, dt)

        if spec.blocked_at_s is not None and not self.stopped_before_block:
            near = spec.blocked_at_s - SAFE_STOP_WINDOW_M <= front_s <= spec.blocked_at_s
            if v < STOP_SPEED and near and self.collisions == 0:
                if self._stopped_since is None:
                    self._stopped_since = t
                if t - self._stopped_since >= SAFE_STOP_HOLD_S - 1e-9:
                    self.stopped_before_block = True
                    self._event(t, "safe_stop", x, y)
            else:
                self._stopped_since = None

        if spec.stall_at_s is not None and not self.stopped_before_stall:
            near = spec.stall_at_s - SAFE_STOP_WINDOW_M <= front_s <= spec.stall_at_s
            if v < STOP_SPEED and near and self.collisions == 0:
                if self._stall_stopped_since is None:
                    self._stall_stopped_since = t
                if t - self._stall_stopped_since >= SAFE_STOP_HOLD_S - 1e-9:
                    self.stopped_before_stall = True
                    self._event(t, "safe_stop", x, y)
            else:
                self._stall_stopped_since = None

    def _update_parking(self, t: float, x: float, y: float, v: float, dt: float) -> None:
        spec = self.spec
        at_spot = abs(self.route_s - spec.park_s) <= PARK_WINDOW_M
        before_request = spec.drive_request_time_s is None or t < spec.drive_request_time_s
        if v < STOP_SPEED and at_spot:
            self.parked_time_s += dt
            if self._parked_since is None:
                self._parked_since = t
            if not self.parked and before_request and t - self._parked_since >= PARK_HOLD_S - 1e-9:
                self.parked = True
                self._event(t, "parked", x, y)
        else:
            self._parked_since = None
        req = spec.drive_request_time_s
        if req is not None and not self.drive_requested and t >= req - 1e-9:
            self.drive_requested = True
            self._event(t, "drive_request", x, y)

    @property
    def success(self) -> bool:
        clean = self.collisions == 0 and self.red_light_violations == 0
        clean = clean and self.offroad_time_s <= MAX_OFFROAD_FOR_SUCCESS_S
        done_ok = self.goal_reached or (self.spec.blocked_at_s is not None and self.stopped_before_block)
        if self.spec.park_s is not None:
            done_ok = done_ok and self.parked  # drove past the parking spot: not a success
        return bool(clean and done_ok)

    def result(self) -> dict:
        total = max(self.spec.goal_s - self.spec.ego_start_s, 1e-6)
        completion = min(1.0, max(0.0, (self.route_s - self.spec.ego_start_s) / total))
        if self.goal_reached:
            completion = 1.0
        return {
            "scenario": self.spec.name,
            "seed": int(self.seed),
            "success": self.success,
            "collisions": int(self.collisions),
            "red_light_violations": int(self.red_light_violations),
            "route_completion": round(completion, 4),
            "offroad_time_s": round(self.offroad_time_s, 4),
            "min_ttc_s": round(min(self.min_ttc_s, TTC_CAP), 3),
            "max_abs_accel": round(self.max_abs_accel, 3),
            "max_abs_jerk": round(self.max_abs_jerk, 3),
            "sim_time_s": round(self.sim_time_s, 4),
            **(
                {"parked": bool(self.parked), "parked_time_s": round(self.parked_time_s, 4)}
                if self.spec.park_s is not None
                else {}
            ),
            # The one verdict on stopping (there was a second field, stopped_safely, that could disagree
            # with it): a stop held SAFE_STOP_HOLD_S before a blocker of either kind (no free lane, or
            # one only System 2 can help past) and no collision in the whole run.
            "safe_stop": bool(
                (self.stopped_before_block or self.stopped_before_stall) and self.collisions == 0
            ),
            "events": list(self.events),
        }

"""The humanoid as ego: a yard world (sim/humanoid_world.py) with the humanoid body, its head camera, its
odometry, IMU and proprioception, stepped one control period per advance(), with ground-truth metrics.

It offers the car Simulation's interface (advance, result, route_map, render_camera, done, t, ...), so the
runners and the sim node host either through sim.hosting.open_simulation. The one difference is the
granularity: the locomotion policy must act every control period (16.5 ms), so advance() steps ONE control
period with the joint efforts of the last command, and the batch carries a camera frame only every
CAMERA_EVERY_CONTROL_PERIODS periods (the same camera grid as the car).

Metrics (ground truth): collisions = new contact episodes of the body with an obstacle (summed over
obstacles, checked after every physics substep), falls (torso below 0.7 m), recoveries (back above
0.9 m), goals_reached / goals_total (the body position, mean of its parts, within goal_radius of the
next goal in order), plus the car's fields. Success: every goal reached, no collision.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time

import numpy as np
import pybullet as p

from sim import clock
from sim.appearance import Palette, default_palette, random_palette
from sim.camera import render
from sim.geometry import wrap_angle
from sim.humanoid import FALL_HEIGHT, HumanoidBody, make_head_camera_model
from sim.humanoid_push import BoxThrower
from sim.humanoid_world import YardSpec, YardWorld, build_yard_spec
from sim.seeding import STREAM_APPEARANCE, STREAM_ODOM_NOISE, rng_for
from sim.semantics import Tag
from sim.types import CameraFrame, JointEffortCommand, Odometry, SensorBatch

# name -> (boxes thrown?, description)
HUMANOID_SCENARIOS: dict[str, tuple[bool, str]] = {
    "humanoid_goals": (False, "humanoid walks a chain of 3-5 goals through an obstacle yard"),
    "humanoid_push": (True, "humanoid_goals with boxes thrown at the robot now and then"),
}
STREAM_PUSH = 4  # sim.seeding stream of the box thrower (layout, appearance, noise are 1-3)
RECOVERED_HEIGHT = 0.9  # m: a fall ends when the torso is back above this
FALLEN_LIMIT_S = 5.0  # s down without recovering ends the run
YARD_LANE_WIDTH = 3.0  # m, the width of the "lane" the route map describes along the goal chain
YARD_SPEED_LIMIT = 2.5  # m/s
ROUTE_SPACING = 1.0  # m between route map points (the car's maps use about 1 m too)
BODY_RADIUS = 0.3  # m, for the ground-truth TTC against obstacles
TTC_CAP = 99.0
JERK_SMOOTHING_SAMPLES = 15


def _resample_chain(points: list[tuple[float, float]], spacing: float) -> np.ndarray:
    """The polyline through points, with a vertex at every point and about `spacing` between vertices."""
    out = [points[0]]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(math.dist(a, b) / spacing))
        for k in range(1, n + 1):
            out.append((a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n))
    return np.asarray(out, dtype=float)


class HumanoidSimulation:
    def __init__(
        self,
        scenario: str,
        seed: int,
        *,
        camera_width: int = 160,
        camera_height: int = 120,
        odom_noise: float = 0.0,
        appearance_seed: int | None = None,
        time_limit_s: float | None = None,
        render_ground_truth: bool = False,
        render_frames: bool = True,
        spec: YardSpec | None = None,
    ):
        if scenario not in HUMANOID_SCENARIOS:
            raise ValueError(
                f"unknown humanoid scenario {scenario!r}; valid: {', '.join(HUMANOID_SCENARIOS)}"
            )
        if odom_noise < 0 or not math.isfinite(odom_noise):
            raise ValueError(f"odom_noise must be a finite std >= 0, got {odom_noise}")
        if time_limit_s is not None and not time_limit_s > 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        self.scenario = scenario
        self.seed = int(seed)
        self.spec: YardSpec = spec if spec is not None else build_yard_spec(self.seed)
        self.palette: Palette = (
            default_palette(rng_for(seed, STREAM_APPEARANCE))
            if appearance_seed is None
            else random_palette(rng_for(appearance_seed, STREAM_APPEARANCE))
        )
        self.time_limit_s = float(time_limit_s if time_limit_s is not None else self.spec.time_limit_s)
        self.odom_noise = float(odom_noise)
        self.render_ground_truth = render_ground_truth
        self.render_frames = render_frames
        self.camera_model = make_head_camera_model(camera_width, camera_height)
        self._noise_rng = rng_for(seed, STREAM_ODOM_NOISE)

        self._client = p.connect(p.DIRECT)
        c = self._client
        self.world = YardWorld(c, self.spec, self.palette)
        x, y, yaw = self.spec.start
        # same start draw as sim.humanoid_world.YardSim / run_goals (the ground-truth reference)
        self.body = HumanoidBody(
            c, [self.world.ground_id], x=x, y=y, yaw=yaw, rng=np.random.default_rng(seed)
        )
        self.world.body_tags[self.body.body_id] = Tag.EGO  # its own camera sees its hands as EGO
        self.world._lut = None
        self.thrower = BoxThrower(c, rng_for(seed, STREAM_PUSH)) if HUMANOID_SCENARIOS[scenario][0] else None
        self._obstacles = frozenset(self.world.obstacle_ids)
        self.stamp_ns = 0
        self.timings: dict[str, list[float]] = {"render": [], "render_cpu": [], "physics": []}
        self._started = False
        self._done_reason: str | None = None
        self._trajectory: list[tuple[float, float, float]] = []
        self._period = 0
        # metrics
        self.goal_index = 0
        self.collisions = 0
        self.falls = 0
        self.recoveries = 0
        self.events: list[dict] = []
        self._touching: set[int] = set()
        self._down_since: float | None = None
        self._min_ttc = math.inf
        self._min_clearance = math.inf
        self._max_abs_accel = 0.0
        self._max_abs_jerk = 0.0
        self._prev_v: float | None = None
        self._prev_a: float | None = None
        self._accels: list[float] = []
        self._leg_lengths = [math.dist(a, b) for a, b in self._chain_pairs()]
        self._record(first=True)

    # ---- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._client is not None:
            p.disconnect(physicsClientId=self._client)
            self._client = None

    def __enter__(self) -> HumanoidSimulation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    # ---- public API ---------------------------------------------------------------------------------
    embodiment = "humanoid"
    control_periods_per_advance = 1

    @property
    def t(self) -> float:
        return clock.ns_to_s(self.stamp_ns)

    @property
    def done(self) -> bool:
        return self._done_reason is not None

    @property
    def done_reason(self) -> str | None:
        return self._done_reason

    @property
    def route_version(self) -> int:
        """Changes whenever route_map() does (a goal was reached): the sim node then re-publishes it."""
        return min(self.goal_index, len(self.spec.goals) - 1)

    def route_map(self) -> dict:
        """The navigation route to the NEXT goal: the leg from the last goal reached (or the start) to
        it, goal_s at its end; it is replaced by the next leg when the goal is reached (route_version).
        One leg at a time, like a mission handing out waypoints: with the whole chain as one route the
        planner followed it past a goal it had missed by a metre (a detour on the inside of a sharp
        corner) and never came back."""
        from planning.types import RouteMap

        k = self.route_version
        chain = [tuple(self.spec.start[:2]), *self.spec.goals]
        pts = _resample_chain([chain[k], chain[k + 1]], ROUTE_SPACING)
        rm = RouteMap(
            centerline=pts,
            lane_width=YARD_LANE_WIDTH,
            speed_limit=YARD_SPEED_LIMIT,
            adjacent_lane_offsets=(),
            stop_lines=(),
            goal_s=None,
        )
        return rm.to_dict()

    def advance(self, command: JointEffortCommand | None) -> SensorBatch:
        """One control period with the command's joint efforts (held from the last command if None);
        the first call returns the state at t = 0 without stepping."""
        self._require_open()
        if command is not None:
            self.body.set_torques(command.effort)
        batch = SensorBatch()
        t0 = time.perf_counter()
        if self._started:
            self._control_period()
        self._started = True
        batch.odometry.append(self._odometry())
        batch.imu.append(self.body.imu(self.stamp_ns))
        batch.proprioception.append(self.body.proprioception(self.stamp_ns))
        t1 = time.perf_counter()
        self.timings["physics"].append((t1 - t0) * 1e3)
        if self.render_frames and self._period % clock.CAMERA_EVERY_CONTROL_PERIODS == 0:
            c1 = time.thread_time()
            batch.camera = self.render_camera(ground_truth=self.render_ground_truth)
            self.timings["render"].append((time.perf_counter() - t1) * 1e3)
            self.timings["render_cpu"].append((time.thread_time() - c1) * 1e3)
        batch.clock_ns = self.stamp_ns
        return batch

    def result(self) -> dict:
        total = sum(self._leg_lengths)
        done_legs = sum(self._leg_lengths[: self.goal_index])
        if self.goal_index < len(self.spec.goals):
            a, b = self._chain_pairs()[self.goal_index]
            bx, by = self._body_xy()
            leg = self._leg_lengths[self.goal_index]
            along = ((bx - a[0]) * (b[0] - a[0]) + (by - a[1]) * (b[1] - a[1])) / max(leg, 1e-9)
            done_legs += min(max(along, 0.0), leg)
        n_goals = len(self.spec.goals)
        success = self.goal_index == n_goals and self.collisions == 0
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "success": bool(success),
            "collisions": int(self.collisions),
            "red_light_violations": 0,
            "route_completion": round(1.0 if self.goal_index == n_goals else done_legs / total, 4),
            "offroad_time_s": 0.0,
            "min_ttc_s": round(min(self._min_ttc, TTC_CAP), 3),
            "max_abs_accel": round(self._max_abs_accel, 3),
            "max_abs_jerk": round(self._max_abs_jerk, 3),
            "sim_time_s": round(self.t, 4),
            "stopped_safely": False,
            "events": list(self.events),
            "goals_reached": int(self.goal_index),
            "goals_total": n_goals,
            "falls": int(self.falls),
            "recoveries": int(self.recoveries),
            "min_clearance_m": round(min(self._min_clearance, TTC_CAP), 3),
            "boxes_thrown": int(self.thrower.throws) if self.thrower is not None else 0,
            "done_reason": self._done_reason or "",
        }

    def render_camera(
        self, *, pose_jitter=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0), ground_truth: bool = True
    ) -> CameraFrame:
        self._require_open()
        eye, rot = self.body.head_camera_pose(self.camera_model, stabilized=True)
        return render(
            self._client,
            self.camera_model,
            eye,
            rot,
            self.palette,
            self.world.tag_lut(),
            self.stamp_ns,
            ground_truth,
        )

    def ego_trajectory(self) -> np.ndarray:
        """(N, 3) rows of t, x, y (torso origin), one per control period."""
        return np.array(self._trajectory, dtype=float).reshape(-1, 3)

    def map_geometry(self) -> dict:
        from sim.map_export import _closed, _rect

        obstacles = []
        for o in self.spec.obstacles:
            if o.kind == "box":
                obstacles.append(_closed(_rect(o.x, o.y, o.yaw, 0.5 * o.length, 0.5 * o.width)))
            else:
                r = 0.5 * o.length
                ring = [
                    [o.x + r * math.cos(a), o.y + r * math.sin(a)] for a in np.linspace(0, 2 * math.pi, 13)
                ]
                obstacles.append([[round(x, 3), round(y, 3)] for x, y in ring])
        h = self.spec.half_size
        border = [[-h, -h], [h, -h], [h, h], [-h, h], [-h, -h]]
        goals = []
        for gx, gy in self.spec.goals:
            r = self.spec.goal_radius
            goals.append(
                [[gx + r * math.cos(a), gy + r * math.sin(a)] for a in np.linspace(0, 2 * math.pi, 17)]
            )
        return {"edges": [border], "obstacles": obstacles, "goals": goals}

    # ---- internals ----------------------------------------------------------------------------------
    def _require_open(self) -> None:
        if self._client is None:
            raise RuntimeError("simulation is closed")

    def _chain_pairs(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        chain = [tuple(self.spec.start[:2]), *self.spec.goals]
        return list(itertools.pairwise(chain))

    def _body_xy(self) -> tuple[float, float]:
        """The body position as the policy and the goal check know it: the mean of its parts."""
        b, c = self.body.body_id, self._client
        pos, _ = p.getBasePositionAndOrientation(b, physicsClientId=c)
        links = p.getLinkStates(b, list(range(self.body.n_links)), physicsClientId=c)
        xs = [pos[0]] + [ls[0][0] for ls in links]
        ys = [pos[1]] + [ls[0][1] for ls in links]
        return float(np.mean(xs)), float(np.mean(ys))

    def _event(self, kind: str, **extra) -> None:
        pos, _ = self.body.torso_pose()
        self.events.append(
            {"t": round(self.t, 4), "kind": kind, "x": round(float(pos[0]), 3), "y": round(float(pos[1]), 3)}
            | extra
        )

    def _control_period(self) -> None:
        c = self._client
        b = self.body
        for _ in range(clock.SUBSTEPS_PER_CONTROL):
            b.apply_torques()
            p.stepSimulation(physicsClientId=c)
            self.stamp_ns += clock.PHYSICS_DT_NS
            if not self.done:
                now = {
                    cp[2] for cp in p.getContactPoints(bodyA=b.body_id, physicsClientId=c)
                } & self._obstacles
                for o in sorted(now - self._touching):  # each new contact episode once
                    self.collisions += 1
                    self._event("collision", body=int(o))
                self._touching = now
        self._period += 1
        if self.thrower is not None:
            pos, _ = b.torso_pose()
            lin, _ = p.getBaseVelocity(b.body_id, physicsClientId=c)
            if self.thrower.after_control_period(pos, lin, float(pos[2])) and not self.done:
                self._event("box_thrown")
        self._record()

    def _record(self, first: bool = False) -> None:
        pos, _ = self.body.torso_pose()
        t = self.t
        self._trajectory.append((round(t, 6), float(pos[0]), float(pos[1])))
        if self.done:
            return
        lin, _ = p.getBaseVelocity(self.body.body_id, physicsClientId=self._client)
        vx, vy = float(lin[0]), float(lin[1])
        self._update_motion(math.hypot(vx, vy))
        self._update_ttc(float(pos[0]), float(pos[1]), vx, vy)
        z = float(pos[2])
        if self._down_since is None and z < FALL_HEIGHT:
            self._down_since = t
            self.falls += 1
            self._event("fall")
        elif self._down_since is not None and z > RECOVERED_HEIGHT:
            self._down_since = None
            self.recoveries += 1
            self._event("recovered")
        bx, by = self._body_xy()
        gx, gy = self.spec.goals[self.goal_index]
        if math.hypot(gx - bx, gy - by) < self.spec.goal_radius:
            self._event("goal_reached", goal=self.goal_index)
            self.goal_index += 1
        if self.goal_index == len(self.spec.goals):
            self._done_reason = "goal_reached"
        elif self._down_since is not None and t - self._down_since >= FALLEN_LIMIT_S - 1e-9:
            self._done_reason = "fallen"
        elif t >= self.time_limit_s - 1e-9:
            self._done_reason = "time_limit"

    def _update_motion(self, v: float) -> None:
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
        """Clearance to every obstacle's covering circle, and the time to close it at the current
        velocity (obstacles are static)."""
        for o in self.spec.obstacles:
            dx, dy = o.x - x, o.y - y
            dist = math.hypot(dx, dy)
            gap = dist - o.radius - BODY_RADIUS
            self._min_clearance = min(self._min_clearance, gap)
            closing = (vx * dx + vy * dy) / max(dist, 1e-9)
            if gap <= 0:
                self._min_ttc = 0.0
            elif closing > 1e-6:
                self._min_ttc = min(self._min_ttc, gap / closing)

    def _odometry(self) -> Odometry:
        o = self.body.odometry(self.stamp_ns)
        n = self._noise_rng.standard_normal(3)  # always drawn so the stream never depends on odom_noise
        sx = self.odom_noise
        syaw = self.odom_noise * 0.1
        return Odometry(
            stamp_ns=o.stamp_ns,
            x=o.x + sx * float(n[0]),
            y=o.y + sx * float(n[1]),
            yaw=wrap_angle(o.yaw + syaw * float(n[2])),
            vx=o.vx,
            vy=o.vy,
            yaw_rate=o.yaw_rate,
            pose_std=(sx, sx, syaw),
        )


__all__ = ["HUMANOID_SCENARIOS", "HumanoidSimulation"]

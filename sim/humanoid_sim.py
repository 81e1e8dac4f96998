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
import math
import time
from collections.abc import Mapping

import numpy as np

from contracts import clock, scenarios
from contracts.messages import CameraFrame, JointEffortCommand, Odometry, SensorBatch
from contracts.semantics import Tag
from sim._quiet_import import pybullet as p
from sim.appearance import Palette, default_palette, random_palette
from sim.camera import render
from sim.geometry import wrap_angle
from sim.humanoid import JOINT_NAMES, HumanoidBody, make_head_camera_model
from sim.humanoid_agent import TTC_CAP, HumanoidAgent
from sim.humanoid_push import BoxThrower
from sim.humanoid_task import WAIT_RADIUS_M, TaskSpec, build_task_spec
from sim.humanoid_world import YardSpec, YardWorld, build_yard_spec
from sim.robots import RobotPort
from sim.seeding import STREAM_APPEARANCE, STREAM_ODOM_NOISE, rng_for
from sim.trajectory_digest import TrajectoryDigest

STREAM_PUSH = 4  # sim.seeding stream of the box thrower (layout, appearance, noise are 1-3)
YARD_LANE_WIDTH = 3.0  # m, the width of the "lane" the route map describes along a leg
YARD_SPEED_LIMIT = 2.5  # m/s


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
        entry = scenarios.get(scenario)
        if entry.embodiment != self.embodiment:
            valid = ", ".join(scenarios.names(self.embodiment))
            raise ValueError(f"unknown {self.embodiment} scenario {scenario!r}; valid: {valid}")
        if odom_noise < 0 or not math.isfinite(odom_noise):
            raise ValueError(f"odom_noise must be a finite std >= 0, got {odom_noise}")
        if time_limit_s is not None and not time_limit_s > 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        self.scenario = scenario
        self.seed = int(seed)
        # a text task (sim/humanoid_task.py): the yard holds the coloured boxes, the one goal is the
        # named box, and the stack gets the sentence and a hold route instead of the goal's leg
        self.task: TaskSpec | None = build_task_spec(self.seed) if entry.text_task else None
        if spec is None:
            spec = self.task.yard if self.task is not None else build_yard_spec(self.seed)
        self.spec: YardSpec = spec
        self.task_text = self.task.text if self.task is not None else ""
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
        self.thrower = BoxThrower(c, rng_for(seed, STREAM_PUSH)) if entry.boxes_thrown else None
        self.agent = HumanoidAgent(
            c,
            self.body,
            (x, y),
            self.spec.goals,
            goal_radius=self.spec.goal_radius,
            hazards=frozenset(self.world.obstacle_ids),
            obstacles=[(o.x, o.y, o.radius) for o in self.spec.obstacles],
            lane_width=YARD_LANE_WIDTH,
            speed_limit=YARD_SPEED_LIMIT,
        )
        self.stamp_ns = 0
        self.timings: dict[str, list[float]] = {"render": [], "render_cpu": [], "physics": []}
        self._started = False
        self._done_reason: str | None = None
        self._trajectory: list[tuple[float, float, float]] = []
        self.digest = TrajectoryDigest()
        self._period = 0
        self._record()

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
    step_period_ns = clock.CONTROL_PERIOD_NS  # one step: one control period (joint efforts every period)

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
    def goal_index(self) -> int:
        return self.agent.goal_index

    @property
    def collisions(self) -> int:
        return self.agent.collisions

    @property
    def route_version(self) -> int:
        """Changes whenever route_map() does (a goal was reached): the sim node then re-publishes it."""
        return self.agent.route_version

    def route_map(self) -> dict:
        """The navigation route to the NEXT goal (HumanoidAgent.route_map: one leg at a time); for a task,
        the hold route (where the box is, only System 2's answer tells)."""
        if self.task is not None:
            return self.task.hold_route()
        return self.agent.route_map()

    # ---- the world interface every simulation has (sim/robots.py) -----------------------------------
    def robots(self) -> tuple[RobotPort, ...]:
        """One robot: the humanoid, under its body's name; its route changes leg by leg."""
        me = self.embodiment
        port = RobotPort(
            me,
            me,
            self.camera_model,
            self.route_map,
            route_version=lambda: self.route_version,
            joint_names=JOINT_NAMES,
        )
        return (port,)

    def step(self, commands: Mapping[str, JointEffortCommand | None]) -> dict[str, SensorBatch]:
        """advance() with the humanoid's command: one control period later."""
        return {self.embodiment: self.advance(commands.get(self.embodiment))}

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
        a = self.agent
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "success": bool(a.success),
            "collisions": int(a.collisions),
            "red_light_violations": 0,
            "route_completion": a.route_completion(),
            "offroad_time_s": 0.0,
            "min_ttc_s": round(min(a.min_ttc, TTC_CAP), 3),
            "max_abs_accel": round(a.max_abs_accel, 3),
            "max_abs_jerk": round(a.max_abs_jerk, 3),
            "sim_time_s": round(self.t, 4),
            "safe_stop": False,  # the goal yards have no blocker to stop for; a text task sets it below
            "events": list(a.events),
            **a.metrics(),
            "boxes_thrown": int(self.thrower.throws) if self.thrower is not None else 0,
            "done_reason": self._done_reason or "",
            "trajectory_sha256": self.digest.hexdigest(),
            **self._task_result(),
        }

    def _task_result(self) -> dict:
        if self.task is None:
            return {}
        a = self.agent
        bx, by = a.body_xy()
        target = self.task.target
        return {
            "task_text": self.task.text,
            "task_target": f"{self.task.colour} box at ({target.x:.2f}, {target.y:.2f})",
            "task_reached": bool(a.finished),
            "task_distance_m": round(max(math.hypot(bx - target.x, by - target.y) - target.radius, 0.0), 3),
            # without System 2 the robot cannot know where to go: waiting in place, unharmed, is the safe
            # outcome (sim/humanoid_task.py)
            "safe_stop": bool(
                a.collisions == 0 and not a.fallen_too_long and a.max_from_start <= WAIT_RADIUS_M
            ),
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

    def actor_tracks(self) -> dict[str, np.ndarray]:
        return {}  # the yard's obstacles stand still; thrown boxes are events of the push scenario

    def key_moments(self) -> list[dict]:
        return []  # a goal reached is a metrics event, drawn as such

    def map_geometry(self) -> dict:
        from sim.map_export import _closed, _rect

        obstacles = []
        for o in self.spec.obstacles:
            if o.kind == "box":
                obstacles.append(_closed(_rect(o.x, o.y, o.yaw, 0.5 * o.length, 0.5 * o.width)))
            else:
                r = 0.5 * o.length
                angles = np.linspace(0, 2 * math.pi, 13)
                ring = [[o.x + r * math.cos(a), o.y + r * math.sin(a)] for a in angles]
                obstacles.append([[round(x, 3), round(y, 3)] for x, y in ring])
        h = self.spec.half_size
        border = [[-h, -h], [h, -h], [h, h], [-h, h], [-h, -h]]
        goals = []
        for gx, gy in self.spec.goals:
            r = self.spec.goal_radius
            angles = np.linspace(0, 2 * math.pi, 17)
            goals.append([[gx + r * math.cos(a), gy + r * math.sin(a)] for a in angles])
        return {"edges": [border], "obstacles": obstacles, "goals": goals}

    # ---- internals ----------------------------------------------------------------------------------
    def _require_open(self) -> None:
        if self._client is None:
            raise RuntimeError("simulation is closed")

    def _control_period(self) -> None:
        c = self._client
        counts = not self.done  # the period that ends the run still counts in the digest
        for _ in range(clock.SUBSTEPS_PER_CONTROL):
            self.agent.before_substep()
            p.stepSimulation(physicsClientId=c)
            self.stamp_ns += clock.PHYSICS_DT_NS
            self.agent.after_substep(self.t, record=not self.done)
        self._period += 1
        if self.thrower is not None:
            b = self.body
            pos, _ = b.torso_pose()
            lin, _ = p.getBaseVelocity(b.body_id, physicsClientId=c)
            if self.thrower.after_control_period(pos, lin, float(pos[2])) and not self.done:
                self.agent.event(self.t, "box_thrown")
        self._record()
        if counts:
            pos, orn = self.body.torso_pose()
            self.digest.add(self.stamp_ns, pos, orn, self.body.held_torques)

    def _record(self) -> None:
        pos, _ = self.body.torso_pose()
        t = self.t
        self._trajectory.append((round(t, 6), float(pos[0]), float(pos[1])))
        if self.done:
            return
        a = self.agent
        a.after_period(t)
        if a.finished:
            self._done_reason = "goal_reached"
        elif a.fallen_too_long:
            self._done_reason = "fallen"
        elif t >= self.time_limit_s - 1e-9:
            self._done_reason = "time_limit"

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


__all__ = ["HumanoidSimulation"]

"""Simulation: one headless PyBullet world for one scenario run, advanced camera frame by camera frame.

Time grid (contracts/clock.py): each control period holds the drive command for 4 physics substeps; odometry
and IMU come every control period, a camera frame every 3 control periods. Everything is a pure
function of (scenario, seed, commands): no wall clock, no global RNG.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping

import numpy as np

from contracts import clock
from contracts.messages import CameraFrame, DriveCommand, Imu, Odometry, SensorBatch
from sim._quiet_import import pybullet as p
from sim.actors import LeadVehicle, Walker
from sim.appearance import Palette, default_palette, random_palette
from sim.camera import camera_pose_world, make_camera_model, render
from sim.ego import EgoState, step
from sim.geometry import wrap_angle
from sim.key_moments import LEAD, EgoLog, car_moments, oncoming_track, pedestrian_track
from sim.layout import ScenarioSpec
from sim.metrics import Actor, Metrics
from sim.robots import RobotPort
from sim.scenarios import build_scenario
from sim.seeding import STREAM_APPEARANCE, STREAM_LAYOUT, STREAM_ODOM_NOISE, rng_for
from sim.traffic import OncomingVehicle
from sim.trajectory_digest import TrajectoryDigest
from sim.world import CAR_LENGTH, CAR_REAR_OVERHANG, CAR_WIDTH, World

GRAVITY = 9.81
YAW_NOISE_PER_METRE = 0.1  # odom yaw noise std (rad) per metre of position noise std


class Simulation:
    embodiment = "car"  # the body it simulates: its file in contracts/embodiments/
    step_period_ns = clock.CAMERA_PERIOD_NS  # one step: the control periods up to the next camera frame

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
        spec: ScenarioSpec | None = None,
    ):
        """render_frames=False (not for the stack: for oracle tests and batch metrics) skips camera
        rendering in advance(); batches then carry camera=None. Physics is unaffected.
        spec: a ready-made layout instead of the scenario's builder (sim/shared_sim.py builds its own)."""
        if odom_noise < 0 or not math.isfinite(odom_noise):
            raise ValueError(f"odom_noise must be a finite std >= 0, got {odom_noise}")
        if time_limit_s is not None and not time_limit_s > 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        self.scenario = scenario
        self.seed = int(seed)
        self.spec: ScenarioSpec = (
            spec if spec is not None else build_scenario(scenario, rng_for(seed, STREAM_LAYOUT))
        )
        self.palette: Palette = (
            default_palette(rng_for(seed, STREAM_APPEARANCE))
            if appearance_seed is None
            else random_palette(rng_for(appearance_seed, STREAM_APPEARANCE))
        )
        self.time_limit_s = float(time_limit_s if time_limit_s is not None else self.spec.time_limit_s)
        self.odom_noise = float(odom_noise)
        self.render_ground_truth = render_ground_truth
        self.render_frames = render_frames
        self.camera_model = make_camera_model(camera_width, camera_height)
        self._noise_rng = rng_for(seed, STREAM_ODOM_NOISE)

        self._client = p.connect(p.DIRECT)
        c = self._client
        p.setPhysicsEngineParameter(
            fixedTimeStep=clock.PHYSICS_DT, deterministicOverlappingPairs=1, physicsClientId=c
        )
        self.world = World(c, self.spec, self.palette)

        x, y, h = self.spec.route.sample(self.spec.ego_start_s)
        self.ego = EgoState(x, y, h)
        self.walkers = [Walker(ps) for ps in self.spec.pedestrians]
        self.lead = LeadVehicle(self.spec.lead) if self.spec.lead is not None else None
        self.oncoming = [OncomingVehicle(o) for o in self.spec.oncoming]
        self.metrics = Metrics(self.spec, self.seed, CAR_REAR_OVERHANG, CAR_LENGTH, CAR_WIDTH)
        self.stamp_ns = 0
        self.timings: dict[str, list[float]] = {"render": [], "render_cpu": [], "physics": []}
        self._command = (0.0, 0.0)
        self._started = False
        self._done_reason: str | None = None
        self._trajectory: list[tuple[float, float, float]] = []
        self._speeds: list[float] = []
        self._tracks: dict[str, list[tuple[float, float, float]]] = {}  # plots: sim/key_moments.py
        self.digest = TrajectoryDigest()
        self._update_actors(0.0)
        self._record_metrics(0.0, first=True)

    # ---- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._client is not None:
            p.disconnect(physicsClientId=self._client)
            self._client = None

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # interpreter shutdown may have torn pybullet down already; nothing useful to report then
        with contextlib.suppress(Exception):
            self.close()

    # ---- public API -------------------------------------------------------------------------------
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
    def drive_requested(self) -> bool:
        """The owner's scripted drive request (parking scenarios) has come: the car should leave."""
        return self.metrics.drive_requested

    def route_map(self) -> dict:
        from planning.types import RouteMap, StopLine

        spec = self.spec
        rm = RouteMap(
            centerline=spec.route.points,
            lane_width=spec.roads[0].lane_width,
            speed_limit=spec.speed_limit,
            adjacent_lane_offsets=tuple(spec.adjacent_lane_offsets),
            stop_lines=tuple(StopLine(round(sl.route_s, 3), sl.light_id) for sl in spec.stop_lines),
            goal_s=round(spec.goal_s, 3),
            park_s=None if spec.park_s is None else round(spec.park_s, 3),
            oncoming_lane_offsets=tuple(spec.oncoming_lane_offsets),
        )
        return rm.to_dict()

    # ---- the world interface every simulation has (sim/robots.py) -----------------------------------
    def robots(self) -> tuple[RobotPort, ...]:
        """One robot: the car, under its body's name."""
        car = self.embodiment
        # read when asked, not now: the request comes during the run
        port = RobotPort(
            car, car, self.camera_model, self.route_map, drive_requested=lambda: self.drive_requested
        )
        return (port,)

    def step(self, commands: Mapping[str, DriveCommand | None]) -> dict[str, SensorBatch]:
        """advance() with the car's command: one camera frame later."""
        return {self.embodiment: self.advance(commands.get(self.embodiment))}

    def advance(self, command: DriveCommand | None) -> SensorBatch:
        self._require_open()
        if command is not None:
            self._command = (float(command.speed), float(command.yaw_rate))
            if not all(math.isfinite(v) for v in self._command):
                raise ValueError(f"drive command must be finite, got {command}")
        batch = SensorBatch()
        t0 = time.perf_counter()
        if not self._started:
            self._started = True
            batch.odometry.append(self._odometry())
            batch.imu.append(self._imu())
        else:
            for _ in range(clock.CAMERA_EVERY_CONTROL_PERIODS):
                self._control_period()
                batch.odometry.append(self._odometry())
                batch.imu.append(self._imu())
        t1 = time.perf_counter()
        self.timings["physics"].append((t1 - t0) * 1e3)
        if self.render_frames:
            c1 = time.thread_time()
            batch.camera = self.render_camera(ground_truth=self.render_ground_truth)
            # wall time is what lockstep waits for; CPU time is what the renderer costs on an idle machine
            self.timings["render"].append((time.perf_counter() - t1) * 1e3)
            self.timings["render_cpu"].append((time.thread_time() - c1) * 1e3)
        batch.clock_ns = self.stamp_ns
        return batch

    def result(self) -> dict:
        out = self.metrics.result()
        out["done_reason"] = self._done_reason or ""
        out["trajectory_sha256"] = self.digest.hexdigest()
        if self.oncoming or self.spec.oncoming_lane_offsets:
            out["oncoming_yields"] = self.oncoming_yields()  # oncoming cars that had to brake for the ego
        return out

    def render_camera(
        self, *, pose_jitter=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0), ground_truth: bool = True
    ) -> CameraFrame:
        self._require_open()
        eye, rot = camera_pose_world(self.camera_model, self.ego.x, self.ego.y, self.ego.yaw, pose_jitter)
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

    def teleport_ego(
        self, s: float, lateral: float = 0.0, yaw_offset: float = 0.0, speed: float = 0.0
    ) -> None:
        self._require_open()
        if not all(math.isfinite(v) for v in (s, lateral, yaw_offset, speed)) or speed < 0:
            raise ValueError(
                f"teleport needs finite s, lateral, yaw_offset and speed >= 0, got "
                f"{(s, lateral, yaw_offset, speed)}"
            )
        x, y = self.spec.route.offset_point(s, lateral)
        h = self.spec.route.heading(s) + yaw_offset
        self.ego = EgoState(x, y, h, v=float(speed))
        self._command = (float(speed), 0.0)
        self.world.set_pose(self.world.ego_id, x, y, h)
        self.metrics.reset_motion_history()

    def set_time(self, t_s: float) -> None:
        """Dataset helper: pose the time-driven actors as at time t_s (light phases; walkers on their
        scheduled crossing if the ego has not triggered them earlier). The lead vehicle is integrated
        with the physics and does not move. Does not change stamp_ns; do not mix with advance()."""
        self._require_open()
        self._update_actors(float(t_s))

    def ego_trajectory(self) -> np.ndarray:
        """(N, 3) rows of t, x, y, one per control period."""
        return np.array(self._trajectory, dtype=float).reshape(-1, 3)

    def map_geometry(self) -> dict:
        from sim.map_export import map_geometry

        return map_geometry(self.spec)

    def actor_tracks(self) -> dict[str, np.ndarray]:
        """Each moving actor's (N, 3) rows t, x, y, one per control period (the ego's periods)."""
        return {name: np.array(rows, dtype=float).reshape(-1, 3) for name, rows in self._tracks.items()}

    def key_moments(self) -> list[dict]:
        """What the plot of this run marks (sim/key_moments.py), as plain dicts."""
        traj = self.ego_trajectory()
        ego = EgoLog(
            traj[:, 0], traj[:, 1], traj[:, 2], np.array(self._speeds), CAR_LENGTH - CAR_REAR_OVERHANG,
            CAR_REAR_OVERHANG,
        )  # fmt: skip
        return [m.as_dict() for m in car_moments(self.spec, ego, self.actor_tracks())]

    # ---- internals ----------------------------------------------------------------------------------
    def _require_open(self) -> None:
        if self._client is None:
            raise RuntimeError("simulation is closed")

    def _control_period(self) -> None:
        c = self._client
        w = self.world
        counts = not self.done  # the period that ends the run still counts in the digest
        if self.oncoming:
            self._oncoming_plan()
        for _ in range(clock.SUBSTEPS_PER_CONTROL):
            step(self.ego, self._command[0], self._command[1], clock.PHYSICS_DT)
            self.stamp_ns += clock.PHYSICS_DT_NS
            t = self.t
            if self.lead is not None:
                self.lead.step(t, clock.PHYSICS_DT)
            for car in self.oncoming:
                car.step(clock.PHYSICS_DT)
            self._update_actors(t)
            w.set_pose(w.ego_id, self.ego.x, self.ego.y, self.ego.yaw)
            self._before_physics_step()
            p.stepSimulation(physicsClientId=c)
            self._after_physics_step()
            if not self.done:
                touching = {
                    b for b in w.collidable if p.getClosestPoints(w.ego_id, b, 0.0, physicsClientId=c)
                }
                self.metrics.on_contacts(t, touching, self.ego.x, self.ego.y)
        self._record_metrics(self.t)
        if counts:
            self._digest_period()

    def _digest_period(self) -> None:
        """This period's poses and held commands into the trajectory digest (shared_sim adds its humanoid)."""
        e = self.ego
        self.digest.add(self.stamp_ns, (e.x, e.y, e.yaw, e.v, e.steer), self._command)

    def _before_physics_step(self) -> None:
        """Hook for a world that hosts a dynamic body too (sim/shared_sim.py: the humanoid's torques)."""

    def _after_physics_step(self) -> None:
        """Hook called after every physics substep (sim/shared_sim.py: the humanoid's contacts)."""

    def _oncoming_plan(self) -> None:
        """Each oncoming car brakes for the ego (or a car ahead of it) in its lane, RSS-style."""
        e = self.ego
        off = 0.5 * CAR_LENGTH - CAR_REAR_OVERHANG
        boxes = [(e.x + off * math.cos(e.yaw), e.y + off * math.sin(e.yaw))]
        for car in self.oncoming:
            x, y, yaw, _, _ = car.state()
            boxes.append((x + off * math.cos(yaw), y + off * math.sin(yaw)))
        lane_half = 0.5 * self.spec.roads[0].lane_width
        for i, car in enumerate(self.oncoming):
            gaps = [car.gap_to(bx, by, 0.5 * CAR_LENGTH, 0.5 * CAR_WIDTH, lane_half) for bx, by in boxes]
            others = [g for j, g in enumerate(gaps[1:]) if j != i and g is not None]
            car.plan(min(others) if others else None, gaps[0])

    def oncoming_yields(self) -> int:
        return sum(car.yields for car in self.oncoming)

    def _front_route_s(self) -> float:
        front = CAR_LENGTH - CAR_REAR_OVERHANG
        e = self.ego
        return self.spec.route.project(e.x + front * math.cos(e.yaw), e.y + front * math.sin(e.yaw))[0]

    def _update_actors(self, t: float) -> None:
        w = self.world
        for i, light in enumerate(self.spec.lights):
            w.set_light_state(i, light.state_at(t))
        if self.walkers:
            front_s = self._front_route_s()
            for walker, body in zip(self.walkers, w.pedestrian_ids, strict=True):
                walker.update(t, front_s, self.ego.v)
                x, y, yaw, _, _ = walker.state(t)
                w.set_pose(body, x, y, yaw)
        if self.lead is not None:
            x, y, yaw, _, _ = self.lead.state()
            w.set_pose(w.lead_id, x, y, yaw)
        for car, body in zip(self.oncoming, w.oncoming_ids, strict=True):
            x, y, yaw, _, _ = car.state()
            w.set_pose(body, x, y, yaw)

    def _actors(self) -> list[Actor]:
        acts = []
        for o in self.spec.obstacles:
            acts.append(Actor(o.x, o.y, o.yaw, 0.0, 0.0, 0.5 * o.length, 0.5 * o.width))
        for walker in self.walkers:
            x, y, yaw, vx, vy = walker.state(self.t)
            acts.append(Actor(x, y, yaw, vx, vy, walker.spec.radius, walker.spec.radius))
        if self.lead is not None:
            x, y, yaw, vx, vy = self.lead.state()
            off = 0.5 * CAR_LENGTH - CAR_REAR_OVERHANG  # box centre ahead of the rear axle
            acts.append(
                Actor(
                    x + off * math.cos(yaw),
                    y + off * math.sin(yaw),
                    yaw,
                    vx,
                    vy,
                    0.5 * CAR_LENGTH,
                    0.5 * CAR_WIDTH,
                )
            )
        off = 0.5 * CAR_LENGTH - CAR_REAR_OVERHANG
        for car in self.oncoming:
            x, y, yaw, vx, vy = car.state()
            acts.append(
                Actor(
                    x + off * math.cos(yaw),
                    y + off * math.sin(yaw),
                    yaw,
                    vx,
                    vy,
                    0.5 * CAR_LENGTH,
                    0.5 * CAR_WIDTH,
                )
            )
        return acts

    def _record_metrics(self, t: float, first: bool = False) -> None:
        e = self.ego
        self._trajectory.append((round(t, 6), e.x, e.y))
        self._speeds.append(e.v)
        self._record_tracks(round(t, 6))
        if self.done:
            return
        states = {light.light_id: light.state_at(t) for light in self.spec.lights}
        self.metrics.update(t, e.x, e.y, e.yaw, e.v, clock.CONTROL_PERIOD, states, self._actors())
        m = self.metrics
        if m.collisions > 0:
            self._done_reason = "collision"
        elif m.goal_reached:
            self._done_reason = "goal_reached"
        elif m.stopped_before_block:
            self._done_reason = "safe_stop"
        elif t >= self.time_limit_s - 1e-9:
            self._done_reason = "time_limit"

    def _record_tracks(self, t: float) -> None:
        rows = [(pedestrian_track(i), w.state(t)) for i, w in enumerate(self.walkers)]
        rows += [(oncoming_track(i), car.state()) for i, car in enumerate(self.oncoming)]
        if self.lead is not None:
            rows.append((LEAD, self.lead.state()))
        for name, (x, y, *_) in rows:
            self._tracks.setdefault(name, []).append((t, x, y))

    def _odometry(self) -> Odometry:
        e = self.ego
        n = self._noise_rng.standard_normal(3)  # always drawn so the stream never depends on odom_noise
        sx = self.odom_noise
        syaw = self.odom_noise * YAW_NOISE_PER_METRE
        return Odometry(
            stamp_ns=self.stamp_ns,
            x=e.x + sx * float(n[0]),
            y=e.y + sx * float(n[1]),
            yaw=wrap_angle(e.yaw + syaw * float(n[2])),
            vx=e.v,
            vy=0.0,
            yaw_rate=e.yaw_rate,
            pose_std=(sx, sx, syaw),
        )

    def _imu(self) -> Imu:
        e = self.ego
        return Imu(
            stamp_ns=self.stamp_ns, accel=(e.accel, e.v * e.yaw_rate, GRAVITY), gyro=(0.0, 0.0, e.yaw_rate)
        )


__all__ = ["Simulation"]

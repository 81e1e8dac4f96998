"""A flat test ground for the humanoid and a ground-truth target-following loop (no perception, no
planning): what the locomotion tests, the locomotion benchmark and the yard harness share.

The controller is anything with reset() and step(proprio, target_xy) -> action (planning.locomotion.
LocomotionController); sim does not import planning.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from contracts import clock
from sim._quiet_import import pybullet as p
from sim.humanoid import FALL_HEIGHT, HumanoidBody

GRAVITY = 9.81
REACH_RADIUS = 1.0  # m, the original environment's flag radius
RECOVERED_HEIGHT = 0.9  # m: a fall ends when the torso is back above this


class FlatGround:
    """Its own PyBullet client: an infinite collision plane and one humanoid, with the training physics."""

    def __init__(self, seed: int, x: float = 0.0, y: float = 0.0, yaw: float = 0.0):
        self.client = p.connect(p.DIRECT)
        c = self.client
        p.setGravity(0, 0, -GRAVITY, physicsClientId=c)
        plane = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=c)
        self.floor_id = p.createMultiBody(0, plane, physicsClientId=c)
        self.body = HumanoidBody(c, [self.floor_id], x=x, y=y, yaw=yaw, rng=np.random.default_rng(seed))

    def close(self) -> None:
        if self.client is not None:
            p.disconnect(physicsClientId=self.client)
            self.client = None

    def __enter__(self) -> FlatGround:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()


@dataclass
class WalkLog:
    steps: int = 0
    targets_reached: int = 0
    reached_at: list[int] = field(default_factory=list)  # policy step of each reach
    falls: int = 0
    recoveries: int = 0
    min_torso_z: float = math.inf
    distance: float = 0.0  # m, path length of the torso on the ground
    xy: list[tuple[float, float]] = field(default_factory=list)  # torso x, y after each step
    physics_ms: list[float] = field(default_factory=list)
    policy_ms: list[float] = field(default_factory=list)  # observation + inference
    wall_s: float = 0.0

    @property
    def final_xy(self) -> tuple[float, float]:
        return self.xy[-1] if self.xy else (math.nan, math.nan)


TargetFn = Callable[[int, np.ndarray], tuple[float, float]]


def follow_targets(
    body: HumanoidBody,
    controller,
    next_target: TargetFn,
    max_steps: int,
    *,
    reach_radius: float = REACH_RADIUS,
    stop_after: int | None = None,
    timing: bool = False,
) -> WalkLog:
    """Walk to next_target(k, body_xy) (k = targets reached so far), switching when within reach_radius
    of the body position (mean of parts), until max_steps policy steps or stop_after targets."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    log = WalkLog()
    controller.reset()
    stamp = 0
    target: tuple[float, float] | None = None
    down = False
    prev_xy = None
    t_start = time.perf_counter()
    for step in range(max_steps):
        t0 = time.perf_counter()
        proprio = body.proprioception(stamp)
        body_xy = np.asarray(proprio.parts_mean_xy)
        if target is None:
            target = next_target(log.targets_reached, body_xy)
        if math.hypot(target[0] - body_xy[0], target[1] - body_xy[1]) < reach_radius:
            log.targets_reached += 1
            log.reached_at.append(step)
            if stop_after is not None and log.targets_reached >= stop_after:
                break
            target = next_target(log.targets_reached, body_xy)
        action = controller.step(proprio, target)
        t1 = time.perf_counter()
        body.set_action(action)
        body.step_control_period()
        stamp += clock.CONTROL_PERIOD_NS
        if timing:
            log.policy_ms.append((t1 - t0) * 1e3)
            log.physics_ms.append((time.perf_counter() - t1) * 1e3)
        log.steps = step + 1
        pos, _ = body.torso_pose()
        z = float(pos[2])
        log.min_torso_z = min(log.min_torso_z, z)
        if not down and z < FALL_HEIGHT:
            down = True
            log.falls += 1
        elif down and z > RECOVERED_HEIGHT:
            down = False
            log.recoveries += 1
        xy = (float(pos[0]), float(pos[1]))
        if prev_xy is not None:
            log.distance += math.hypot(xy[0] - prev_xy[0], xy[1] - prev_xy[1])
        prev_xy = xy
        log.xy.append(xy)
    log.wall_s = time.perf_counter() - t_start
    return log


def random_targets(rng: np.random.Generator, min_dist: float = 5.0, max_dist: float = 10.0) -> TargetFn:
    """Targets min_dist..max_dist from the body at a uniform bearing, drawn when needed."""
    if not 0 < min_dist <= max_dist:
        raise ValueError(f"need 0 < min_dist <= max_dist, got {min_dist}, {max_dist}")

    def next_target(_k: int, body_xy: np.ndarray) -> tuple[float, float]:
        d = float(rng.uniform(min_dist, max_dist))
        a = float(rng.uniform(-math.pi, math.pi))
        return float(body_xy[0] + d * math.cos(a)), float(body_xy[1] + d * math.sin(a))

    return next_target


__all__ = ["FlatGround", "WalkLog", "follow_targets", "random_targets"]

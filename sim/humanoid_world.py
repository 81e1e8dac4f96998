"""A per-seed yard for the humanoid: flat ground, box and cone obstacles, 3–5 goal markers.

The spec is generated path-first so that it is always walkable in the given goal order: the goals are
laid out as a chain start → g1 → … → gN with legs of 5–9 m inside the yard, then obstacles are drawn
uniformly and rejected if they come within CLEARANCE of any leg (the walking line) or within
TURN_CLEARANCE of a goal (the policy swings wide when it turns to the next goal). A straight walk
from goal to goal therefore never meets an obstacle; perception and planning are still needed to walk
around obstacles when the stack's path differs from the straight line.

run_goals() walks the chain on ground truth (the next goal is the policy's target; no perception, no
planning): the reference for what locomotion alone achieves in each yard.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from contracts import clock
from contracts.semantics import Tag
from sim._quiet_import import pybullet as p
from sim.appearance import Palette, default_palette
from sim.humanoid import FALL_HEIGHT, HumanoidBody
from sim.seeding import STREAM_APPEARANCE, STREAM_LAYOUT, rng_for

YARD_HALF = 14.0  # m, the yard is [-14, 14]² (the policy trained on targets within ±13 x ±6 m)
LEG_MIN, LEG_MAX = 5.0, 9.0  # m between consecutive goals
GOAL_MARGIN = 2.0  # m, goals stay this far inside the yard
CLEARANCE = 1.6  # m from a leg to an obstacle's footprint circle
TURN_CLEARANCE = 2.8  # m from a goal to an obstacle's footprint circle
GOAL_RADIUS = 1.0  # m, a goal counts as reached within this of the body position
GRAVITY = 9.81


@dataclass(frozen=True)
class YardObstacle:
    kind: str  # "box" or "cone"
    x: float
    y: float
    yaw: float
    length: float  # box: x extent; cone: base diameter
    width: float  # box: y extent; cone: base diameter
    height: float
    rgba: tuple[float, float, float, float] | None = None  # None: the palette's obstacle colours

    @property
    def radius(self) -> float:
        """Radius of a circle covering the footprint (used for clearance)."""
        return 0.5 * math.hypot(self.length, self.width) if self.kind == "box" else 0.5 * self.length


@dataclass(frozen=True)
class YardSpec:
    seed: int
    start: tuple[float, float, float]  # x, y, yaw of the humanoid
    goals: tuple[tuple[float, float], ...]  # in walking order
    obstacles: tuple[YardObstacle, ...]
    half_size: float = YARD_HALF
    goal_radius: float = GOAL_RADIUS
    time_limit_s: float = 60.0
    legs: tuple[float, ...] = field(default=())  # m, start→g1, g1→g2, ...

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "start": list(self.start),
            "goals": [list(g) for g in self.goals],
            "obstacles": [{k: v for k, v in o.__dict__.items() if v is not None} for o in self.obstacles],
            "half_size": self.half_size,
            "goal_radius": self.goal_radius,
            "time_limit_s": self.time_limit_s,
        }


def _point_segment_distance(px: float, py: float, a, b) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    L2 = dx * dx + dy * dy
    t = 0.0 if L2 == 0 else min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / L2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def build_yard_spec(seed: int, n_goals: int | None = None, n_obstacles: int | None = None) -> YardSpec:
    rng = rng_for(seed, STREAM_LAYOUT)
    n_goals = int(rng.integers(3, 6)) if n_goals is None else int(n_goals)
    n_obstacles = int(rng.integers(8, 15)) if n_obstacles is None else int(n_obstacles)
    if not 1 <= n_goals <= 10 or n_obstacles < 0:
        raise ValueError(f"need 1..10 goals and >= 0 obstacles, got {n_goals}, {n_obstacles}")
    lim = YARD_HALF - GOAL_MARGIN
    start = (float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)), float(rng.uniform(-math.pi, math.pi)))
    chain = [start[:2]]
    heading = start[2]
    for _ in range(n_goals):
        for _attempt in range(200):
            # mostly ahead, sometimes a sharp turn: the policy must turn on the spot now and then
            h = heading + float(rng.uniform(-2.2, 2.2))
            d = float(rng.uniform(LEG_MIN, LEG_MAX))
            g = (chain[-1][0] + d * math.cos(h), chain[-1][1] + d * math.sin(h))
            far_from_others = all(math.dist(g, q) > 3.0 for q in chain[:-1])
            if abs(g[0]) <= lim and abs(g[1]) <= lim and far_from_others:
                break
        else:  # pragma: no cover - the yard is large enough that this does not happen
            raise RuntimeError(f"yard seed {seed}: could not place goal {len(chain)}")
        chain.append((round(g[0], 3), round(g[1], 3)))
        heading = h
    legs = list(itertools.pairwise(chain))
    obstacles: list[YardObstacle] = []
    tries = 0
    while len(obstacles) < n_obstacles and tries < 5000:
        tries += 1
        if rng.uniform() < 0.6:
            size = rng.uniform(0.4, 1.2, 2)
            o = YardObstacle(
                "box",
                float(rng.uniform(-YARD_HALF + 1, YARD_HALF - 1)),
                float(rng.uniform(-YARD_HALF + 1, YARD_HALF - 1)),
                float(rng.uniform(-math.pi, math.pi)),
                round(float(size[0]), 3),
                round(float(size[1]), 3),
                round(float(rng.uniform(0.4, 1.0)), 3),
            )
        else:
            d = round(float(rng.uniform(0.3, 0.45)), 3)
            o = YardObstacle(
                "cone",
                float(rng.uniform(-YARD_HALF + 1, YARD_HALF - 1)),
                float(rng.uniform(-YARD_HALF + 1, YARD_HALF - 1)),
                0.0,
                d,
                d,
                round(float(rng.uniform(0.5, 0.8)), 3),
            )
        o = YardObstacle(o.kind, round(o.x, 3), round(o.y, 3), round(o.yaw, 4), o.length, o.width, o.height)
        if any(_point_segment_distance(o.x, o.y, a, b) < CLEARANCE + o.radius for a, b in legs):
            continue
        if any(math.dist((o.x, o.y), g) < TURN_CLEARANCE + o.radius for g in chain):
            continue
        if any(math.dist((o.x, o.y), (q.x, q.y)) < o.radius + q.radius + 0.5 for q in obstacles):
            continue
        obstacles.append(o)
    total = sum(math.dist(a, b) for a, b in legs)
    return YardSpec(
        seed=int(seed),
        start=tuple(round(v, 4) for v in start),
        goals=tuple(chain[1:]),
        obstacles=tuple(obstacles),
        # walking speed is about 2.4 m/s; allow for turns, a fall and a recovery
        time_limit_s=round(10.0 + total / 1.0, 1),
        legs=tuple(round(math.dist(a, b), 3) for a, b in legs),
    )


class YardWorld:
    """The yard's bodies in a PyBullet client, with the body → Tag lookup (as sim.world.World)."""

    def __init__(self, client: int, spec: YardSpec, palette: Palette):
        self.client, self.spec, self.palette = client, spec, palette
        c = client
        p.setGravity(0, 0, -GRAVITY, physicsClientId=c)
        self.body_tags: dict[int, Tag] = {}
        plane = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=c)
        vs = p.createVisualShape(
            p.GEOM_BOX, halfExtents=[60, 60, 0.05], visualFramePosition=[0, 0, -0.05], physicsClientId=c
        )
        self.ground_id = p.createMultiBody(0, plane, vs, [0, 0, 0], physicsClientId=c)
        p.changeVisualShape(self.ground_id, -1, rgbaColor=list(palette.ground), physicsClientId=c)
        self.body_tags[self.ground_id] = Tag.BACKGROUND
        self.obstacle_ids = [self._build_obstacle(o, i) for i, o in enumerate(spec.obstacles)]
        # Goals are map data (the route through them), not drawn in the world: the perception model never
        # saw goal markers in training and read a yellow post as a pedestrian, a yellow ground disc as a
        # vehicle, and planning then yielded to every goal. Plots draw them (map_geometry).
        self.goal_ids: list[int] = []
        self._lut: np.ndarray | None = None

    def _build_obstacle(self, o: YardObstacle, i: int) -> int:
        c = self.client
        rgba = list(o.rgba or self.palette.obstacle[i % len(self.palette.obstacle)])
        if o.kind == "box":
            half = [0.5 * o.length, 0.5 * o.width, 0.5 * o.height]
            col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
            vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba, physicsClientId=c)
        else:
            # a cone is drawn as a narrow cylinder (PyBullet has no cone primitive); collision matches
            r = 0.5 * o.length
            col = p.createCollisionShape(p.GEOM_CYLINDER, radius=r, height=o.height, physicsClientId=c)
            vis = p.createVisualShape(
                p.GEOM_CYLINDER,
                radius=r,
                length=o.height,
                rgbaColor=[0.95, 0.45, 0.05, 1.0],
                physicsClientId=c,
            )
        quat = (0.0, 0.0, math.sin(0.5 * o.yaw), math.cos(0.5 * o.yaw))
        body = p.createMultiBody(0, col, vis, [o.x, o.y, 0.5 * o.height], quat, physicsClientId=c)
        self.body_tags[body] = Tag.OBSTACLE
        return body

    def tag_lut(self) -> np.ndarray:
        if self._lut is None:
            lut = np.zeros(max(self.body_tags) + 2, dtype=np.uint8)
            for body, tag in self.body_tags.items():
                lut[body + 1] = int(tag)
            self._lut = lut
        return self._lut


class YardSim:
    """Yard + humanoid in their own PyBullet client (standalone harness)."""

    def __init__(self, seed: int, spec: YardSpec | None = None):
        self.spec = spec if spec is not None else build_yard_spec(seed)
        self.client = p.connect(p.DIRECT)
        self.palette = default_palette(rng_for(seed, STREAM_APPEARANCE))
        self.world = YardWorld(self.client, self.spec, self.palette)
        x, y, yaw = self.spec.start
        self.body = HumanoidBody(
            self.client, [self.world.ground_id], x=x, y=y, yaw=yaw, rng=np.random.default_rng(seed)
        )
        # its own head camera sees its hands as EGO; another robot's camera should see it as PEDESTRIAN
        # (swap this entry of the lookup table when rendering for that camera)
        self.world.body_tags[self.body.body_id] = Tag.EGO

    def obstacle_contacts(self) -> set[int]:
        b, c = self.body.body_id, self.client
        return {o for o in self.world.obstacle_ids if p.getContactPoints(b, o, physicsClientId=c)}

    def close(self) -> None:
        if self.client is not None:
            p.disconnect(physicsClientId=self.client)
            self.client = None

    def __enter__(self) -> YardSim:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()


def run_goals(seed: int, controller, *, spec: YardSpec | None = None, recovered_height: float = 0.9) -> dict:
    """Walk the yard's goal chain with the goals as ground-truth targets. Returns the scenario-style
    counters: goals_reached, goals_total, falls, recoveries, obstacle_contacts (distinct bodies touched,
    summed over contact episodes), time_s, success."""
    with YardSim(seed, spec) as ys:
        spec = ys.spec
        body = ys.body
        controller.reset()
        limit = round(spec.time_limit_s / clock.CONTROL_PERIOD)
        goal_i = 0
        falls = recoveries = contacts = 0
        down = False
        touching: set[int] = set()
        steps = 0
        while steps < limit:
            steps += 1
            proprio = body.proprioception(0)
            bx, by = proprio.parts_mean_xy
            gx, gy = spec.goals[goal_i]
            if math.hypot(gx - bx, gy - by) < spec.goal_radius:
                goal_i += 1
                if goal_i == len(spec.goals):
                    break
                gx, gy = spec.goals[goal_i]
            body.set_action(controller.step(proprio, (gx, gy)))
            body.step_control_period()
            now = ys.obstacle_contacts()
            contacts += len(now - touching)  # count each new contact episode once
            touching = now
            z = body.torso_height()
            if not down and z < FALL_HEIGHT:
                down, falls = True, falls + 1
            elif down and z > recovered_height:
                down, recoveries = False, recoveries + 1
        return {
            "seed": seed,
            "goals_reached": goal_i,
            "goals_total": len(spec.goals),
            "falls": falls,
            "recoveries": recoveries,
            "obstacle_contacts": contacts,
            "time_s": round(steps * clock.CONTROL_PERIOD, 3),
            "success": goal_i == len(spec.goals) and contacts == 0,
        }


__all__ = ["YardObstacle", "YardSim", "YardSpec", "YardWorld", "build_yard_spec", "run_goals"]

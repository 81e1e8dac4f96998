"""Boxes thrown at the humanoid, as in the policy's training environment (HumanoidFlagrunHarder):
every 30 control periods after the first 100 (while the robot is up), a 1.2 kg cube starts 4 m from the
body at a random bearing, 1 m above it, aimed at where the body will be when it arrives, at 20–30 m/s
plus ±1 m/s of noise per axis. For the humanoid_push scenario; seeded, no global RNG.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pybullet_data

from sim._quiet_import import pybullet as p

CUBE_URDF = "cube_small.urdf"
CUBE_MASS = 1.2  # kg, as the original (matches Roboschool)
FIRST_THROW_PERIOD = 100
THROW_EVERY = 30
FROM_DIST = 4.0
SPEED_RANGE = (20.0, 30.0)
ON_GROUND_Z = 0.8  # the original throws only while the torso is above this


class BoxThrower:
    def __init__(self, client: int, rng: np.random.Generator, parking_xy=(0.0, -50.0)):
        self.client = client
        self.rng = rng
        path = os.path.join(pybullet_data.getDataPath(), CUBE_URDF)
        self.cube_id = p.loadURDF(path, [parking_xy[0], parking_xy[1], 0.05], physicsClientId=client)
        p.changeDynamics(self.cube_id, -1, mass=CUBE_MASS, physicsClientId=client)
        self.period = 0
        self.throws = 0
        self._on_ground = 0

    def after_control_period(self, body_xyz, body_velocity, torso_z: float) -> bool:
        """Call once per control period after physics; returns True when a cube was thrown."""
        thrown = False
        if self.period % THROW_EVERY == 0 and self.period > FIRST_THROW_PERIOD and self._on_ground == 0:
            self._throw(np.asarray(body_xyz, dtype=float), np.asarray(body_velocity, dtype=float))
            thrown = True
        if torso_z < ON_GROUND_Z:
            self._on_ground += 1
        elif self._on_ground > 0:
            self._on_ground -= 1
        self.period += 1
        return thrown

    def _throw(self, body_xyz: np.ndarray, body_velocity: np.ndarray) -> None:
        angle = float(self.rng.uniform(-math.pi, math.pi))
        speed = float(self.rng.uniform(*SPEED_RANGE))
        # aim where the body will be when the cube arrives
        target = body_xyz + body_velocity * (FROM_DIST / speed)
        start = np.array(
            [
                target[0] + FROM_DIST * math.cos(angle),
                target[1] + FROM_DIST * math.sin(angle),
                target[2] + 1.0,
            ]
        )
        v = target - start
        v *= speed / np.linalg.norm(v)
        v += self.rng.uniform(-1.0, 1.0, 3)
        c = self.client
        _, orn = p.getBasePositionAndOrientation(self.cube_id, physicsClientId=c)
        p.resetBasePositionAndOrientation(self.cube_id, start.tolist(), orn, physicsClientId=c)
        p.resetBaseVelocity(self.cube_id, linearVelocity=v.tolist(), physicsClientId=c)
        self.throws += 1


__all__ = ["BoxThrower"]

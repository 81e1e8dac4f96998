"""Boxes thrown at the humanoid as in its training environment."""

from __future__ import annotations

import numpy as np
import pybullet as p

from sim.humanoid_push import FIRST_THROW_PERIOD, THROW_EVERY, BoxThrower
from sim.humanoid_walk import FlatGround


def _throw_log(seed: int) -> list[tuple[int, tuple]]:
    with FlatGround(0) as w:
        th = BoxThrower(w.client, np.random.default_rng(seed))
        log = []
        for k in range(200):
            body = np.array([1.0, 2.0, 1.2])
            if th.after_control_period(body, np.zeros(3), 1.2):
                pos, _ = p.getBasePositionAndOrientation(th.cube_id, physicsClientId=w.client)
                vel, _ = p.getBaseVelocity(th.cube_id, physicsClientId=w.client)
                # the cube starts 4 m away horizontally, 1 m up, and flies at the body
                assert abs(np.hypot(pos[0] - 1.0, pos[1] - 2.0) - 4.0) < 1e-6 and abs(pos[2] - 2.2) < 1e-6
                to_body = np.array([1.0, 2.0, 1.2]) - np.array(pos)
                cos = np.dot(to_body, vel) / (np.linalg.norm(to_body) * np.linalg.norm(vel))
                assert cos > 0.99 and 18.0 < np.linalg.norm(vel) < 32.0
                log.append((k, tuple(round(v, 9) for v in pos)))
        return log


def test_throw_schedule_aim_and_determinism():
    log = _throw_log(1)
    # every 30 periods once past the first 100: 120, 150, 180
    first = (FIRST_THROW_PERIOD // THROW_EVERY + 1) * THROW_EVERY
    assert [k for k, _ in log] == list(range(first, 200, THROW_EVERY)) == [120, 150, 180]
    assert log == _throw_log(1) and log != _throw_log(2)


def test_no_throws_while_down():
    with FlatGround(0) as w:
        th = BoxThrower(w.client, np.random.default_rng(0))
        assert not any(th.after_control_period(np.zeros(3), np.zeros(3), 0.3) for _ in range(300))

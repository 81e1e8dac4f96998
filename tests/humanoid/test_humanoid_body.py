"""The humanoid body: loading, start pose, torques, sensing, head camera; and walking with the policy."""

from __future__ import annotations

import math

import numpy as np
import pybullet as p
import pytest

from contracts import clock
from planning.locomotion import LocomotionController, LocomotionPolicy
from sim.humanoid import (
    FOOT_LINKS,
    GEARS,
    JOINT_INDICES,
    JOINT_NAMES,
    START_JOINT_SPREAD,
    HumanoidBody,
    make_head_camera_model,
)
from sim.humanoid_walk import FlatGround, follow_targets


def test_loads_with_policy_joints_and_start_pose():
    with FlatGround(seed=4, x=3.0, y=-2.0, yaw=1.0) as w:
        b, c = w.body, w.client
        names = [p.getJointInfo(b.body_id, j, physicsClientId=c)[1].decode() for j in JOINT_INDICES]
        assert tuple(names) == JOINT_NAMES
        assert [p.getJointInfo(b.body_id, j, physicsClientId=c)[12].decode() for j in FOOT_LINKS] == [
            "right_foot",
            "left_foot",
        ]
        pos, orn = b.torso_pose()
        np.testing.assert_allclose(pos, [3.0, -2.0, 1.4], atol=1e-6)
        assert p.getEulerFromQuaternion(orn.tolist())[2] == pytest.approx(1.0)
        pr = b.proprioception(0)
        assert np.all(np.abs(pr.joint_pos) <= START_JOINT_SPREAD) and np.any(pr.joint_pos != 0.0)
        assert np.all(pr.joint_vel == 0.0)
        assert b.head_camera_pose(make_head_camera_model())[0][2] == pytest.approx(1.4 + 0.19, abs=1e-6)


def test_torques_are_gear_times_clipped_action():
    with FlatGround(seed=0) as w:
        b = w.body
        a = np.linspace(-2.0, 2.0, len(JOINT_INDICES))
        b.set_action(a)
        np.testing.assert_allclose(b._torques, 0.41 * np.asarray(GEARS) * np.clip(a, -1, 1))
        with pytest.raises(ValueError, match="shape"):
            b.set_action(np.zeros(16))
        with pytest.raises(ValueError, match="finite"):
            b.set_action(np.full(17, np.nan))


def test_torque_moves_only_its_joint_direction():
    """A positive knee torque on a body hanging in the air flexes the knee positively, and the default
    motors are really off (without torques the joint only sags)."""
    with FlatGround(seed=0) as w:
        b, c = w.body, w.client
        p.createConstraint(
            b.body_id, -1, -1, -1, p.JOINT_FIXED, [0, 0, 0], [0, 0, 0], [0, 0, 3.0], physicsClientId=c
        )
        knee = JOINT_NAMES.index("right_knee")
        a = np.zeros(17)
        a[knee] = -1.0  # bends the knee (its range is negative)
        q0 = b.proprioception(0).joint_pos[knee]
        for _ in range(5):
            b.set_action(a)
            b.step_control_period()
        assert b.proprioception(0).joint_pos[knee] < q0 - 0.05


def test_feet_touch_the_floor_after_landing_and_torso_height_is_sensed():
    with FlatGround(seed=1) as w:
        b = w.body
        assert not b.foot_contacts().any()  # dropped from 1.4 m, in the air
        for _ in range(60):
            b.set_action(np.zeros(17))
            b.step_control_period()
        assert b.foot_contacts().sum() >= 1 or b.fallen()
        odo = b.odometry(123)
        assert odo.stamp_ns == 123 and math.isfinite(odo.x)
        imu = b.imu(123)
        assert len(imu.accel) == 3 and len(imu.gyro) == 3


def test_needs_a_floor():
    c = p.connect(p.DIRECT)
    try:
        with pytest.raises(ValueError, match="floor"):
            HumanoidBody(c, [], rng=np.random.default_rng(0))
    finally:
        p.disconnect(physicsClientId=c)


def _walk(seed: int, target: tuple[float, float], steps: int, policy: LocomotionPolicy):
    with FlatGround(seed=seed, yaw=0.0) as w:
        log = follow_targets(w.body, LocomotionController(policy), lambda k, xy: target, steps, stop_after=1)
        return log, w.body.torso_pose()


@pytest.mark.parametrize("seed", [0, 1])
def test_policy_walks_towards_a_target(seed: int, policy: LocomotionPolicy):
    # target 6 m away, 60 degrees off the initial heading: the policy must turn and walk
    target = (6.0 * math.cos(math.radians(60)), 6.0 * math.sin(math.radians(60)))
    log, _ = _walk(seed, target, 300, policy)
    start = np.zeros(2)
    progress = 6.0 - math.dist(log.final_xy, target)
    assert np.linalg.norm(np.asarray(log.final_xy) - start) >= 4.0 and progress >= 4.0
    assert log.targets_reached == 1 and log.steps < 300  # within 5 s of simulated time
    assert log.min_torso_z > 0.7 and log.falls == 0


def test_same_seed_same_final_pose(policy: LocomotionPolicy):
    a_log, (a_pos, a_orn) = _walk(7, (6.0, 0.0), 120, policy)
    b_log, (b_pos, b_orn) = _walk(7, (6.0, 0.0), 120, policy)
    _, (c_pos, _) = _walk(8, (6.0, 0.0), 120, policy)
    np.testing.assert_array_equal(a_pos, b_pos)
    np.testing.assert_array_equal(a_orn, b_orn)
    assert a_log.xy == b_log.xy
    assert not np.array_equal(a_pos, c_pos)  # the seed matters (start joints)


def test_control_period_is_four_physics_steps():
    with FlatGround(seed=0) as w:
        params = p.getPhysicsEngineParameters(physicsClientId=w.client)
        assert params["fixedTimeStep"] == pytest.approx(clock.PHYSICS_DT)
        assert params["numSolverIterations"] == 5
        assert clock.SUBSTEPS_PER_CONTROL == 4

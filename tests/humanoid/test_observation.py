"""The 44-value observation: layout, scaling, clipping and the one-period foot-contact lag."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from contracts.messages import Proprioception
from planning.locomotion import OBS_DIM, ObservationBuilder, build_observation

J = 17


def make_proprio(**overrides) -> Proprioception:
    lo = -np.linspace(0.5, 1.5, J)
    hi = np.linspace(0.2, 1.0, J)
    base = dict(
        stamp_ns=0,
        joint_pos=0.5 * (lo + hi),
        joint_vel=np.zeros(J),
        joint_lower=lo,
        joint_upper=hi,
        torso_xyz=np.array([2.0, 1.0, 1.2]),
        torso_rpy=np.array([0.05, -0.1, 0.3]),
        torso_lin_vel=np.zeros(3),
        torso_ang_vel=np.zeros(3),
        parts_mean_xy=np.array([2.0, 1.0]),
        foot_contact=np.array([1.0, 0.0]),
    )
    base.update(overrides)
    return Proprioception(**base)


def test_layout_and_scaling():
    pr = make_proprio(
        joint_pos=np.where(np.arange(J) % 2 == 0, -np.linspace(0.5, 1.5, J), np.linspace(0.2, 1.0, J)),
        joint_vel=np.arange(J, dtype=float),
        torso_lin_vel=np.array([math.cos(0.3), math.sin(0.3), -0.5]),  # 1 m/s straight ahead
    )
    target = (2.0 + 10 * math.cos(0.3 + 0.7), 1.0 + 10 * math.sin(0.3 + 0.7))  # 0.7 rad left of heading
    obs = build_observation(pr, target, np.array([0.0, 1.0]))
    assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32
    assert obs[0] == pytest.approx(1.2 - 0.8)
    assert obs[1] == pytest.approx(math.sin(0.7), abs=1e-6) and obs[2] == pytest.approx(
        math.cos(0.7), abs=1e-6
    )
    np.testing.assert_allclose(obs[3:6], [0.3, 0.0, -0.15], atol=1e-6)  # 0.3 x velocity in the yawed frame
    np.testing.assert_allclose(obs[6:8], [0.05, -0.1], atol=1e-7)
    pos, vel = obs[8:42:2], obs[9:42:2]
    np.testing.assert_allclose(pos, np.where(np.arange(J) % 2 == 0, -1.0, 1.0), atol=1e-6)  # limits → ±1
    np.testing.assert_allclose(vel, 0.1 * np.arange(J), atol=1e-6)
    np.testing.assert_array_equal(obs[42:44], [0.0, 1.0])


def test_bearing_uses_mean_of_parts_not_torso():
    pr = make_proprio(
        torso_rpy=np.zeros(3), parts_mean_xy=np.array([0.0, 0.0]), torso_xyz=np.array([5.0, 5.0, 1.2])
    )
    obs = build_observation(pr, (0.0, 3.0), np.zeros(2))
    assert obs[1] == pytest.approx(1.0) and obs[2] == pytest.approx(0.0, abs=1e-6)  # target straight left


def test_clipped_to_five():
    pr = make_proprio(joint_vel=np.full(J, 100.0), torso_lin_vel=np.array([-40.0, 0.0, 0.0]))
    obs = build_observation(pr, (9.0, 9.0), np.zeros(2))
    assert obs.max() == pytest.approx(5.0) and obs.min() >= -5.0
    np.testing.assert_array_equal(obs[9:42:2], 5.0)


def test_foot_contacts_lag_one_period():
    b = ObservationBuilder()
    seq = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])]
    seen = [b.build(make_proprio(foot_contact=c), (9.0, 0.0))[42:44] for c in seq]
    np.testing.assert_array_equal(seen[0], [0.0, 0.0])  # nothing known before the first period
    np.testing.assert_array_equal(seen[1], seq[0])
    np.testing.assert_array_equal(seen[2], seq[1])
    b.reset()
    np.testing.assert_array_equal(b.build(make_proprio(), (9.0, 0.0))[42:44], [0.0, 0.0])


def test_floor_part_option_shrinks_body_position_towards_origin():
    pr = make_proprio(parts_mean_xy=np.array([31.0, 0.0]), torso_rpy=np.zeros(3))
    target = (30.0, 1.0)  # left of (30, 0), behind-left of (31, 0)
    plain = ObservationBuilder().build(pr, target)
    floor = ObservationBuilder(floor_part=True).build(pr, target)
    assert floor[1] == pytest.approx(1.0) and floor[2] == pytest.approx(0.0, abs=1e-6)  # seen from (30, 0)
    assert plain[2] < -0.5  # seen from (31, 0) the target is behind


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="17 joints"):
        build_observation(
            make_proprio(
                joint_pos=np.zeros(3), joint_vel=np.zeros(3), joint_lower=-np.ones(3), joint_upper=np.ones(3)
            ),
            (0, 0),
            np.zeros(2),
        )
    with pytest.raises(ValueError, match="finite"):
        build_observation(make_proprio(), (math.nan, 0.0), np.zeros(2))
    with pytest.raises(ValueError, match="foot_contact"):
        build_observation(make_proprio(), (1.0, 0.0), np.zeros(3))
    with pytest.raises(ValueError, match="not finite"):
        build_observation(make_proprio(torso_lin_vel=np.array([np.inf, 0, 0])), (1.0, 0.0), np.zeros(2))
    with pytest.raises(ValueError, match="joint_upper > joint_lower"):
        dataclasses.replace(make_proprio(), joint_upper=-np.ones(J), joint_lower=np.ones(J))
    with pytest.raises(ValueError, match="torso_xyz"):
        make_proprio(torso_xyz=np.zeros(2))

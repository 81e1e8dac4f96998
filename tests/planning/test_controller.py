import numpy as np
import pytest

from planning.controller import Controller, ControllerParams
from planning.types import Trajectory
from tests.planning.helpers import CAR_EMB, HUMANOID_EMB, ego


def straight_traj(speed, n=51, dt=0.1, y=0.0, stamp=0):
    t = np.arange(n) * dt
    v = np.full(n, float(speed))
    x = np.concatenate([[0.0], np.cumsum(v[:-1] * dt)])
    return Trajectory(stamp, t, x, np.full(n, y), np.zeros(n), v)


def test_speeds_up_towards_reference_within_accel_limit():
    c = Controller(CAR_EMB)
    cmd = c.command(straight_traj(10.0), ego(0, speed=0.0))
    p = ControllerParams()
    assert 0.0 < cmd.speed <= CAR_EMB.max_accel * p.command_horizon + 1e-9
    assert cmd.yaw_rate == pytest.approx(0.0)


def test_brakes_within_decel_limit_and_holds_zero():
    c = Controller(CAR_EMB)
    cmd = c.command(straight_traj(0.0), ego(0, speed=10.0))
    assert cmd.speed >= 10.0 - CAR_EMB.max_decel * ControllerParams().command_horizon - 1e-9
    assert cmd.speed < 10.0
    stop = Controller(CAR_EMB).command(straight_traj(0.0), ego(0, speed=0.0))
    assert stop.speed == 0.0 and stop.yaw_rate == 0.0


def test_steers_towards_a_path_on_the_left_with_limits():
    c = Controller(CAR_EMB)
    cmd = c.command(straight_traj(8.0, y=1.0), ego(0, speed=8.0))
    assert cmd.yaw_rate > 0.0
    hard = Controller(CAR_EMB).command(straight_traj(8.0, y=30.0), ego(0, speed=8.0))
    assert hard.yaw_rate <= min(CAR_EMB.max_yaw_rate, 8.0 * CAR_EMB.max_curvature) + 1e-9
    right = Controller(HUMANOID_EMB).command(straight_traj(1.0, y=-0.5), ego(0, speed=1.0))
    assert right.yaw_rate < 0.0


def test_rejects_bad_input():
    c = Controller(CAR_EMB)
    with pytest.raises(ValueError, match="before"):
        c.command(straight_traj(5.0, stamp=10**9), ego(0))
    bad = Trajectory(0, np.arange(3) * 0.1, np.zeros(3), np.zeros(2), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="equal length"):
        c.command(bad, ego(0))

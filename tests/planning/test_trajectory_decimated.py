"""Trajectory.decimated: what the planning node publishes (fewer poses where nothing changes)."""

import numpy as np
import pytest

from planning.types import Trajectory


def _traj(speed: np.ndarray, dt: float = 0.1) -> Trajectory:
    """A straight trajectory whose positions integrate the given speeds (as the planner's do)."""
    t = np.arange(len(speed)) * dt
    x = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * dt)])
    return Trajectory(stamp_ns=7, t=t, x=x, y=np.zeros_like(t), yaw=np.zeros_like(t), speed=speed)


def _recovered_speed(tr: Trajectory) -> np.ndarray:
    """What a consumer of nav_msgs/Path recovers (conversions.trajectory_from_path), at each kept point."""
    seg = np.hypot(np.diff(tr.x), np.diff(tr.y)) / np.diff(tr.t)
    return np.append(seg, seg[-1])


def test_cruise_keeps_first_last_and_one_pose_per_gap():
    full = _traj(np.full(51, 10.0))
    out = full.decimated(0.25)
    assert out.t[0] == 0.0 and out.t[-1] == pytest.approx(5.0)
    assert np.all(np.diff(out.t) <= 0.25 + 1e-9)
    assert len(out.t) == 26  # 0.2 s steps on a 0.1 s grid, plus the end
    assert out.stamp_ns == 7
    for name in ("x", "y", "yaw", "speed"):
        assert np.array_equal(getattr(out, name), np.interp(out.t, full.t, getattr(full, name)))


def test_braking_to_a_stop_keeps_the_ramp_so_the_recovered_speed_matches():
    # 8 m/s, brake at 3 m/s² to a standstill, then stand: the case a coarse path got wrong (the consumer
    # read the last ramp segment as "stopped" half a metre early)
    v = np.concatenate([np.full(10, 8.0), np.maximum(8.0 - 0.3 * np.arange(1, 31), 0.0), np.zeros(11)])
    full = _traj(v)
    out = full.decimated(0.25, speed_tolerance=0.2)
    assert len(out.t) < len(full.t)
    # each sample's planned speed is within tolerance of the speed its kept segment stands for
    seg = np.searchsorted(out.t, full.t, side="right") - 1
    stands_for = _recovered_speed(out)[np.clip(seg, 0, len(out.t) - 1)]
    assert np.max(np.abs(stands_for - v)) <= 0.2 + 1e-9
    # and the end of the path (the standstill) is kept exactly
    assert out.x[-1] == pytest.approx(full.x[-1])


def test_a_tolerance_below_the_speed_steps_keeps_everything():
    v = np.linspace(0.0, 10.0, 51)
    assert len(_traj(v).decimated(1.0, speed_tolerance=0.01).t) == 51


@pytest.mark.parametrize("gap, tol", [(0.0, 0.2), (-1.0, 0.2), (0.25, 0.0)])
def test_rejects_non_positive_settings(gap, tol):
    with pytest.raises(ValueError, match="must be > 0"):
        _traj(np.full(5, 1.0)).decimated(gap, tol)

"""Trajectory.every: what the planning node publishes (fewer poses, same path and timing)."""

import numpy as np
import pytest

from planning.types import Trajectory


def _traj(n: int = 51, dt: float = 0.1) -> Trajectory:
    t = np.arange(n) * dt
    return Trajectory(stamp_ns=7, t=t, x=t * 10.0, y=np.sin(t), yaw=t * 0.01, speed=np.full(n, 10.0))


def test_keeps_first_last_and_every_period():
    out = _traj().every(0.25)
    # 0.1 s samples: kept every 3rd (0.3 s ≥ 0.25 s) plus the last point
    assert out.t[0] == 0.0 and out.t[-1] == pytest.approx(5.0)
    assert np.all(np.diff(out.t)[:-1] >= 0.25 - 1e-9)  # the last gap may be shorter: the end is kept
    assert len(out.t) < 51
    for name in ("x", "y", "yaw", "speed"):
        full = getattr(_traj(), name)
        assert np.array_equal(getattr(out, name), np.interp(out.t, _traj().t, full))
    assert out.stamp_ns == 7


def test_period_below_sample_spacing_keeps_everything():
    traj = _traj()
    assert len(traj.every(0.01).t) == len(traj.t)


def test_rejects_non_positive_period():
    with pytest.raises(ValueError, match="period_s"):
        _traj().every(0.0)

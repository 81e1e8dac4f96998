"""planning.path_follow's hold of a planned stop: the walking policy cannot stand, so a held stop is a
small circle walked about it (StopHold decides when and where; target_on_circle where to step)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contracts import clock
from planning.locomotion import LocomotionController
from planning.path_follow import PathFollowParams, PathLocomotion, StopHold, target_on_circle
from planning.types import Trajectory
from sim.humanoid import FALL_HEIGHT
from sim.humanoid_walk import RECOVERED_HEIGHT, FlatGround

S = 1_000_000_000  # ns


def _hold(**kw) -> StopHold:
    return StopHold(PathFollowParams(**kw))


def test_a_stop_planned_before_any_walk_is_held_at_once():
    h = _hold()
    assert h.update((0.2, 0.0), (0.0, 0.0), 0) == (0.2, 0.0)
    assert h.holding


def test_after_a_walk_a_stop_is_held_only_once_it_has_lasted():
    h = _hold(hold_enter_s=3.0)
    assert h.update((10.0, 0.0), (0.0, 0.0), 0) is None  # walking somewhere
    assert h.update((5.2, 0.0), (5.0, 0.0), 1 * S) is None  # a stop: a candidate, not yet held
    assert h.update((5.8, 0.3), (5.5, 0.0), 3 * S) is None  # still within hold_release of it
    assert h.update((5.5, 0.0), (5.6, 0.0), 4 * S) == (5.2, 0.0)  # lasted 3 s: held at the first end
    assert h.holding


def test_a_pause_in_a_walk_is_not_held():
    h = _hold(hold_enter_s=3.0)
    h.update((10.0, 0.0), (0.0, 0.0), 0)
    h.update((2.1, 0.0), (2.0, 0.0), 1 * S)  # the planner stopped for a moment ...
    assert h.update((12.0, 0.0), (2.2, 0.0), 2 * S) is None  # ... and walks on
    assert h.point is None and not h.holding
    assert h.update((12.0, 0.0), (2.4, 0.0), 5 * S) is None


def test_the_centre_is_latched_and_one_far_path_does_not_end_the_hold():
    h = _hold(hold_release=2.5, hold_release_s=0.5)
    h.update((0.0, 0.0), (0.0, 0.0), 0)
    # a stop planned at the body itself moves with it; the centre does not
    assert h.update((1.5, 1.0), (1.4, 1.0), S // 10) == (0.0, 0.0)
    assert h.update((6.0, 0.0), (1.0, 0.0), 2 * S // 10) == (0.0, 0.0)  # a frame's flicker
    assert h.update((0.5, 0.0), (1.0, 0.0), 3 * S // 10) == (0.0, 0.0)
    assert h.update((6.0, 0.0), (1.0, 0.0), 4 * S // 10) == (0.0, 0.0)  # far again: the clock restarts
    assert h.update((6.0, 0.0), (1.0, 0.0), 8 * S // 10) == (0.0, 0.0)  # 0.4 s far
    assert h.update((6.0, 0.0), (1.0, 0.0), 9 * S // 10) is None  # 0.5 s far: a new plan
    assert not h.holding
    # the robot has now been sent somewhere: the next stop waits for hold_enter_s again
    assert h.update((1.1, 0.0), (1.0, 0.0), 10 * S // 10) is None


def test_reset_forgets_the_hold_and_the_walk():
    h = _hold()
    h.update((10.0, 0.0), (0.0, 0.0), 0)
    h.reset()
    assert h.update((0.1, 0.0), (0.0, 0.0), S) == (0.1, 0.0)


def test_target_on_circle_leads_the_body_round_the_centre():
    # body due east of the centre at 1 m; a quarter turn clockwise leads to due south on the 0.75 m circle
    tx, ty = target_on_circle((0.0, 0.0), 0.75, -0.5 * math.pi, (1.0, 0.0), heading=0.0)
    assert (tx, ty) == pytest.approx((0.0, -0.75), abs=1e-9)
    # at the centre the angle means nothing: the body counts as on the circle heading along it
    # (clockwise, heading north: it is west of the centre), so the target is ahead of it, to the north
    tx, ty = target_on_circle((0.0, 0.0), 0.75, -0.5 * math.pi, (0.0, 0.0), heading=0.5 * math.pi)
    assert (tx, ty) == pytest.approx((0.0, 0.75), abs=1e-9)


@pytest.mark.parametrize(
    "bad",
    [
        {"hold_radius": -1.0},
        {"hold_enter": 0.0},
        {"hold_release": 0.4},
        {"hold_enter_s": -1.0},
        {"hold_release_s": -0.1},
        {"hold_lead": 0.0},
        {"hold_lead": 4.0},
    ],
)
def test_bad_hold_parameters_are_a_clear_error(bad):
    with pytest.raises(ValueError, match="hold"):
        PathFollowParams.from_dict(bad)


def test_without_the_hold_the_target_is_the_stop_itself(policy):
    class Body:
        parts_mean_xy, torso_rpy, stamp_ns = (0.0, 0.0), (0.0, 0.0, 0.0), 0

    targets = []
    for radius in (0.0, 0.75):
        loco = PathLocomotion(PathFollowParams(hold_radius=radius), LocomotionController(policy))
        loco.set_path(_stop_at(0.3, 0.0))
        targets.append(loco.target(Body()))
    assert targets[0] == pytest.approx((0.3, 0.0))  # run to the end point
    assert math.dist(targets[1], (0.3, 0.0)) == pytest.approx(0.75)  # held: a point on the circle


def _stop_at(x: float, y: float) -> Trajectory:
    z = np.zeros(1)
    return Trajectory(0, z, z + x, z + y, z, z)


def _stand_for(seed: int, params: PathFollowParams, policy, seconds: float) -> tuple[int, float]:
    """A stop planned where the body starts, on flat ground: (falls, farthest from it in m)."""
    with FlatGround(seed) as g:
        loco = PathLocomotion(params, LocomotionController(policy))
        loco.set_path(_stop_at(0.0, 0.0))
        stamp, down, falls, farthest = 0, False, 0, 0.0
        for _ in range(int(seconds / (clock.CONTROL_PERIOD_NS * 1e-9))):
            g.body.set_torques(loco.step(g.body.proprioception(stamp)))
            g.body.step_control_period()
            stamp += clock.CONTROL_PERIOD_NS
            (x, y, z), _ = g.body.torso_pose()
            if not down and z < FALL_HEIGHT:
                down, falls = True, falls + 1
            elif down and z > RECOVERED_HEIGHT:
                down = False
            farthest = max(farthest, math.hypot(x, y))
    return falls, farthest


def test_held_stop_keeps_the_body_up_and_near(policy):
    """Told to stop where it stands for 30 s: with the hold the body walks its circle (seeds 0-7: 2 falls
    in all, at most 3.1 m out); run to the point itself it falls 30 times (2-5 a run)."""
    runs = [_stand_for(seed, PathFollowParams(), policy, 30.0) for seed in range(8)]
    assert sum(f for f, _ in runs) <= 3, runs
    assert max(d for _, d in runs) < 3.5, runs

"""A frame perception dropped (issue 24 item 1) is treated like a late one: the last plan stays in force
for frame_hold_max_s, then the car brakes. Nothing of the dropped frame reaches the planner's memory."""

import dataclasses

import numpy as np
import pytest

from perception.pipeline import dropped_output
from planning.params import PlannerParams
from planning.planner import Planner
from tests.planning.helpers import CAR_EMB, FRAME_NS, ego, perception, road_grid, straight_route


def _drive(planner, frames, speed=8.0):
    tr = None
    for k in range(frames):
        stamp = (k + 1) * FRAME_NS
        tr = planner.plan(perception(road_grid(), stamp), ego(stamp, x=0.4 * k, speed=speed))
    return tr, frames * FRAME_NS


def test_a_dropped_frame_holds_the_last_plan_with_its_arrival_times():
    planner = Planner(CAR_EMB, straight_route(speed_limit=10.0))
    last, stamp = _drive(planner, 5)
    nxt = stamp + FRAME_NS
    held = planner.plan(dropped_output(nxt, "encoding"), ego(nxt, x=2.0, speed=8.0))
    assert not held.fallback and held.behaviour == last.behaviour
    assert held.stamp_ns == nxt and held.debug["held_for"] == "encoding"
    # the same points at the same absolute times; only the one just before "now" of the passed ones stays
    shift = FRAME_NS * 1e-9
    keep = last.t - shift
    first = int(np.searchsorted(keep, 0.0, side="right")) - 1
    assert held.t == pytest.approx(keep[first:])
    assert held.x == pytest.approx(last.x[first:]) and held.speed == pytest.approx(last.speed[first:])
    assert held.t[0] <= 0.0 < held.t[1]
    assert planner.system2_query is None


def test_too_long_without_a_usable_frame_brakes():
    params = PlannerParams(frame_hold_max_s=0.3)
    planner = Planner(CAR_EMB, straight_route(speed_limit=10.0), params)
    _last, stamp = _drive(planner, 5)
    outs = []
    for k in range(1, 12):
        s = stamp + k * FRAME_NS
        outs.append(planner.plan(dropped_output(s, "data_size"), ego(s, x=2.0 + 0.4 * k, speed=8.0)))
    held = [not t.fallback for t in outs]
    n_hold = int(0.3 * 1e9 // FRAME_NS)
    assert held == [True] * n_hold + [False] * (len(outs) - n_hold)
    stop = outs[-1]
    assert stop.behaviour == "fallback_stop" and "data_size" in stop.debug["fallback_reason"]
    assert np.all(np.diff(stop.speed) <= 1e-9) and stop.speed[-1] == 0.0


def test_the_first_frame_dropped_brakes_at_once_and_the_next_good_one_plans_again():
    planner = Planner(CAR_EMB, straight_route(speed_limit=10.0))
    first = planner.plan(dropped_output(FRAME_NS, "empty"), ego(FRAME_NS, speed=3.0))
    assert first.fallback and "empty" in first.debug["fallback_reason"]
    again = planner.plan(perception(road_grid(), 2 * FRAME_NS), ego(2 * FRAME_NS, speed=3.0))
    assert not again.fallback


def test_a_dropped_frame_still_must_be_in_order():
    planner = Planner(CAR_EMB, straight_route())
    _drive(planner, 3)
    with pytest.raises(ValueError, match="increase"):
        planner.plan(dropped_output(FRAME_NS, "step"), ego(FRAME_NS))


def test_dropped_output_is_all_unknown_on_the_perceivers_layout():
    out = dropped_output(7, "size", {"x_range": (0.0, 20.0), "y_range": (-5.0, 5.0), "resolution": 0.5})
    assert out.grid.classes.shape == (20, 40) and np.all(out.grid.classes == out.grid.UNKNOWN)
    assert (out.grid.origin_x, out.grid.origin_y, out.grid.resolution) == (0.0, -5.0, 0.5)
    assert out.confidence == 0.0 and out.dropped == "size" and out.objects == ()
    default = dropped_output(7, "size")
    assert dataclasses.replace(default, dropped="").dropped == ""
    assert default.grid.classes.shape == (80, 160)

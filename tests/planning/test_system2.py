"""System 2 on the planner side (planning/system2.py): the stuck trigger, advice validation, stale and
unsafe advice dropped and counted, the pass permission used only through the planner's own checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from perception.classes import Cls
from planning.params import PlannerParams
from planning.planner import Planner
from planning.system2 import AdviceIn, System2, advice_from_dict, advice_to_dict, grid_from_payload
from tests.planning.helpers import CAR_EMB, FRAME_NS, ego, perception, put_box, road_grid, straight_route

BLOCK_X = (14.0, 18.5)  # a stalled car in the ego lane, base_link x (ego at the origin, yaw 0)


def two_way_route():
    return dataclasses.replace(straight_route(), oncoming_lane_offsets=(3.5,))


def stalled_grid(oncoming_car_x: float | None = None):
    grid = put_box(road_grid(blind_near=1.0), Cls.VEHICLE, *BLOCK_X, -0.9, 0.9)
    if oncoming_car_x is not None:
        grid = put_box(grid, Cls.VEHICLE, oncoming_car_x, oncoming_car_x + 4.5, 2.6, 4.4)
    return grid


def run(planner, grid, frames, start=0):
    """Stand still at the origin for `frames` frames; returns the last trajectory and the query frames."""
    queries, tr = [], None
    for k in range(start, start + frames):
        stamp = (k + 1) * FRAME_NS
        tr = planner.plan(perception(grid, stamp), ego(stamp))
        if planner.system2_query is not None:
            queries.append(planner.system2_query)
    return tr, queries


def pass_advice(query, valid_s=2.0, action="pass_left_oncoming", waypoints=None):
    if waypoints is None:  # out into the oncoming lane, past the car, back
        waypoints = [[x, 3.5 if 6.0 <= x <= 26.0 else 0.0] for x in range(2, 40, 2)]
    return {
        "status": "ok",
        "action": action,
        "frame_id": query["frame_id"],
        "stamp_ns": query["stamp_ns"],
        "valid_until_ns": query["stamp_ns"] + int(valid_s * 1e9),
        "waypoints": waypoints,
        "target_speed": 5.0,
        "confidence": 0.8,
        "rationale": "test",
        "backend": "test",
    }


def test_stuck_behind_a_static_blocker_queries_after_the_threshold_and_not_more_often():
    p = PlannerParams()
    planner = Planner(CAR_EMB, two_way_route())
    n_stuck = round((p.static_confirm_s + p.system2_stuck_s) / (FRAME_NS * 1e-9))
    tr, queries = run(planner, stalled_grid(), n_stuck - 10)
    assert queries == [] and tr.behaviour == "stop_for_obstacle"
    tr, queries = run(
        planner, stalled_grid(), 20 + round(p.system2_requery_s / (FRAME_NS * 1e-9)), n_stuck - 10
    )
    assert len(queries) == 2  # one, then one more after system2_requery_s without an answer
    q = queries[0]
    assert q["question"] == "stuck_behind_obstacle" and q["oncoming_lane_offsets"] == [3.5]
    classes, res, _, _ = grid_from_payload(q["grid"])
    assert res == 0.25 and (classes == int(Cls.VEHICLE)).any()
    assert planner.system2.counters.queries == 2


def test_no_oncoming_lane_in_the_map_never_queries():
    planner = Planner(CAR_EMB, straight_route())
    _, queries = run(planner, stalled_grid(), 120)
    assert queries == []


def test_granted_pass_opens_the_oncoming_lane_and_the_planner_pulls_out():
    planner = Planner(CAR_EMB, two_way_route())
    _, queries = run(planner, stalled_grid(), 80)
    planner.system2.on_reply(pass_advice(queries[0]))
    tr, _ = run(planner, stalled_grid(), 1, 80)
    c = planner.system2.counters
    assert c.advice_followed == 1 and c.advice_rejected_unsafe == 0 and c.advice_dropped_stale == 0
    assert planner.system2.permission is not None
    assert tr.debug["target_d"] == pytest.approx(3.5) and tr.y.max() > 2.5 and tr.speed.max() > 1.0


def run_with_oncoming(planner, x_at, frames, start=0):
    """As run(), with an oncoming car whose front is at base_link x_at(k) in frame k."""
    queries, tr = [], None
    for k in range(start, start + frames):
        stamp = (k + 1) * FRAME_NS
        tr = planner.plan(perception(stalled_grid(oncoming_car_x=x_at(k)), stamp), ego(stamp))
        if planner.system2_query is not None:
            queries.append(planner.system2_query)
    return tr, queries


def test_pass_is_rejected_while_an_oncoming_car_is_in_sight():
    planner = Planner(CAR_EMB, two_way_route())

    def coming(k):  # 6 m/s towards the ego, its front 26 m ahead at frame 80
        return 26.0 + 6.0 * (80 - k) * FRAME_NS * 1e-9

    _, queries = run_with_oncoming(planner, coming, 80)
    planner.system2.on_reply(pass_advice(queries[0]))
    tr, _ = run_with_oncoming(planner, coming, 1, 80)
    assert planner.system2.counters.advice_rejected_unsafe == 1 and planner.system2.permission is None
    assert "road user in the oncoming lane" in planner.system2.last_event
    assert np.abs(tr.y).max() < 1.2 and tr.speed.max() < 0.5  # still holding its safe stop


def test_a_car_standing_in_the_oncoming_lane_is_no_oncoming_traffic():
    # The tracker (perception/tracker.py) has watched it stand for 4 s: to the oncoming-lane check it is a
    # static obstacle (the planner's safety checker keeps clear of it), not traffic to wait for.
    planner = Planner(CAR_EMB, two_way_route())
    _, queries = run_with_oncoming(planner, lambda k: 33.0, 80)
    stalled, standing = sorted(planner.tracker.static(), key=lambda o: o.y)  # both stand still
    assert abs(stalled.y) < 0.5 and standing.y == pytest.approx(3.5, abs=0.3) and standing.speed < 0.2
    listed = {o["object_id"] for o in queries[0]["objects"]}
    assert listed == {f"track{stalled.track_id}", f"track{standing.track_id}"}
    planner.system2.on_reply(pass_advice(queries[0]))
    run_with_oncoming(planner, lambda k: 33.0, 1, 80)
    assert planner.system2.permission is not None, planner.system2.last_event


def test_stale_and_unmatched_advice_is_dropped_and_counted():
    planner = Planner(CAR_EMB, two_way_route())
    _, queries = run(planner, stalled_grid(), 80)
    planner.system2.on_reply(pass_advice(queries[0], valid_s=0.0))  # expired by the next frame
    planner.system2.on_reply({**pass_advice(queries[0]), "frame_id": "plan/somebody-else"})
    tr, _ = run(planner, stalled_grid(), 1, 80)
    c = planner.system2.counters
    assert c.advice_dropped_stale == 2 and c.advice_followed == 0 and planner.system2.permission is None
    assert tr.speed.max() < 0.5


@pytest.mark.parametrize(
    "waypoints",
    [
        [[500.0 + k, -500.0] for k in range(10)],  # far off the road
        [[x, 0.0] for x in range(4, 44, 2)],  # never uses the oncoming lane
        [[x, 9.0] for x in range(4, 44, 2)],  # beyond the road's left edge
        [],  # none
    ],
)
def test_implausible_pass_waypoints_are_rejected(waypoints):
    planner = Planner(CAR_EMB, two_way_route())
    _, queries = run(planner, stalled_grid(), 80)
    planner.system2.on_reply(pass_advice(queries[0], waypoints=waypoints))
    run(planner, stalled_grid(), 1, 80)
    assert planner.system2.counters.advice_rejected_unsafe == 1 and planner.system2.permission is None


def test_wait_is_held_and_delays_the_next_query():
    p = PlannerParams()
    planner = Planner(CAR_EMB, two_way_route())
    _, queries = run(planner, stalled_grid(), 80)
    q = queries[-1]
    planner.system2.on_reply({**pass_advice(q, valid_s=5.0, action="wait"), "waypoints": []})
    _, more = run(planner, stalled_grid(), round((p.system2_requery_s + 1.0) / (FRAME_NS * 1e-9)), 80)
    assert planner.system2.counters.advice_followed == 1 and more == []  # on hold for the advice's 5 s


def test_pass_aborted_if_an_oncoming_car_appears_before_pulling_out():
    planner = Planner(CAR_EMB, two_way_route())
    _, queries = run(planner, stalled_grid(), 80)
    planner.system2.on_reply(pass_advice(queries[0]))
    run(planner, stalled_grid(), 1, 80)
    assert planner.system2.permission is not None
    tr, _ = run(planner, stalled_grid(oncoming_car_x=24.0), 1, 81)  # still standing: not committed yet
    assert planner.system2.permission is None and planner.system2.counters.advice_aborted == 1
    # and the aborted pass is not pursued as "the current target" any more
    assert abs(tr.debug["target_d"]) < 1.0 and tr.y.max() < 1.0


def test_advice_parsing_rejects_malformed_input_and_round_trips():
    good = pass_advice({"frame_id": "plan/1", "stamp_ns": 1})
    a = advice_from_dict(good)
    assert advice_to_dict(advice_from_dict(advice_to_dict(a))) == advice_to_dict(a)
    for bad in (
        {**good, "action": "teleport"},
        {**good, "waypoints": [[0.0, float("nan")]]},
        {k: v for k, v in good.items() if k != "valid_until_ns"},
        {**good, "stamp_ns": "soon"},
    ):
        with pytest.raises(ValueError):
            advice_from_dict(bad)
    s2 = System2(PlannerParams(), 3.5, (3.5,))
    s2.on_reply({**good, "action": "teleport"})
    assert s2.counters.advice_rejected_unsafe == 1 and s2.counters.advice_received == 1
    s2.on_reply({"status": "error", "frame_id": "plan/1", "stamp_ns": 1, "error": "deadline exceeded"})
    assert s2.counters.advice_received == 1 and "deadline" in s2.last_event


def test_required_clear_distance_grows_with_the_pass():
    s2 = System2(PlannerParams(), 3.5, (3.5,))
    short, long = s2.required_clear(0.0, 15.0, 0.0, 6.0), s2.required_clear(0.0, 40.0, 0.0, 6.0)
    assert 15.0 < short < long
    assert isinstance(AdviceIn("wait", "f", 0, 0), AdviceIn)

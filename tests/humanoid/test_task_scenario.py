"""humanoid_task's world (sim/humanoid_task.py): coloured boxes in view, a sentence naming one of them, a
walkable straight line to it, and a route that does not give the box away."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.humanoid_task import BEARING_MAX, CLEARANCE, RANGE_M, TASK_COLOURS, WALK_DRIFT_M, build_task_spec
from sim.humanoid_world import _point_segment_distance

SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_named_box_is_in_view_and_the_walk_to_it_is_clear(seed):
    task = build_task_spec(seed)
    sx, sy, syaw = task.yard.start
    boxes = task.yard.obstacles
    assert 2 <= len(boxes) <= 4
    colours = [next(k for k, v in TASK_COLOURS.items() if v == b.rgba) for b in boxes]
    assert len(set(colours)) == len(colours)  # the colour alone names one box
    assert colours[task.target_index] == task.colour and task.colour in task.text
    for b in boxes:
        r = math.hypot(b.x - sx, b.y - sy)
        bearing = math.atan2(b.y - sy, b.x - sx) - syaw
        assert RANGE_M[0] - 1e-3 <= r <= RANGE_M[1] + 1e-3
        assert abs(math.remainder(bearing, 2 * math.pi)) <= BEARING_MAX + 1e-6
    t = task.target
    for i, b in enumerate(boxes):
        if i != task.target_index:
            clear = CLEARANCE + WALK_DRIFT_M + b.radius
            assert _point_segment_distance(b.x, b.y, (sx, sy), (t.x, t.y)) >= clear
    assert task.yard.goals == ((t.x, t.y),)


def test_the_same_seed_gives_the_same_task_and_seeds_differ():
    assert build_task_spec(3) == build_task_spec(3)
    texts = {build_task_spec(s).text for s in SEEDS}
    assert len(texts) > 5


def test_the_hold_route_keeps_the_robot_at_its_start():
    task = build_task_spec(0)
    route = task.hold_route()
    sx, sy, _ = task.yard.start
    line = np.asarray(route["centerline"])
    assert route["goal_s"] == 0.0
    assert line[0] == pytest.approx([sx, sy], abs=1e-3)
    # nothing in it points at the box more than at any other: it is 3 m along the start heading
    assert np.hypot(*(line[-1] - line[0])) == pytest.approx(3.0, abs=0.05)


def test_the_sim_hands_out_the_sentence_and_reports_the_task():
    from sim.humanoid_sim import HumanoidSimulation

    with HumanoidSimulation("humanoid_task", 2) as sim:
        task = build_task_spec(2)
        assert sim.task_text == task.text
        assert sim.route_map() == task.hold_route()
        sim.advance(None)
        r = sim.result()
    assert r["task_text"] == task.text and task.colour in r["task_target"]
    assert r["task_reached"] is False and r["success"] is False
    assert r["safe_stop"] is True  # not moved, not touched anything
    assert r["goals_total"] == 1 and r["task_distance_m"] > 3.0

"""A task in words on the planner's side (planning/task.py): the planner asks System 2 with the sentence
and the objects it sees, follows a WALK_TO only after its own check, and stops on STOP."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from perception.classes import Cls
from perception.objects import DetectedObject
from planning.params import HUMANOID, PlannerParams, embodiment_from_dict
from planning.planner import Planner
from planning.task import ObjectMemory, route_through, walk_to_check
from planning.types import RouteMap
from tests.planning.helpers import FRAME_NS, ego, perception, put_box, road_grid

EMB = embodiment_from_dict(HUMANOID)
RED_BOX = DetectedObject(label="vehicle", x=6.0, y=0.0, width=0.6, colour="red", pixels=150, bearing=0.0)


def hold_route() -> RouteMap:
    """What the sim hands out with a task: 3 m ahead, goal at the start (sim/humanoid_task.py)."""
    xs = np.arange(0.0, 3.01, 0.5)
    return RouteMap(np.stack([xs, np.zeros_like(xs)], axis=1), 3.0, 2.5, goal_s=0.0)


def grid_with_box():
    # the red box 6-6.6 m ahead, as the BEV shows it
    return put_box(road_grid(resolution=0.2, x_max=20.0, half_width=8.0), Cls.VEHICLE, 6.0, 6.6, -0.3, 0.3)


def frames(planner, n, start=0, objects=(RED_BOX,), grid=None):
    grid = grid_with_box() if grid is None else grid
    queries = []
    for k in range(start, start + n):
        stamp = (k + 1) * FRAME_NS
        planner.plan(dataclasses.replace(perception(grid, stamp), objects=tuple(objects)), ego(stamp))
        if planner.system2_query is not None:
            queries.append(planner.system2_query)
    return queries


def answer(query, action, waypoints=(), valid_s=5.0):
    return {
        "status": "ok",
        "action": action,
        "frame_id": query["frame_id"],
        "stamp_ns": query["stamp_ns"],
        "valid_until_ns": query["stamp_ns"] + int(valid_s * 1e9),
        "waypoints": [list(w) for w in waypoints],
        "target_speed": 2.0,
        "confidence": 0.9,
        "rationale": "test",
        "backend": "test",
    }


def walk_to_box():
    return [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0), (5.2, 0.0)]  # ends 0.8 m before the box


def test_a_task_is_asked_about_once_settled_with_the_sentence_and_the_objects_in_odom():
    p = PlannerParams()
    planner = Planner(EMB, hold_route(), p)
    planner.set_task("walk to the red box")
    settle = round(p.task_settle_s / (FRAME_NS * 1e-9))
    assert frames(planner, settle) == []  # the body settles first
    queries = frames(planner, round(1.0 / (FRAME_NS * 1e-9)), settle)
    assert len(queries) == round(1.0 / p.task_ask_s)  # asked again every task_ask_s while unanswered
    q = queries[0]
    assert q["question"] == "text_task" and q["text"] == "walk to the red box"
    assert q["embodiment"] == "humanoid"
    assert q["objects"] == []  # remembered only from the settled body on, and only once seen thrice
    (obj,) = queries[1]["objects"]
    assert obj["label"] == "vehicle" and obj["color"] == "red" and obj["x"] == pytest.approx(6.0)


def test_a_latched_redelivery_of_the_same_sentence_does_not_restart_the_task():
    planner = Planner(EMB, hold_route())
    planner.set_task("walk to the red box")
    task = planner.task
    planner.set_task("walk to the red box")
    assert planner.task is task
    planner.set_task("walk to the blue box")
    assert planner.task is not task and planner.task.text == "walk to the blue box"


def test_walk_to_replaces_the_route_and_the_planner_walks_it():
    planner = Planner(EMB, hold_route())
    planner.set_task("walk to the red box")
    q = frames(planner, 20)[0]
    planner.system2.on_reply(answer(q, "walk_to", walk_to_box()))
    frames(planner, 1, 20)
    assert planner.task.state == "walking"
    assert planner.system2.counters.advice_followed == 1
    end = planner.route.map.centerline[-1]
    assert end == pytest.approx([5.2, 0.0], abs=1e-6) and planner.route.goal_s == pytest.approx(5.2, abs=0.01)
    stamp = 22 * FRAME_NS
    tr = planner.plan(dataclasses.replace(perception(grid_with_box(), stamp), objects=(RED_BOX,)), ego(stamp))
    assert tr.speed.max() > 0.5 and tr.x[-1] > 1.0  # it walks towards the box now


def test_walk_to_through_an_obstacle_is_rejected_and_the_route_kept():
    planner = Planner(EMB, hold_route())
    planner.set_task("walk to the red box")
    grid = put_box(grid_with_box(), Cls.OBSTACLE, 3.0, 3.4, -0.4, 0.4)  # a cone on the way
    q = frames(planner, 20, grid=grid)[0]
    planner.system2.on_reply(answer(q, "walk_to", walk_to_box()))
    frames(planner, 1, 20, grid=grid)
    assert planner.task.state == "asking" and planner.system2.counters.advice_rejected_unsafe == 1
    assert planner.route.goal_s == pytest.approx(0.0)
    assert "obstacle" in planner.system2.last_event


def test_stop_ends_the_task_and_wait_while_walking_keeps_the_last_advice():
    planner = Planner(EMB, hold_route())
    planner.set_task("walk to the red box")
    q = frames(planner, 20)[0]
    planner.system2.on_reply(answer(q, "walk_to", walk_to_box()))
    frames(planner, 1, 20)
    route = planner.route
    q2 = frames(planner, 40, 21)[0]  # asked again while walking
    planner.system2.on_reply(answer(q2, "wait"))
    frames(planner, 1, 61)
    assert planner.route is route and planner.task.state == "walking"
    q3 = frames(planner, 40, 62)[0]
    planner.system2.on_reply(answer(q3, "stop"))
    frames(planner, 1, 102)
    assert planner.task.state == "done"
    assert frames(planner, 60, 103) == []  # done: no more questions


def test_pass_advice_for_a_task_is_rejected():
    planner = Planner(EMB, hold_route())
    planner.set_task("walk to the red box")
    q = frames(planner, 20)[0]
    planner.system2.on_reply(answer(q, "pass_left_oncoming", walk_to_box()))
    frames(planner, 1, 20)
    assert planner.system2.counters.advice_rejected_unsafe == 1 and planner.task.state == "asking"


@pytest.mark.parametrize(
    ("waypoints", "why"),
    [
        ([], "without waypoints"),
        ([(1.0, 0.0), (float("nan"), 0.0)], "not finite"),
        ([(1.0, 0.0), (40.0, 0.0)], "away"),
        ([(1.0, 0.0), (9.0, 0.0)], "through an obstacle"),  # on through the box and beyond
    ],
)
def test_walk_to_check_says_why_not(waypoints, why):
    xy = np.array([[6.2, 0.0], [6.4, 0.1]])
    cls = np.full(2, int(Cls.VEHICLE), dtype=np.uint8)
    got = walk_to_check(
        np.array(waypoints, dtype=float),
        ego(),
        xy,
        cls,
        max_reach_m=25.0,
        target_clearance_m=1.5,
        half_width=0.55,
        near_body_m=2.0,
    )
    assert why in got


def test_walk_to_check_passes_the_object_walked_to_and_pedestrians():
    xy = np.array([[6.2, 0.0], [3.0, 0.1]])
    cls = np.array([int(Cls.VEHICLE), int(Cls.PEDESTRIAN)], dtype=np.uint8)
    wp = np.array(walk_to_box())
    limits = dict(max_reach_m=25.0, target_clearance_m=1.5, half_width=0.55, near_body_m=2.0)
    assert walk_to_check(wp, ego(), xy, cls, **limits) == ""


def test_walk_to_check_ignores_cells_the_robots_own_arms_make_in_front_of_it():
    # a "vehicle" blob 1.4 m ahead moves with the body (its arm); a box 4 m ahead does not
    cls = np.full(1, int(Cls.VEHICLE), dtype=np.uint8)
    wp = np.array(walk_to_box())
    limits = dict(max_reach_m=25.0, target_clearance_m=1.5, half_width=0.55, near_body_m=2.0)
    assert walk_to_check(wp, ego(), np.array([[1.4, 0.0]]), cls, **limits) == ""
    assert "through an obstacle" in walk_to_check(wp, ego(), np.array([[4.0, 0.1]]), cls, **limits)


def test_route_through_starts_at_the_body_and_a_reached_target_gives_a_stub():
    like = hold_route()
    r = route_through(ego(x=1.0, y=2.0), np.array([[4.0, 2.0], [4.0, 5.0]]), like)
    assert r.centerline[0] == pytest.approx([1.0, 2.0]) and r.centerline[-1] == pytest.approx([4.0, 5.0])
    assert np.hypot(*np.diff(r.centerline, axis=0).T).max() <= 0.5 + 1e-9
    stub = route_through(ego(x=1.0, y=2.0), np.array([[1.1, 2.0]]), like)
    assert stub.goal_s == 0.0 and len(stub.centerline) == 2


def test_object_memory_reports_objects_seen_in_several_frames_in_odom():
    mem = ObjectMemory(min_range_m=2.0)
    pose = ego(x=1.0, y=2.0, yaw=np.pi / 2)
    for k in range(2):
        mem.update([RED_BOX], pose, k * FRAME_NS)
    assert mem.confirmed() == []  # two sightings could be a flicker
    mem.update([dataclasses.replace(RED_BOX, x=6.4)], pose, 2 * FRAME_NS)  # the same box, a bit off
    (o,) = mem.confirmed()
    assert o["x"] == pytest.approx(1.0) and 8.0 < o["y"] < 8.4 and o["color"] == "red"
    # another colour at the same place is another object; so is one far off
    mem.update([dataclasses.replace(RED_BOX, colour="blue")] * 3, pose, 3 * FRAME_NS)
    assert len(mem.tracks) == 2
    # forgotten once unseen for memory_s
    mem.update([], pose, 3 * FRAME_NS + round(10.5e9))
    assert mem.tracks == []


def test_object_memory_forgets_an_object_whose_place_is_seen_free():
    mem = ObjectMemory(min_range_m=2.0)
    for k in range(3):
        mem.update([RED_BOX], ego(), k * FRAME_NS)
    assert len(mem.confirmed()) == 1
    for k in range(3, 5):
        mem.update([], ego(), k * FRAME_NS, seen_free=lambda x, y: np.zeros(len(x), bool))  # not in view
    assert len(mem.confirmed()) == 1
    for k in range(5, 8):
        mem.update([], ego(), k * FRAME_NS, seen_free=lambda x, y: np.ones(len(x), bool))  # looked: nothing
    assert mem.confirmed() == []


def test_object_memory_ignores_blobs_nearer_than_the_camera_sees_ground():
    mem = ObjectMemory(min_range_m=2.0)
    arm = dataclasses.replace(RED_BOX, x=1.3, y=-0.4)  # the robot's own forearm, placed on the ground
    for k in range(10):
        mem.update([arm], ego(), k * FRAME_NS)
    assert mem.confirmed() == []

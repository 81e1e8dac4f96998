"""The deliberative backend on hand-built scenes (pure Python: no server)."""

from types import SimpleNamespace as NS

import numpy as np
import pytest
from cloud_helpers import CAR, HUMANOID, DetectedObject, bev_with_boxes, stalled_request, straight_route

from cloud_reasoner.backends.deliberative import DeliberativeBackend
from cloud_reasoner.convert import build_request, query_from_proto
from cloud_reasoner.query import MetaAction, QuestionKind


def reason(req):
    return DeliberativeBackend().reason(query_from_proto(req), 1.0)


def car_request(
    boxes=(), objects=(), oncoming=(3.5,), question=QuestionKind.STUCK_BEHIND_OBSTACLE, adjacent=()
):
    route = straight_route()
    route.adjacent_lane_offsets = tuple(adjacent)
    return build_request(
        vehicle_id="car1",
        embodiment="car",
        frame_id="f",
        stamp_ns=0,
        ego=NS(x=10.0, y=0.0, yaw=0.0, speed=0.0, yaw_rate=0.0),
        body=CAR,
        route=route,
        grid=bev_with_boxes(boxes),
        objects=list(objects),
        oncoming_lane_offsets=list(oncoming),
        question=question,
    )


def test_stalled_vehicle_with_free_oncoming_lane_passes_left_and_returns():
    advice = reason(stalled_request())
    assert advice.action == MetaAction.PASS_LEFT_ONCOMING
    wp = advice.waypoints
    # out: beside the stalled car (x 23-27.5 in odom) the path is left of the ego lane with clearance
    beside = (wp[:, 0] > 22.0) & (wp[:, 0] < 28.5)
    assert beside.any() and np.all(wp[beside, 1] > 0.9 + 0.5 * CAR.width)
    # back in: the last waypoint is on the lane centre, past the car
    assert wp[-1, 0] > 28.5 and abs(wp[-1, 1]) < 0.3
    assert 0 < advice.target_speed <= 8.0 and advice.valid_for_s > 0


def test_oncoming_vehicle_too_close_means_wait():
    oncoming_car = DetectedObject("onc", "vehicle", "", 45.0, 3.5, 4.5, 1.9, vx=-8.0)
    advice = reason(stalled_request(objects=[oncoming_car]))
    assert advice.action == MetaAction.WAIT
    assert "oncoming" in advice.rationale


def test_oncoming_vehicle_far_away_leaves_a_gap():
    far = DetectedObject("onc", "vehicle", "", 400.0, 3.5, 4.5, 1.9, vx=-8.0)  # beyond the route end
    advice = reason(build_request(**{**_stalled_kwargs(), "objects": [far]}))
    assert advice.action == MetaAction.PASS_LEFT_ONCOMING


def _stalled_kwargs():
    return dict(
        vehicle_id="car1",
        embodiment="car",
        frame_id="f",
        stamp_ns=0,
        ego=NS(x=10.0, y=0.0, yaw=0.0, speed=0.0, yaw_rate=0.0),
        body=CAR,
        route=NS(
            centerline=np.stack([np.arange(0.0, 500.0), np.zeros(500)], axis=1),
            lane_width=3.5,
            speed_limit=8.0,
            adjacent_lane_offsets=(),
            goal_s=None,
        ),
        grid=bev_with_boxes([(13.0, 17.5, -0.9, 0.9, 4)]),
        oncoming_lane_offsets=[3.5],
    )


def test_without_a_known_oncoming_lane_it_never_proposes_one():
    advice = reason(stalled_request(oncoming=()))
    assert advice.action == MetaAction.STOP
    assert len(advice.waypoints) == 0


def test_clear_lane_continues():
    advice = reason(car_request())
    assert advice.action == MetaAction.CONTINUE


def test_low_confidence_with_clear_lane_goes_slowly():
    advice = reason(car_request(question=QuestionKind.LOW_CONFIDENCE))
    assert advice.action == MetaAction.GO_SLOWLY and advice.target_speed < 8.0


def test_cones_shifting_the_lane_are_followed():
    # Cones closing the right half of the lane 12-22 m ahead; a free same-direction lane on the left.
    cones = [(x, x + 0.4, -1.9, -1.5 + 0.3 * i, 6) for i, x in enumerate(np.arange(12.0, 22.0, 2.5))]
    advice = reason(car_request(boxes=cones, oncoming=(), adjacent=(3.5,)))
    assert advice.action == MetaAction.FOLLOW_CONES
    assert advice.waypoints[:, 1].max() > 0.5  # shifted left of the cones


def test_road_blocked_across_all_lanes_asks_for_a_reroute():
    advice = reason(car_request(boxes=[(13.0, 15.0, -2.0, 5.5, 6)]))
    assert advice.action == MetaAction.REROUTE


def humanoid_request(text, objects):
    return build_request(
        vehicle_id="robot1",
        embodiment="humanoid",
        frame_id="f",
        stamp_ns=0,
        ego=NS(x=0.0, y=0.0, yaw=0.0, speed=0.0, yaw_rate=0.0),
        body=HUMANOID,
        route=NS(
            centerline=np.array([[0.0, 0.0], [10.0, 0.0]]),
            lane_width=2.0,
            speed_limit=1.5,
            adjacent_lane_offsets=(),
            goal_s=None,
        ),
        objects=objects,
        question=QuestionKind.TEXT_TASK,
        text=text,
    )


OBJECTS = [
    DetectedObject("b1", "box", "blue", 3.0, 1.0, 0.5, 0.5),
    DetectedObject("r1", "box", "red", 4.0, -2.0, 0.5, 0.5),
    DetectedObject("r2", "box", "red", 9.0, 3.0, 0.5, 0.5),
    DetectedObject("c1", "cone", "blue", 2.0, 2.0, 0.3, 0.3),
]


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("walk to the red box", "r1"),  # the nearer of two red boxes
        ("Go to the blue cone", "c1"),
        ("please walk over to the blue box", "b1"),
        ("head towards the red cube", "r1"),
    ],
)
def test_text_tasks_pick_the_named_object(text, target):
    advice = reason(humanoid_request(text, OBJECTS))
    assert advice.action == MetaAction.WALK_TO and advice.target_object_id == target
    obj = next(o for o in OBJECTS if o.object_id == target)
    end = advice.waypoints[-1]
    dist = np.hypot(end[0] - obj.x, end[1] - obj.y)
    assert 0.3 < dist < 1.0  # stops just short of it
    assert np.hypot(*np.diff(advice.waypoints, axis=0).T).max() <= 1.0 + 1e-9


@pytest.mark.parametrize(
    ("text", "action"),
    [("walk to the green box", MetaAction.WAIT), ("stop", MetaAction.STOP), ("dance", MetaAction.WAIT)],
)
def test_text_tasks_without_a_match_do_not_walk(text, action):
    advice = reason(humanoid_request(text, OBJECTS))
    assert advice.action == action and len(advice.waypoints) == 0


# As the humanoid's perception reports them (perception/objects.py): class names, no "box"; a saturated
# box is often read as a vehicle.
SEEN = [
    DetectedObject("o0", "vehicle", "red", 6.0, 1.0, 0.0, 0.6),
    DetectedObject("o1", "obstacle", "yellow", 5.0, -1.0, 0.0, 0.7),
    DetectedObject("o2", "vehicle", "blue", 4.0, 0.0, 0.0, 3.2),  # as wide as a car: not a box
    DetectedObject("o3", "pedestrian", "green", 3.0, 0.0, 0.0, 0.5),
]


@pytest.mark.parametrize(
    ("text", "target"),
    [("walk to the red box", "o0"), ("navigate to the yellow crate", "o1")],
)
def test_a_box_is_a_narrow_obstacle_or_vehicle_blob(text, target):
    advice = reason(humanoid_request(text, SEEN))
    assert advice.action == MetaAction.WALK_TO and advice.target_object_id == target


@pytest.mark.parametrize("text", ["walk to the blue box", "go to the green box"])
def test_a_wide_vehicle_or_a_pedestrian_is_not_a_box(text):
    advice = reason(humanoid_request(text, SEEN))
    assert advice.action == MetaAction.WAIT and advice.valid_for_s <= 0.5  # look around, ask again soon


def test_deterministic():
    a, b = reason(stalled_request()), reason(stalled_request())
    assert a.action == b.action and np.array_equal(a.waypoints, b.waypoints) and a.rationale == b.rationale


def test_what_it_cannot_see_it_does_not_pass():
    # no BEV at all
    req = stalled_request()
    req.ClearField("bev")
    req.objects.add(object_id="v", label="vehicle", length=4.5, width=1.9).position.x = 25.0
    assert reason(req).action == MetaAction.WAIT
    # a car in the oncoming lane seen only in the BEV: its speed is unknown
    req = build_request(
        **{**_stalled_kwargs(), "grid": bev_with_boxes([(13.0, 17.5, -0.9, 0.9, 4), (30, 34, 2.8, 4.4, 4)])}
    )
    advice = reason(req)
    assert advice.action == MetaAction.WAIT and "unknown speed" in advice.rationale
    # the oncoming lane unseen (unknown cells) over the manoeuvre
    req = build_request(
        **{**_stalled_kwargs(), "grid": bev_with_boxes([(13.0, 17.5, -0.9, 0.9, 4), (0, 40, 1.8, 6, 255)])}
    )
    advice = reason(req)
    assert advice.action == MetaAction.WAIT and "visible" in advice.rationale


def test_a_road_user_the_vehicle_tracks_has_a_known_speed():
    # car_stalled_vehicle seed 10: a blob of vehicle cells at the edge of the oncoming lane that never
    # moved kept the car waiting ("unknown speed") until its time ran out. The vehicle's tracker now lists
    # the road users whose velocity it knows; their cells take that velocity.
    grid = bev_with_boxes([(13.0, 17.5, -0.9, 0.9, 4), (30, 34, 2.8, 4.4, 4)])  # base_link; ego at x = 10
    standing = DetectedObject("track1", "vehicle", "", 42.0, 3.6, 4.0, 1.6)
    advice = reason(build_request(**{**_stalled_kwargs(), "grid": grid, "objects": [standing]}))
    assert advice.action == MetaAction.PASS_LEFT_ONCOMING, advice.rationale
    coming = DetectedObject("track1", "vehicle", "", 42.0, 3.6, 4.0, 1.6, vx=-6.0)
    advice = reason(build_request(**{**_stalled_kwargs(), "grid": grid, "objects": [coming]}))
    assert advice.action == MetaAction.WAIT and "oncoming vehicle" in advice.rationale
    # an object elsewhere says nothing about these cells: still of unknown speed
    elsewhere = DetectedObject("track1", "vehicle", "", 42.0, -20.0, 4.0, 1.6)
    advice = reason(build_request(**{**_stalled_kwargs(), "grid": grid, "objects": [elsewhere]}))
    assert advice.action == MetaAction.WAIT and "unknown speed" in advice.rationale


def test_stalled_car_reaching_left_of_centre_is_passable_from_the_planner_standoff():
    # car_stalled_vehicle seeds 7, 16 and 18 through ROS: the planner stands ~12.6 m (base_link) behind
    # the stalled car's BEV blob (its rear, ~1 m deep), whose left edge reaches ~1.25 m left of the lane
    # centre. A 0.35 m/m pull-out clears it by metres; the corridor search must find it (it used to
    # answer STOP: the lattice rounded the lateral rate down to 0.25 m/m).
    req = build_request(**{**_stalled_kwargs(), "grid": bev_with_boxes([(12.6, 13.6, -0.8, 1.25, 4)])})
    advice = reason(req)
    assert advice.action == MetaAction.PASS_LEFT_ONCOMING, advice.rationale
    wp = advice.waypoints
    beside = (wp[:, 0] > 10.0 + 12.6 - 0.5 * CAR.length) & (wp[:, 0] < 10.0 + 13.6 + 0.5 * CAR.length)
    assert beside.any() and np.all(wp[beside, 1] > 1.25 + 0.5 * CAR.width)
    # still a smooth path: per 2 m station at most one lattice step above the configured 0.35 m/m
    step = np.abs(np.diff(wp[:, 1])) / np.maximum(np.diff(wp[:, 0]), 1e-9)
    assert step.max() <= 0.375 + 1e-6


def test_the_lateral_rate_limit_is_rounded_to_the_nearest_lattice_step():
    assert DeliberativeBackend()._max_lattice_step() == pytest.approx(0.75)  # 0.35 m/m x 2 m on 0.25 m
    assert DeliberativeBackend(lateral_step_m=0.1)._max_lattice_step() == pytest.approx(0.7)
    assert DeliberativeBackend(max_lateral_rate=0.05)._max_lattice_step() == pytest.approx(0.25)

"""cloud_reasoner.vehicle_bridge without ROS: planner query -> valid ReasonRequest, replies, the embedded
loopback service and its named faults (FaultBackend is a test double around the real backend)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cloud_reasoner.convert import query_from_proto
from cloud_reasoner.query import MetaAction
from cloud_reasoner.vehicle_bridge import EmbeddedCloud, FaultBackend, VehicleBridge, request_from_query
from perception.classes import Cls
from perception.types import BevGrid
from planning.system2 import advice_from_dict, grid_payload
from planning.types import RouteMap

ROUTE = RouteMap(np.stack([np.arange(0.0, 200.0), np.zeros(200)], axis=1), 3.5, 10.0, (), (), None, (3.5,))


def stalled_query(frame: int = 1, oncoming_car: bool = False) -> dict:
    classes = np.full((80, 160), int(Cls.ROAD), dtype=np.uint8)
    classes[36:44, 56:74] = int(Cls.VEHICLE)  # a stalled car 14..18.5 m ahead in the ego lane
    if oncoming_car:
        classes[50:58, 100:118] = int(Cls.VEHICLE)  # one in the oncoming lane 25 m ahead
    return {
        "frame_id": f"plan/{frame}",
        "stamp_ns": frame * 49_500_000,
        "question": "stuck_behind_obstacle",
        "embodiment": "car",
        "ego": {"x": 10.0, "y": 0.0, "yaw": 0.0, "speed": 0.0, "yaw_rate": 0.0},
        "body": {"length": 4.5, "width": 1.8, "max_speed": 15.0},
        "oncoming_lane_offsets": [3.5],
        "blocker_s": 24.0,
        "grid": grid_payload(BevGrid(classes, 0.25, 0.0, -10.0)),
    }


def wait_reply(bridge: VehicleBridge, timeout_s: float = 10.0) -> dict | None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        reply = bridge.poll()
        if reply is not None:
            return reply
        time.sleep(0.005)
    return None


def test_query_becomes_a_valid_request():
    q = query_from_proto(request_from_query(stalled_query(), ROUTE, "car"))
    assert q.frame_id == "plan/1" and q.oncoming_lane_offsets == (3.5,) and q.grid is not None
    assert (q.grid.classes == int(Cls.VEHICLE)).sum() == 8 * 18


def test_the_query_names_its_body_and_an_unknown_or_missing_one_is_refused_not_taken_for_a_car():
    assert query_from_proto(request_from_query(task_query(), ROUTE, "humanoid")).embodiment.name == "HUMANOID"
    with pytest.raises(ValueError, match="tricycle"):
        request_from_query({**stalled_query(), "embodiment": "tricycle"}, ROUTE, "car")
    unnamed = stalled_query()
    del unnamed["embodiment"]
    with pytest.raises(KeyError):
        request_from_query(unnamed, ROUTE, "car")


def test_fault_backend_modes_shape_the_advice():
    query = query_from_proto(request_from_query(stalled_query(), ROUTE, "car"))
    assert FaultBackend("stale").reason(query, 1.0).valid_for_s == 0.0
    garbage = FaultBackend("garbage").reason(query, 1.0)
    assert garbage.action == MetaAction.PASS_LEFT_ONCOMING and garbage.waypoints[:, 0].min() > 400
    busy = query_from_proto(request_from_query(stalled_query(oncoming_car=True), ROUTE, "car"))
    assert FaultBackend("none").reason(busy, 1.0).action == MetaAction.WAIT  # the real backend waits
    assert FaultBackend("unsafe").reason(busy, 1.0).action == MetaAction.PASS_LEFT_ONCOMING  # the fault
    with pytest.raises(ValueError):
        FaultBackend("teapot")
    with pytest.raises(ValueError):
        EmbeddedCloud("teapot")


def task_query() -> dict:
    """A planner's text-task query (planning/task.py): the sentence and the objects it sees, in odom."""
    q = stalled_query()
    q.update(
        question="text_task",
        embodiment="humanoid",
        text="walk to the red box",
        body={"length": 0.5, "width": 0.5, "max_speed": 3.5},
        oncoming_lane_offsets=[],
        objects=[
            {"object_id": "obj0", "label": "vehicle", "color": "red", "x": 16.0, "y": 1.0, "width": 0.6},
            {"object_id": "obj1", "label": "obstacle", "color": "blue", "x": 14.0, "y": -2.0, "width": 0.5},
        ],
    )
    return q


def test_a_task_query_carries_its_sentence_and_objects_and_unsafe_walks_through_the_box():
    q = query_from_proto(request_from_query(task_query(), ROUTE, "humanoid"))
    assert q.text == "walk to the red box" and [o.object_id for o in q.objects] == ["obj0", "obj1"]
    assert q.objects[0].color == "red" and q.objects[0].x == 16.0
    honest = FaultBackend("none").reason(q, 1.0)
    assert honest.action == MetaAction.WALK_TO and honest.target_object_id == "obj0"
    end = honest.waypoints[-1]
    unsafe = FaultBackend("unsafe").reason(q, 1.0)
    assert unsafe.action == MetaAction.WALK_TO
    # on through the red box: its last waypoint lies beyond the box, seen from the start
    assert np.hypot(*(unsafe.waypoints[-1] - [10.0, 0.0])) > np.hypot(16.0 - 10.0, 1.0) + 1.0
    assert np.allclose(unsafe.waypoints[: len(honest.waypoints)], honest.waypoints) and len(end) == 2


def test_embedded_cloud_answers_and_kill_stops_it_after_the_first_answer():
    with EmbeddedCloud("kill") as cloud:
        bridge = VehicleBridge(cloud.client(deadline_s=1.0), ROUTE)
        try:
            assert bridge.submit(stalled_query(1)) is None
            first = wait_reply(bridge)
            assert first["status"] == "ok" and advice_from_dict(first).action == "pass_left_oncoming"
            time.sleep(0.3)  # the server is being stopped
            assert bridge.submit(stalled_query(2)) is None
            second = wait_reply(bridge)
            assert second["status"] == "error" and second["frame_id"] == "plan/2"
            assert bridge.counters.cloud_requests == 2 and bridge.counters.cloud_failures == 1
        finally:
            bridge.close()


def test_busy_bridge_skips_and_a_bad_query_is_an_error_reply():
    with EmbeddedCloud("slow") as cloud:
        bridge = VehicleBridge(cloud.client(deadline_s=0.5), ROUTE)
        try:
            assert bridge.submit(stalled_query(1)) is None
            skipped = bridge.submit(stalled_query(2))
            assert skipped["status"] == "skipped" and skipped["frame_id"] == "plan/2"
            assert wait_reply(bridge)["status"] == "error"
            bad = {**stalled_query(3), "grid": {"rows": 2, "cols": 2}}
            assert bridge.submit(bad)["status"] == "error"
        finally:
            bridge.close()

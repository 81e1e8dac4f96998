"""The reasoner bridge node against a real Reasoner server on loopback: a planner query in, advice out,
and the executor never blocked while a (slow) call is in flight."""

from __future__ import annotations

import json
import time

import numpy as np
from fleetpilot_nodes.node_params import latched_qos
from rclpy.node import Node
from std_msgs.msg import String

from cloud_reasoner.vehicle_bridge import EmbeddedCloud
from fleetpilot.graph_runner import ComposedGraph, _make_executor, _ros_context
from perception.classes import Cls
from perception.types import BevGrid
from planning.system2 import advice_from_dict, grid_payload
from planning.types import RouteMap


def stalled_query(frame: int = 1) -> dict:
    """What the planner emits standing 10 m behind a stalled car, the oncoming lane free and seen."""
    classes = np.full((80, 160), int(Cls.ROAD), dtype=np.uint8)
    classes[36:44, 56:74] = int(Cls.VEHICLE)  # x 14..18.5 m, y -1..1 m (base_link, 0.25 m cells)
    grid = BevGrid(classes, 0.25, 0.0, -10.0)
    return {
        "frame_id": f"plan/{frame}",
        "stamp_ns": frame * 49_500_000,
        "question": "stuck_behind_obstacle",
        "embodiment": "car",
        "ego": {"x": 10.0, "y": 0.0, "yaw": 0.0, "speed": 0.0, "yaw_rate": 0.0},
        "body": {"length": 4.5, "width": 1.8, "max_speed": 15.0},
        "oncoming_lane_offsets": [3.5],
        "blocker_s": 24.0,
        "grid": grid_payload(grid),
    }


def run_bridge(tmp_path, fault, queries, wait_s):
    """Start the embedded service (with `fault`), the bridge node and a feeder; publish the queries;
    spin for wait_s. Returns (replies, timer ticks of a 10 ms feeder timer, bridge counters)."""
    replies, ticks = [], []
    route = RouteMap(
        np.stack([np.arange(0.0, 200.0), np.zeros(200)], axis=1), 3.5, 10.0, oncoming_lane_offsets=(3.5,)
    )
    from fleetpilot_nodes import conversions as conv

    with EmbeddedCloud(fault) as cloud, _ros_context() as ctx:
        graph = ComposedGraph(
            ctx,
            "car_sim_system2",
            overrides={
                "reasoner_bridge": {
                    "target": cloud.target,
                    "token": cloud.token,
                    "vehicle_id": cloud.vehicle_id,
                }
            },
            only=("reasoner_bridge",),
            tmpdir=tmp_path,
        )
        feeder = Node("feeder", namespace="/car", context=ctx)
        pub_q = feeder.create_publisher(String, "system2/query", 10)
        pub_route = feeder.create_publisher(String, "map/route", latched_qos())
        feeder.create_subscription(String, "system2/advice", lambda m: replies.append(json.loads(m.data)), 10)
        feeder.create_timer(0.01, lambda: ticks.append(time.perf_counter()))
        executor = _make_executor(ctx)
        for node in (feeder, *graph.nodes.values()):
            executor.add_node(node)
        bridge = graph.nodes["reasoner_bridge"]
        try:
            pub_route.publish(conv.route_to_msg(route))
            end = time.perf_counter() + 3.0
            while bridge.bridge.route is None and time.perf_counter() < end:
                executor.spin_once(timeout_sec=0.01)
            assert bridge.bridge.route is not None, "the bridge never got the route"
            for q in queries:
                pub_q.publish(String(data=json.dumps(q)))
            end = time.perf_counter() + wait_s
            while time.perf_counter() < end and len(replies) < len(queries):
                executor.spin_once(timeout_sec=0.01)
            ticks.clear()
            end = time.perf_counter() + 0.5  # keep spinning: ticks must keep coming
            while time.perf_counter() < end:
                executor.spin_once(timeout_sec=0.01)
            counters = bridge.counters()
        finally:
            executor.shutdown()
            feeder.destroy_node()
            graph.destroy()
    return replies, ticks, counters


def test_bridge_answers_a_planner_query_with_pass_advice(tmp_path):
    replies, _, counters = run_bridge(tmp_path, None, [stalled_query()], wait_s=10.0)
    assert len(replies) == 1 and replies[0]["status"] == "ok"
    advice = advice_from_dict(replies[0])
    assert advice.frame_id == "plan/1" and advice.stamp_ns == 49_500_000
    assert advice.action == "pass_left_oncoming" and advice.backend == "deliberative"
    assert advice.valid_until_ns > advice.stamp_ns and advice.waypoints[:, 1].max() > 2.0
    assert counters["cloud_requests"] == 1 and counters["cloud_answers"] == 1


def test_slow_cloud_never_blocks_the_executor_and_one_request_is_in_flight(tmp_path):
    # The server answers after 5 s, past the 2 s deadline: the reply is an error, the second query was
    # skipped (busy), and a 10 ms timer kept firing throughout.
    t0 = time.perf_counter()
    replies, ticks, counters = run_bridge(tmp_path, "slow", [stalled_query(1), stalled_query(2)], wait_s=6.0)
    assert [r["status"] for r in replies] == ["skipped", "error"]
    assert replies[1]["frame_id"] == "plan/1" and "deadline" in replies[1]["error"]
    assert counters["cloud_requests"] == 1 and counters["cloud_skipped_busy"] == 1
    assert counters["cloud_failures"] == 1
    assert len(ticks) >= 20 and float(np.diff(ticks).max()) < 0.25, "the executor stalled"
    assert time.perf_counter() - t0 < 30.0


def test_cloud_down_gives_error_replies_not_a_hang(tmp_path):
    replies, _, counters = run_bridge(tmp_path, "down", [stalled_query()], wait_s=6.0)
    assert len(replies) == 1 and replies[0]["status"] == "error"
    assert counters["cloud_failures"] == 1 and counters["cloud_answers"] == 0

"""The System 2 bridge as a ROS 2 node: planner queries in, cloud advice out, never blocking.

Topics (relative, std_msgs/String carrying JSON):
- `system2/query` (in): a query the planner emitted when stuck (planning/system2.py, `Planner._make_query`):
  frame_id, stamp_ns, question, ego, body, oncoming_lane_offsets and the BEV grid (zlib + base64).
- `system2/advice` (out): one reply per query (cloud_reasoner/vehicle_bridge.py): status "ok" with the
  advice (action, waypoints in odom, valid_until_ns, ...), "error" (no answer: deadline, unavailable,
  invalid) or "skipped" (a request was still in flight: one at a time).
- `map/route` (in, latched): the route the request carries.
- `diagnostics` (out): the bridge counters after every reply.

The gRPC call runs on ReasonerClient's own thread; callbacks here only hand over and poll a slot (a
`poll_period_s` timer), so a slow or dead cloud never stalls the executor the control loop runs on.
With an empty `target` the node answers every query with an error reply (no cloud configured).
"""

from __future__ import annotations

import json

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import String

from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, declare, latched_qos

QOS_DEPTH = 10


def parameter_spec() -> dict[str, Param]:
    return {
        **COMMON_PARAMS,
        "target": Param("", "host:port of the cloud Reasoner service; '' = no cloud (every query fails)"),
        "token": Param("", "this vehicle's token (fleetpilot cloud add-vehicle); sent as call metadata"),
        "vehicle_id": Param("car", "the vehicle name the token belongs to"),
        "deadline_s": Param(2.0, "s, deadline of every Reason call (retries on UNAVAILABLE fit inside)"),
        "poll_period_s": Param(0.005, "s between polls of the in-flight call (wall clock, never blocks)"),
        "breaker_failures": Param(3, "unreachable or late calls in a row that open the circuit"),
        "breaker_cooldown_s": Param(5.0, "s the circuit stays open before one call goes out again"),
    }


class ReasonerBridgeNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("reasoner_bridge", **kwargs)
        self.p = declare(self, parameter_spec())
        if not float(self.p["deadline_s"]) > 0 or not float(self.p["poll_period_s"]) > 0:
            raise ValueError("deadline_s and poll_period_s must be > 0")
        self.bridge = None
        if self.p["target"]:
            from cloud_reasoner.client import ReasonerClient
            from cloud_reasoner.vehicle_bridge import VehicleBridge

            client = ReasonerClient(
                str(self.p["target"]),
                str(self.p["token"]),
                str(self.p["vehicle_id"]),
                deadline_s=float(self.p["deadline_s"]),
                breaker_failures=int(self.p["breaker_failures"]),
                breaker_cooldown_s=float(self.p["breaker_cooldown_s"]),
            )
            self.bridge = VehicleBridge(client)
        self.failed_no_cloud = 0
        self.bad_queries = 0
        self.pub_advice = self.create_publisher(String, "system2/advice", QOS_DEPTH)
        self.pub_diag = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.create_subscription(String, "map/route", self._on_route, latched_qos())
        self.create_subscription(String, "system2/query", self._on_query, QOS_DEPTH)
        self.create_timer(float(self.p["poll_period_s"]), self._poll)

    def _on_route(self, msg: String) -> None:
        if self.bridge is not None:
            self.bridge.route = conv.route_from_msg(msg)

    def _on_query(self, msg: String) -> None:
        try:
            query = json.loads(msg.data)
            frame = {"frame_id": str(query["frame_id"]), "stamp_ns": int(query["stamp_ns"])}
        except (ValueError, KeyError, TypeError) as exc:
            self.bad_queries += 1
            self.get_logger().warning(f"ignoring a malformed system2 query: {exc!r}")
            return
        if self.bridge is None:
            self.failed_no_cloud += 1
            self._publish({"status": "error", **frame, "error": "no cloud configured"})
            return
        reply = self.bridge.submit(query)
        if reply is not None:
            self._publish(reply)

    def _poll(self) -> None:
        if self.bridge is not None:
            reply = self.bridge.poll()
            if reply is not None:
                self._publish(reply)

    def _publish(self, reply: dict) -> None:
        self.pub_advice.publish(String(data=json.dumps(reply, sort_keys=True)))
        counters = self.counters()
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if reply.get("status") == "ok" else DiagnosticStatus.WARN,
            name="reasoner_bridge",
            message=str(reply.get("action", reply.get("error", ""))),
            values=[KeyValue(key=k, value=str(v)) for k, v in counters.items()],
        )
        self.pub_diag.publish(DiagnosticArray(status=[status]))

    def counters(self) -> dict[str, int]:
        import dataclasses

        out = {"cloud_requests": 0, "cloud_skipped_busy": 0, "cloud_answers": 0, "cloud_failures": 0}
        out["cloud_circuit_open"] = 0  # of the failures: failed at once, the circuit being open
        if self.bridge is not None:
            out.update(dataclasses.asdict(self.bridge.counters))
            out["cloud_circuit_open"] = self.bridge.client.counters.breaker_open
        out["cloud_failures"] += self.failed_no_cloud
        return out

    def result_fields(self) -> dict:
        return self.counters()

    def destroy_node(self) -> None:
        if self.bridge is not None:
            self.bridge.close()
        super().destroy_node()


NODE_CLASS = ReasonerBridgeNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(ReasonerBridgeNode, args)


if __name__ == "__main__":
    main()

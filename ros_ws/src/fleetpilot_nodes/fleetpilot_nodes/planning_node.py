"""Planning as a ROS 2 node: semantic grid + perception status + odometry (exact same stamp) → path.

Publishes planning/path (nav_msgs/Path in odom; each pose stamped with its planned arrival time),
planning/tracks (std_msgs/String, JSON: the road users the planner's tracker follows, in odom, with
velocity and covariance; conversions.tracks_to_msg) and diagnostics (the chosen behaviour, fallback
flag, planning time). Needs map/route (latched) first.
With `objects: true` perception/objects joins the stamp match (a System 2 query then lists them), and a
sentence on `task/text` (latched) becomes the planner's task: it asks System 2 what the words mean.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid, Path
from nav_msgs.msg import Odometry as OdometryMsg
from rclpy.node import Node
from std_msgs.msg import Bool, String

from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, declare, latched_qos, stream_qos, unflatten
from fleetpilot_nodes.stamp_sync import LastAnswer, StampLog, StampSync
from planning.types import EgoState, Embodiment, Trajectory

BODY_PARAM = Param("car", "the body: a file of contracts/embodiments/ by name, or a path to one")


def embodiment_spec(body: str = "car") -> dict[str, Param]:
    """embodiment.<field> parameters, defaults from the body's embodiment file (the one source of its
    numbers): a parameter file names the body; an override of one field stays possible at launch."""
    from contracts.embodiment import load

    return {
        f"embodiment.{k}": Param(v, f"Embodiment.{k} (default: {body}'s embodiment file)")
        for k, v in load(body).planning_fields().items()
    }


def declare_with_body(node: Node, spec_for: Callable[[str], dict[str, Param]]) -> dict[str, Any]:
    """Declare `body` first, then the rest of the node's parameters, whose embodiment.* defaults come
    from that body's file. An unknown body or a bad file raises ValueError naming it."""
    first = declare(node, {"body": BODY_PARAM})
    rest = {k: v for k, v in spec_for(str(first["body"])).items() if k != "body"}
    return first | declare(node, rest)


def dataclass_spec(prefix: str, cls) -> dict[str, Param]:
    """Parameters for every field of a params dataclass, defaults taken from the dataclass itself."""
    spec = {}
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if isinstance(value, tuple):
            value = list(value)
        spec[f"{prefix}.{f.name}"] = Param(value, f"{cls.__name__}.{f.name}")
    return spec


def parameter_spec(body: str = "car") -> dict[str, Param]:
    from planning.params import PlannerParams

    return {
        **COMMON_PARAMS,
        # The planner samples every planner.dt for its own checks; the path message needs fewer poses
        # (each PoseStamped is built and parsed in Python), except where the speed changes.
        "path_max_gap": Param(0.25, "s, longest time between published path poses; 0 publishes every point"),
        "path_speed_tolerance": Param(
            0.2, "m/s, a pose is dropped only if the speed recovered from the remaining ones stays this close"
        ),
        "system2_wait_s": Param(
            0.0,
            "lockstep only: wall s the frame after a System 2 query waits for the bridge's reply (then goes "
            "on without it); 0 = never wait (live runs: advice is used whenever it arrives)",
        ),
        "objects": Param(
            False, "match perception/objects by stamp too (queries for a task in words list them)"
        ),
        "body": BODY_PARAM,
        **embodiment_spec(body),
        **dataclass_spec("planner", PlannerParams),
    }


def load_embodiment(values: dict) -> Embodiment:
    from planning.params import embodiment_from_dict

    return embodiment_from_dict(unflatten(values, "embodiment"))


class PlanningNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("planning", **kwargs)
        from planning.params import PlannerParams

        self.p = declare_with_body(self, parameter_spec)
        self.embodiment = load_embodiment(self.p)
        self.params = PlannerParams.from_dict(unflatten(self.p, "planner"))
        if not (self.p["path_max_gap"] >= 0 and self.p["path_speed_tolerance"] > 0):
            raise ValueError("path_max_gap must be >= 0 and path_speed_tolerance > 0")
        self.planner = None
        self.stage_ms: StampLog = StampLog()
        qos = stream_qos(bool(self.p["reliable_qos"]))
        self.pub_path = self.create_publisher(Path, "planning/path", qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.pub_tracks = self.create_publisher(String, "planning/tracks", qos)
        self._answer = LastAnswer()
        inputs = ["grid", "status", "odom"] + (["objects"] if self.p["objects"] else [])
        self._sync = StampSync(inputs, self._on_inputs, queue_size=8, on_repeat=self._answer.repeat)
        self._pending = None  # inputs that arrived before the route
        self._drive_requested = False
        # System 2 (planning/system2.py): queries out, replies in. In lockstep (system2_wait_s > 0) the frame
        # after a query is deferred until its reply or the wait runs out, so the advice lands on the same
        # frame in every run of a seed; the node never blocks (the executor keeps spinning meanwhile).
        self.pub_query = self.create_publisher(String, "system2/query", 10)
        self.create_subscription(String, "system2/advice", self._on_advice, 10)
        self._awaiting: tuple[str, float] | None = None  # (frame_id, wall deadline)
        self._deferred = None
        self.system2_waits = 0  # frames that waited for a reply
        self.system2_wait_timeouts = 0
        if float(self.p["system2_wait_s"]) > 0:
            self.create_timer(0.05, self._wait_timeout)
        self._task_text = ""
        self.create_subscription(String, "map/route", self._on_route, latched_qos())
        self.create_subscription(String, "task/text", self._on_task, latched_qos())
        if self.p["objects"]:
            self.create_subscription(String, "perception/objects", self._on_objects, qos)
        self.create_subscription(Bool, "fleet/drive_request", self._on_drive_request, latched_qos())
        self.create_subscription(
            OccupancyGrid,
            "perception/semantic_grid",
            lambda m: self._sync.add("grid", conv.stamp_of(m), m),
            qos,
        )
        self.create_subscription(
            DiagnosticArray, "perception/status", lambda m: self._sync.add("status", conv.stamp_of(m), m), qos
        )
        self.create_subscription(
            OdometryMsg,
            "odom",
            conv.add_by_header_stamp(self._sync.add, "odom", self.get_logger()),
            stream_qos(bool(self.p["reliable_qos"]), 20),
            raw=True,  # 60 Hz, one per camera frame used: see cdr.py
        )

    def _on_route(self, msg: String) -> None:
        from planning.planner import Planner

        self.planner = Planner(self.embodiment, conv.route_from_msg(msg), self.params)
        if self._drive_requested:
            self.planner.release_park()
        if self._task_text:
            self.planner.set_task(self._task_text)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._on_inputs(*pending)

    def _on_task(self, msg: String) -> None:
        """A task in words: the planner cannot read it, so it asks System 2 (planning/task.py)."""
        self._task_text = msg.data.strip()
        if self.planner is not None and self._task_text:
            self.planner.set_task(self._task_text)

    def _on_objects(self, msg: String) -> None:
        try:
            stamp = conv.objects_stamp(msg)
        except ValueError as exc:
            self.get_logger().warning(f"dropping an objects message: {exc}")
            return
        self._sync.add("objects", stamp, msg)

    def _on_drive_request(self, msg: Bool) -> None:
        """The owner wants to drive: leave the parking spot (if any) for the goal."""
        if msg.data:
            self._drive_requested = True
            if self.planner is not None:
                self.planner.release_park()

    def _on_advice(self, msg: String) -> None:
        import json

        try:
            reply = json.loads(msg.data)
            frame_id = str(reply["frame_id"])
        except (ValueError, KeyError, TypeError) as exc:
            self.get_logger().warning(f"ignoring a malformed system2 reply: {exc!r}")
            return
        if self.planner is not None:
            self.planner.system2.on_reply(reply)
        if self._awaiting is not None and self._awaiting[0] == frame_id:
            self._release()

    def _wait_timeout(self) -> None:
        if self._awaiting is not None and time.perf_counter() > self._awaiting[1]:
            self.system2_wait_timeouts += 1
            self.get_logger().warning(f"no System 2 reply for {self._awaiting[0]}: going on without it")
            self._release()

    def _release(self) -> None:
        self._awaiting = None
        if self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            self._on_inputs(*deferred)

    def _on_inputs(
        self, grid: OccupancyGrid, status: DiagnosticArray, odom: bytes, objects: String | None = None
    ) -> None:
        if self.planner is None:
            self._pending = (grid, status, odom, objects)
            return
        if self._awaiting is not None:
            self.system2_waits += 1
            self._deferred = (grid, status, odom, objects)
            return
        perception = conv.perception_from_ros(grid, status)
        if objects is not None:
            try:
                perception = dataclasses.replace(perception, objects=conv.objects_from_msg(objects))
            except ValueError as exc:
                self.get_logger().warning(f"planning this frame without objects: {exc}")
        try:
            ego = EgoState.from_odometry(conv.odometry_from_bytes(odom))
        except ValueError as exc:
            self.get_logger().warning(f"dropping a frame with unreadable odometry: {exc}")
            return
        t0 = time.perf_counter()
        traj = self.planner.plan(perception, ego)
        ms = (time.perf_counter() - t0) * 1e3
        self.stage_ms[perception.stamp_ns] = ms
        # bytes: the path is written as CDR directly (conversions.path_bytes_from_trajectory says why)
        self._answer.publish(
            traj.stamp_ns, self.pub_path, conv.path_bytes_from_trajectory(self._published(traj))
        )
        self.pub_diag.publish(conv.planning_status(traj, ms))
        self.pub_tracks.publish(conv.tracks_to_msg(traj.stamp_ns, self.planner.tracker.confirmed()))
        query = self.planner.system2_query
        if query is not None:
            import json

            if float(self.p["system2_wait_s"]) > 0:
                self._awaiting = (query["frame_id"], time.perf_counter() + float(self.p["system2_wait_s"]))
            self.pub_query.publish(String(data=json.dumps(query)))

    def result_fields(self) -> dict:
        """System 2 counters for the scenario JSON (only where the map offers System 2 an oncoming lane)."""
        if self.planner is None or not self.planner.offers_system2:
            return {}
        return {
            **self.planner.system2.counters.as_dict(),
            "system2_frames_waited": self.system2_waits,
            "system2_wait_timeouts": self.system2_wait_timeouts,
        }

    def _published(self, traj: Trajectory) -> Trajectory:
        gap = float(self.p["path_max_gap"])
        return traj.decimated(gap, float(self.p["path_speed_tolerance"])) if gap > 0 else traj


NODE_CLASS = PlanningNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(PlanningNode, args)


if __name__ == "__main__":
    main()

"""Control as a ROS 2 node: planning/path + odometry (exact same stamp) → cmd_vel (TwistStamped).

cmd_vel carries the camera stamp it answers, which is what the lockstep sim waits for.
"""

from __future__ import annotations

import dataclasses
import time

from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from nav_msgs.msg import Path
from rclpy.node import Node

from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, stream_qos, unflatten
from fleetpilot_nodes.planning_node import (
    BODY_PARAM,
    dataclass_spec,
    declare_with_body,
    embodiment_spec,
    load_embodiment,
)
from fleetpilot_nodes.stamp_sync import LastAnswer, StampLog, StampSync
from planning.types import EgoState, Trajectory


def _controller_params_class():
    from planning.controller import ControllerParams

    return ControllerParams


def parameter_spec(body: str = "car") -> dict[str, Param]:
    return {
        **COMMON_PARAMS,
        "body": BODY_PARAM,
        **embodiment_spec(body),
        **dataclass_spec("controller", _controller_params_class()),
    }


class ControlNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("control", **kwargs)
        from planning.controller import Controller

        self.p = declare_with_body(self, parameter_spec)
        params = _controller_params_class().from_dict(unflatten(self.p, "controller"))
        self.controller = Controller(load_embodiment(self.p), params)
        self.stage_ms: StampLog = StampLog()
        qos = stream_qos(bool(self.p["reliable_qos"]))
        self.pub_cmd = self.create_publisher(TwistStamped, "cmd_vel", qos)
        self._answer = LastAnswer()
        self._sync = StampSync(["path", "odom"], self._on_inputs, queue_size=8, on_repeat=self._answer.repeat)
        # raw: the path arrives as CDR bytes and is read without building a message object per pose
        self.create_subscription(Path, "planning/path", self._on_path, qos, raw=True)
        self.rejected_paths = 0
        self.create_subscription(
            OdometryMsg,
            "odom",
            conv.add_by_header_stamp(self._sync.add, "odom", self.get_logger()),
            stream_qos(bool(self.p["reliable_qos"]), 20),
            raw=True,  # 60 Hz, one per camera frame used: see cdr.py
        )

    def _on_path(self, data: bytes) -> None:
        traj = conv.usable_path(data, self.get_logger())
        if traj is None:
            self.rejected_paths += 1
            return
        self._sync.add("path", traj.stamp_ns, traj)

    def _on_inputs(self, traj: Trajectory, odom: bytes) -> None:
        try:
            ego = EgoState.from_odometry(conv.odometry_from_bytes(odom))
        except ValueError as exc:
            self.get_logger().warning(f"dropping a frame with unreadable odometry: {exc}")
            return
        t0 = time.perf_counter()
        cmd = self.controller.command(traj, ego)
        self.stage_ms[traj.stamp_ns] = (time.perf_counter() - t0) * 1e3
        # The answer must carry the camera stamp it belongs to: lockstep matches on it.
        if cmd.stamp_ns != traj.stamp_ns:
            cmd = dataclasses.replace(cmd, stamp_ns=traj.stamp_ns)
        self._answer.publish(cmd.stamp_ns, self.pub_cmd, conv.twist_from_command(cmd))


NODE_CLASS = ControlNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(ControlNode, args)


if __name__ == "__main__":
    main()

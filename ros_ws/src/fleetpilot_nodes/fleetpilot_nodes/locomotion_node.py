"""Locomotion as a ROS 2 node: planning/path + joint_states (the humanoid's proprioception, every control
period) → locomotion/joint_effort (sensor_msgs/JointState effort, N·m), through the ONNX walking policy.

It runs at the policy rate: one answer per joint_states message (60.6 Hz), stamped with its stamp. The
path comes at the camera rate; each period uses the newest path. In lockstep (`lockstep: true`, scenario
runs) the answer to a period that carries a camera frame waits for the path planned from that frame, so
the run does not depend on how fast perception and planning are: the same seed, the same run. The core is
planning.path_follow.PathLocomotion (the direct loop calls the same).
"""

from __future__ import annotations

import time

from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import JointState

from contracts.clock import CAMERA_PERIOD_NS
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, declare, stream_qos, unflatten
from fleetpilot_nodes.planning_node import dataclass_spec
from fleetpilot_nodes.stamp_sync import LastAnswer, StampLog

# humanoid_symmetric.xml's limits of the 17 actuated joints in action order (rad), as PyBullet loads
# them; tests/humanoid check them against the body. The observation scales joint positions by them.
DEFAULT_LOWER = [-0.7853981852531433, -1.3089970350265503, -0.6108652949333191, -0.4363323152065277,
                 -1.0471975803375244, -2.094395160675049, -2.792526960372925, -0.4363323152065277,
                 -1.0471975803375244, -2.094395160675049, -2.792526960372925, -1.483529806137085,
                 -1.483529806137085, -1.5707963705062866, -1.0471975803375244, -1.0471975803375244,
                 -1.5707963705062866]  # fmt: skip
DEFAULT_UPPER = [0.7853981852531433, 0.5235987901687622, 0.6108652949333191, 0.0872664675116539,
                 0.6108652949333191, 0.3490658700466156, -0.03490658476948738, 0.0872664675116539,
                 0.6108652949333191, 0.3490658700466156, -0.03490658476948738, 1.0471975803375244,
                 1.0471975803375244, 0.8726646304130554, 1.483529806137085, 1.483529806137085,
                 0.8726646304130554]  # fmt: skip


def _follow_params_class():
    from planning.path_follow import PathFollowParams

    return PathFollowParams


def parameter_spec() -> dict[str, Param]:
    spec = {
        **COMMON_PARAMS,
        "lockstep": Param(False, "answer a camera period only with the path planned from that frame"),
        "model_path": Param("", "locomotion ONNX model; '' = planning/models/locomotion.onnx"),
        "threads": Param(1, "onnxruntime intra-op threads"),
        "joint_lower": Param(DEFAULT_LOWER, "rad, lower limit of each actuated joint in joint_states order"),
        "joint_upper": Param(DEFAULT_UPPER, "rad, upper limit of each actuated joint"),
        **dataclass_spec("locomotion", _follow_params_class()),
    }
    # an empty list has no ROS parameter type: max_effort defaults to the policy's own table
    spec["locomotion.max_effort"] = Param([0.0], "N·m per joint in action order; [0.0] = the policy's table")
    return spec


class LocomotionNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("locomotion", **kwargs)
        from planning.locomotion import LocomotionController, LocomotionPolicy
        from planning.path_follow import PathLocomotion

        self.p = declare(self, parameter_spec())
        follow = unflatten(self.p, "locomotion")
        if list(follow.get("max_effort", [])) == [0.0]:
            follow.pop("max_effort")
        params = _follow_params_class().from_dict(follow)
        self.lower = [float(v) for v in self.p["joint_lower"]]
        self.upper = [float(v) for v in self.p["joint_upper"]]
        if len(self.lower) != len(self.upper) or any(
            u <= lo for lo, u in zip(self.lower, self.upper, strict=True)
        ):
            raise ValueError("joint_lower and joint_upper need the same length and upper > lower per joint")
        policy = LocomotionPolicy(self.p["model_path"] or None, threads=int(self.p["threads"]))
        self.core = PathLocomotion(params, LocomotionController(policy))
        self.lockstep = bool(self.p["lockstep"])
        self.stage_ms: StampLog = StampLog()
        self._paths: dict[int, object] = {}  # path stamp -> Trajectory, not yet used
        self._waiting: JointState | None = None  # a camera period's joint_states waiting for its path
        self._answer = LastAnswer()
        self._last_stamp: int | None = None
        qos = stream_qos(bool(self.p["reliable_qos"]))
        self.pub_effort = self.create_publisher(JointState, "locomotion/joint_effort", qos)
        # raw: the path arrives as CDR bytes and is read without building a message object per pose
        self.create_subscription(Path, "planning/path", self._on_path, qos, raw=True)
        self.rejected_paths = 0
        self.create_subscription(
            JointState, "joint_states", self._on_joints, stream_qos(bool(self.p["reliable_qos"]), 20)
        )

    def _on_path(self, data: bytes) -> None:
        traj = conv.usable_path(data, self.get_logger())
        if traj is None:
            self.rejected_paths += 1
            return
        if not self.lockstep:
            self.core.set_path(traj)
            return
        self._paths[traj.stamp_ns] = traj
        if self._waiting is not None and conv.stamp_of(self._waiting) == traj.stamp_ns:
            waiting, self._waiting = self._waiting, None
            self._act(waiting)

    def _on_joints(self, msg: JointState) -> None:
        stamp = conv.stamp_of(msg)
        if self._last_stamp is not None and stamp <= self._last_stamp:
            # a lockstep re-send of a period already answered: answer it again, identically
            self._answer.repeat(stamp)
            return
        if self.lockstep and stamp % CAMERA_PERIOD_NS == 0 and stamp not in self._paths:
            self._waiting = msg  # this period has a camera frame: wait for its path
            return
        self._act(msg)

    def _act(self, msg: JointState) -> None:
        stamp = conv.stamp_of(msg)
        if self.lockstep and stamp in self._paths:
            self.core.set_path(self._paths.pop(stamp))
            for old in [s for s in self._paths if s < stamp]:
                del self._paths[old]
        proprio = conv.proprioception_from_joint_state(msg, self.lower, self.upper)
        t0 = time.perf_counter()
        effort = self.core.step(proprio)
        self.stage_ms[stamp] = (time.perf_counter() - t0) * 1e3
        self._last_stamp = stamp
        names = list(msg.name)[: len(self.lower)]
        self._answer.publish(stamp, self.pub_effort, conv.joint_effort_to_msg(stamp, names, effort))


NODE_CLASS = LocomotionNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(LocomotionNode, args)


if __name__ == "__main__":
    main()

"""ONE simulation for two robots as a ROS 2 node (graph `shared_sim`): the car's topics under `car/`, the
humanoid's under `humanoid/`, one /clock. Each robot's stack runs in its own namespace with its own
parameter file, exactly as in car_sim and humanoid_sim; this node only multiplexes the one world.

Per control period it publishes /clock, both robots' odometry and IMU and the humanoid's joint_states;
every third period both cameras. Lockstep (`lockstep: true`, scenario runs): it advances when the
humanoid's joint effort for this period has arrived and, on camera periods, the car's cmd_vel for this
camera stamp too; the car's command is held in between, as the car-only sim holds it for its 3 periods.
The parameters are the sim node's (sim_node.parameter_spec), so the same `/**/sim` sections apply.
"""

from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from sensor_msgs.msg import Imu as ImuMsg
from std_msgs.msg import String

from contracts.clock import CONTROL_PERIOD_NS
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import Param, declare, latched_qos, stream_qos
from fleetpilot_nodes.sim_node import EndsScenario
from fleetpilot_nodes.sim_node import parameter_spec as sim_parameter_spec
from fleetpilot_nodes.stamp_sync import StampLog

ROBOTS = ("car", "humanoid")


def parameter_spec() -> dict[str, Param]:
    return sim_parameter_spec()


class SharedSimNode(EndsScenario, Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim", **kwargs)
        self.p = declare(self, parameter_spec())
        from contracts import scenarios
        from sim.humanoid import JOINT_NAMES
        from sim.shared_sim import SharedSimulation

        if scenarios.get(self.p["scenario"]).embodiment != SharedSimulation.embodiment:
            shared = ", ".join(scenarios.names(SharedSimulation.embodiment))
            raise ValueError(
                f"the shared sim needs a two-robot scenario ({shared}), got {self.p['scenario']!r}"
            )
        self.sim = SharedSimulation(
            self.p["scenario"],
            int(self.p["seed"]),
            camera_width=int(self.p["camera_width"]),
            camera_height=int(self.p["camera_height"]),
            odom_noise=float(self.p["odom_noise"]),
            render_ground_truth=bool(self.p["render_ground_truth"]),
            time_limit_s=float(self.p["time_limit_s"]) or None,
        )
        self.joint_names = JOINT_NAMES
        reliable = bool(self.p["reliable_qos"])
        qos, fast = stream_qos(reliable), stream_qos(reliable, 20)
        self.pub = {
            r: {
                "image": self.create_publisher(Image, f"{r}/camera/image_raw", qos),
                "info": self.create_publisher(CameraInfo, f"{r}/camera/camera_info", qos),
                "mount": self.create_publisher(PoseStamped, f"{r}/camera/mount", latched_qos()),
                "odom": self.create_publisher(OdometryMsg, f"{r}/odom", fast),
                "imu": self.create_publisher(ImuMsg, f"{r}/imu", fast),
                "route": self.create_publisher(String, f"{r}/map/route", latched_qos()),
            }
            for r in ROBOTS
        }
        self.pub_joints = self.create_publisher(JointState, "humanoid/joint_states", fast)
        self.pub_clock = self.create_publisher(Clock, "/clock", QoSProfile(depth=10))
        self.pub_diag = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.create_subscription(TwistStamped, "car/cmd_vel", self._on_cmd, qos)
        self.create_subscription(JointState, "humanoid/locomotion/joint_effort", self._on_effort, qos)
        self.cameras = {"car": self.sim.camera_model, "humanoid": self.sim.humanoid_camera_model}
        for r in ROBOTS:
            self.pub[r]["mount"].publish(conv.camera_mount_to_pose(self.cameras[r]))
        self.pub["car"]["route"].publish(conv.route_to_msg(self.sim.route_map()))
        self.pub["humanoid"]["route"].publish(conv.route_to_msg(self.sim.humanoid_route_map()))
        self._route_version = self.sim.route_version

        self.finished = False  # the node's work is done: node_main stops spinning it
        self.result_sent = False
        self.frames = 0
        self.awaiting_stamp: int | None = None  # the period whose answers lockstep waits for
        self._camera_period = False
        self.car_cmd = None
        self.effort = None
        self._car_answered: int | None = None
        self._effort_answered: int | None = None
        self.publish_wall: StampLog = StampLog()
        self.answer_wall: StampLog = StampLog()
        self._started = False
        self._last_batch = None
        self._last_publish = 0.0
        self.resends = 0
        if self.p["lockstep"]:
            self._timer = self.create_timer(0.01, self._try_start)
        else:
            rtf = float(self.p["realtime_factor"])
            period = CONTROL_PERIOD_NS * 1e-9 / rtf if rtf > 0 else 0.0
            self._timer = self.create_timer(period, self.free_step)

    # --- lockstep ------------------------------------------------------------------------------
    def subscribers_ready(self) -> bool:
        want = int(self.p["wait_for_subscribers"])
        return all(self.pub[r]["image"].get_subscription_count() >= want for r in ROBOTS) and (
            self.count_publishers(self.resolve_topic_name("car/cmd_vel")) >= 1
            and self.count_publishers(self.resolve_topic_name("humanoid/locomotion/joint_effort")) >= 1
        )

    def _try_start(self) -> None:
        if self._started or not self.subscribers_ready():
            return
        self._started = True
        self._timer.cancel()
        self._timer = self.create_timer(0.25, self._resend_if_stalled)
        self._step()

    def _resend_if_stalled(self) -> None:
        if self.finished or self.awaiting_stamp is None or self._last_batch is None or self._answered():
            return
        if time.perf_counter() - self._last_publish > float(self.p["lockstep_resend_s"]):
            self.resends += 1
            stamp = self.awaiting_stamp
            self.get_logger().warning(f"stamp {stamp} not answered yet: re-publishing its batch")
            self._publish(self._last_batch, resend=True)

    def _answered(self) -> bool:
        stamp = self.awaiting_stamp
        car_ok = not self._camera_period or self._car_answered == stamp
        return car_ok and self._effort_answered == stamp

    def _on_cmd(self, msg: TwistStamped) -> None:
        cmd = conv.drive_command_from_twist(msg)
        if not self.p["lockstep"]:
            self.car_cmd = cmd  # free running: the newest command, from the next period on
        elif cmd.stamp_ns == self.awaiting_stamp and self._camera_period:
            self.car_cmd = cmd
            self._car_answered = cmd.stamp_ns
            self._maybe_step()

    def _on_effort(self, msg: JointState) -> None:
        cmd = conv.joint_effort_from_msg(msg, self.joint_names)
        if not self.p["lockstep"]:
            self.effort = cmd
        elif cmd.stamp_ns == self.awaiting_stamp:
            self.effort = cmd
            self._effort_answered = cmd.stamp_ns
            self._maybe_step()

    def _maybe_step(self) -> None:
        if not self._answered():
            return
        stamp = self.awaiting_stamp
        if stamp in self.publish_wall and stamp not in self.answer_wall:
            self.answer_wall[stamp] = time.perf_counter()
        if self.p["lockstep"] and not self.finished:
            self._step()

    # --- free running ----------------------------------------------------------------------------
    def free_step(self) -> None:
        if not self.finished:
            self._step()

    # --- common ----------------------------------------------------------------------------------
    def _step(self) -> None:
        car_cmd, self.car_cmd = self.car_cmd, None  # the sim holds it until the next frame's answer
        batch = self.sim.advance(car_cmd, self.effort)
        if self.sim.route_version != self._route_version:
            self._route_version = self.sim.route_version
            self.pub["humanoid"]["route"].publish(conv.route_to_msg(self.sim.humanoid_route_map()))
        self._publish(batch)
        if self.sim.done:
            self.finish()

    def _publish(self, batch, resend: bool = False) -> None:
        stamp = batch.clock_ns
        self.pub_clock.publish(Clock(clock=conv.to_time(stamp)))
        for r, b in (("car", batch.car), ("humanoid", batch.humanoid)):
            for odom in b.odometry:
                self.pub[r]["odom"].publish(conv.odometry_to_msg(odom))
            for imu in b.imu:
                self.pub[r]["imu"].publish(conv.imu_to_msg(imu))
        for proprio in batch.humanoid.proprioception:
            self.pub_joints.publish(conv.joint_state_from_proprioception(proprio, self.joint_names))
        self.awaiting_stamp = stamp
        self._camera_period = batch.car.camera is not None
        self._last_batch = batch
        self._last_publish = time.perf_counter()
        if self._camera_period:
            if not resend:
                self.frames += 1
                self.publish_wall[stamp] = self._last_publish
            for r, b in (("car", batch.car), ("humanoid", batch.humanoid)):
                self.pub[r]["info"].publish(conv.camera_info_from_model(self.cameras[r], stamp))
                self.pub[r]["image"].publish(conv.image_from_frame(b.camera))

    def destroy_node(self) -> None:
        self.sim.close()
        super().destroy_node()


NODE_CLASS = SharedSimNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(SharedSimNode, args)


if __name__ == "__main__":
    main()

"""The simulation as a ROS 2 node: publishes sensors, /clock and the route; drives with cmd_vel.

Lockstep (parameter `lockstep`, used by scenario runs): after the subscribers have matched, the node
publishes one batch (/clock, odometry and IMU for each control period, then camera_info and the image)
and advances only when a cmd_vel whose stamp equals the camera stamp arrives. Nothing is keyed by wall
time, so the same seed gives the same run. Free-running (`lockstep: false`): a timer advances the sim
at `realtime_factor` × real time (0 = as fast as possible) with the latest command.

A humanoid scenario (sim.hosting picks the embodiment by name) is stepped one control period at a time:
each period publishes /clock, odometry, IMU and joint_states (conversions: the proprioception), plus the
camera every third period, and lockstep waits for the locomotion/joint_effort answering that period.
A scenario with a task in words (humanoid_task) also publishes it, latched, on `task/text`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from sensor_msgs.msg import Imu as ImuMsg
from std_msgs.msg import Bool, String

from contracts import embodiment
from contracts.clock import CAMERA_PERIOD_NS, CONTROL_PERIOD_NS
from contracts.messages import DriveCommand, JointEffortCommand, Odometry, SensorBatch
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, declare, latched_qos, stream_qos
from fleetpilot_nodes.stamp_sync import StampLog


def parameter_spec() -> dict[str, Param]:
    return {
        **COMMON_PARAMS,
        "scenario": Param("car_lane_follow", "scenario name (contracts/scenarios.py)"),
        "seed": Param(0, "scenario seed; same seed, same run"),
        "lockstep": Param(False, "advance only when the cmd_vel answering the last camera frame arrives"),
        "camera_width": Param(160, "camera image width, px"),
        "camera_height": Param(120, "camera image height, px"),
        "odom_noise": Param(0.0, "odometry noise scale passed to the simulation"),
        "time_limit_s": Param(0.0, "end the scenario after this much sim time; 0 = the scenario's own limit"),
        "render_ground_truth": Param(False, "also render tags/depth (labels and evaluation only)"),
        "realtime_factor": Param(
            1.0, "free-running speed as a multiple of real time; 0 = as fast as possible"
        ),
        "lockstep_resend_s": Param(
            2.0, "lockstep: re-publish the pending batch (same stamps) if unanswered this long (wall s)"
        ),
        "realtime_while_parked": Param(
            False,
            "lockstep: while the car is parked, sim time passes no faster than wall time, so the idle "
            "computer gets the parked time a real car has (fleet jobs); driving stays as fast as possible",
        ),
        "wait_for_subscribers": Param(1, "lockstep: camera subscribers to wait for before the first frame"),
        "constant_speed": Param(-1.0, "free-running: drive at this speed (m/s) ignoring cmd_vel; < 0 = off"),
        "keep_running": Param(
            False, "after the scenario ends (result sent), keep the world running until the node is stopped"
        ),
    }


class EndsScenario:
    """What both sim nodes do when their scenario ends (self.sim, self.p, self.pub_diag, self._timer)."""

    def finish(self) -> None:
        """The scenario ended: its result goes out once (diagnostics, log). Then the node ends (a scenario
        run, a launch of one scenario) or, with keep_running, the world goes on until it is stopped."""
        if self.result_sent:
            return
        self.result_sent = True
        result = self.sim.result()
        self.pub_diag.publish(conv.scenario_result_to_diagnostics(result, self.sim.stamp_ns))
        self.get_logger().info(
            f"scenario finished after {self.frames} frames: success={result.get('success')}"
        )
        if self.p["keep_running"]:
            self.get_logger().info("keep_running: the world goes on (sensors, /clock) until Ctrl-C")
            return
        self.finished = True
        self._timer.cancel()


class SimNode(EndsScenario, Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim", **kwargs)
        self.p = declare(self, parameter_spec())
        from sim.hosting import open_simulation  # imported here so conversions tests need no PyBullet

        self.sim = open_simulation(
            self.p["scenario"],
            int(self.p["seed"]),
            camera_width=int(self.p["camera_width"]),
            camera_height=int(self.p["camera_height"]),
            odom_noise=float(self.p["odom_noise"]),
            render_ground_truth=bool(self.p["render_ground_truth"]),
            time_limit_s=float(self.p["time_limit_s"]) or None,
        )
        qos = stream_qos(bool(self.p["reliable_qos"]))
        self.pub_image = self.create_publisher(Image, "camera/image_raw", qos)
        self.pub_info = self.create_publisher(CameraInfo, "camera/camera_info", qos)
        self.pub_mount = self.create_publisher(PoseStamped, "camera/mount", latched_qos())
        self.pub_odom = self.create_publisher(
            OdometryMsg, "odom", stream_qos(bool(self.p["reliable_qos"]), 20)
        )
        self.pub_imu = self.create_publisher(ImuMsg, "imu", stream_qos(bool(self.p["reliable_qos"]), 20))
        self.pub_route = self.create_publisher(String, "map/route", latched_qos())
        self.pub_clock = self.create_publisher(Clock, "/clock", QoSProfile(depth=10))
        self.pub_diag = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        # the body takes what its embodiment file says: joint efforts every control period (legged) or a
        # twist per camera frame; a world without one body of a known file is the shared sim's
        body = self.sim.embodiment
        if body not in embodiment.known():
            self.sim.close()
            name = self.p["scenario"]
            raise ValueError(f"scenario {name!r} has two robots: it runs in the shared_sim graph")
        self.legged = embodiment.load(body).command == "joint_effort"
        self.command_topic = "locomotion/joint_effort" if self.legged else "cmd_vel"
        if self.legged:
            from sim.humanoid import JOINT_NAMES

            self.joint_names = JOINT_NAMES
            self.pub_joints = self.create_publisher(
                JointState, "joint_states", stream_qos(bool(self.p["reliable_qos"]), 20)
            )
            self.create_subscription(JointState, self.command_topic, self._on_effort, qos)
        else:
            self.create_subscription(TwistStamped, "cmd_vel", self._on_cmd, qos)
        # Parking scenarios: the owner's drive request (True), latched so a late joiner still leaves.
        self.pub_drive_request = self.create_publisher(Bool, "fleet/drive_request", latched_qos())
        self.drive_request_wall: float | None = None  # perf_counter at publish (preemption measurement)

        self.pub_mount.publish(conv.camera_mount_to_pose(self.sim.camera_model))
        self.pub_route.publish(conv.route_to_msg(self.sim.route_map()))
        self._route_version = getattr(self.sim, "route_version", None)
        # A task given in words (humanoid_task): the operator's sentence, latched like the route.
        task_text = getattr(self.sim, "task_text", "")
        if task_text:
            self.pub_task = self.create_publisher(String, "task/text", latched_qos())
            self.pub_task.publish(String(data=task_text))

        self.finished = False  # the node's work is done: node_main stops spinning it
        self.result_sent = False
        self.frames = 0
        self.awaiting_stamp: int | None = None  # camera stamp whose command lockstep waits for
        self.last_cmd: DriveCommand | None = None
        # bench_loop: called with every command a step applies (None for the first step), so the floor
        # can replay the loop's exact drive without the stack
        self.on_step: Callable[[DriveCommand | JointEffortCommand | None], None] | None = None
        # wall-clock bookkeeping for bench_loop: camera publish time and matching cmd_vel arrival
        self.publish_wall: StampLog = StampLog()
        self.answer_wall: StampLog = StampLog()
        self._started = False
        self._answered: int | None = None  # legged: stamp of the last joint effort command received
        self._last_batch: SensorBatch | None = None
        self._last_publish = 0.0
        self.resends = 0
        self._pace_origin: tuple[float, int] | None = None  # (wall, sim stamp) when parking began
        self._paced_cmd: DriveCommand | None = None  # a lockstep step waiting for the wall clock
        self._pace_timer = None
        if self.p["lockstep"]:
            self._timer = self.create_timer(0.01, self._try_start)
        else:
            rtf = float(self.p["realtime_factor"])
            period_ns = CONTROL_PERIOD_NS if self.legged else CAMERA_PERIOD_NS
            self._timer = self.create_timer(period_ns * 1e-9 / rtf if rtf > 0 else 0.0, self.free_step)

    # --- lockstep ------------------------------------------------------------------------------

    def subscribers_ready(self) -> bool:
        want = int(self.p["wait_for_subscribers"])
        return (
            self.pub_image.get_subscription_count() >= want
            and self.count_publishers(self.resolve_topic_name(self.command_topic)) >= 1
        )

    def _try_start(self) -> None:
        if self._started or not self.subscribers_ready():
            return
        self._started = True
        self._timer.cancel()
        # Across processes a subscriber can match after the first batch went out (discovery is
        # asynchronous) and reliable+volatile QoS does not replay it; re-sending the same stamps is
        # harmless because every node keys its work by stamp and ignores stamps it already handled.
        self._timer = self.create_timer(0.25, self._resend_if_stalled)
        self._step(None)

    def _resend_if_stalled(self) -> None:
        pending = self.awaiting_stamp
        if self.finished or pending is None or self._last_batch is None or pending in self.answer_wall:
            return
        if self.legged and pending == self._answered:
            return
        if time.perf_counter() - self._last_publish > float(self.p["lockstep_resend_s"]):
            self.resends += 1
            self.get_logger().warning(f"no cmd_vel for stamp {pending} yet: re-publishing its batch")
            self.publish_batch(self._last_batch, resend=True)

    def _on_cmd(self, msg: TwistStamped) -> None:
        cmd = conv.drive_command_from_twist(msg)
        self.last_cmd = cmd
        if cmd.stamp_ns in self.publish_wall and cmd.stamp_ns not in self.answer_wall:
            self.answer_wall[cmd.stamp_ns] = time.perf_counter()
        if self.p["lockstep"] and not self.finished and cmd.stamp_ns == self.awaiting_stamp:
            self._lockstep_step(cmd)

    def _lockstep_step(self, cmd: DriveCommand) -> None:
        due = self._parked_step_due()
        if due is None or time.perf_counter() >= due:
            self._step(cmd)
            return
        # later, from a wall-clock timer: a sleep here would hold the executor (and the agent's callbacks)
        self._paced_cmd = cmd
        if self._pace_timer is None:
            self._pace_timer = self.create_timer(0.005, self._release_paced_step)

    def _release_paced_step(self) -> None:
        if self._paced_cmd is None or self.finished:
            return
        due = self._parked_step_due()
        if due is None or time.perf_counter() >= due:
            cmd, self._paced_cmd = self._paced_cmd, None
            self._step(cmd)

    def _parked_step_due(self) -> float | None:
        """realtime_while_parked: the wall time (perf_counter) the next step waits for, or None."""
        if not self.p["realtime_while_parked"]:
            return None
        parked = bool(getattr(getattr(self.sim, "metrics", None), "parked", False))
        if not parked or getattr(self.sim, "drive_requested", False):
            self._pace_origin = None
            return None
        if self._pace_origin is None:
            self._pace_origin = (time.perf_counter(), self.sim.stamp_ns)
            return None
        wall0, stamp0 = self._pace_origin
        return wall0 + (self.sim.stamp_ns - stamp0) * 1e-9

    def _on_effort(self, msg: JointState) -> None:
        cmd = conv.joint_effort_from_msg(msg, self.joint_names)
        self.last_cmd = cmd
        self._answered = cmd.stamp_ns
        if cmd.stamp_ns in self.publish_wall and cmd.stamp_ns not in self.answer_wall:
            self.answer_wall[cmd.stamp_ns] = time.perf_counter()
        if self.p["lockstep"] and not self.finished and cmd.stamp_ns == self.awaiting_stamp:
            self._step(cmd)

    # --- free running ----------------------------------------------------------------------------

    def free_step(self) -> None:
        if self.finished:
            return
        speed = float(self.p["constant_speed"])
        if self.legged:
            cmd = self.last_cmd  # constant_speed means nothing to a body driven by joint efforts
        elif speed >= 0.0:
            cmd = DriveCommand(stamp_ns=self.sim.stamp_ns, speed=speed, yaw_rate=0.0)
        else:
            cmd = self.last_cmd
        self._step(cmd)

    # --- common ------------------------------------------------------------------------------------

    @property
    def last_odometry(self) -> Odometry | None:
        """The newest odometry published (bench_loop checks that its floor drove the loop's path)."""
        batch = self._last_batch
        return batch.odometry[-1] if batch is not None and batch.odometry else None

    def replay_step(self, cmd: DriveCommand | JointEffortCommand | None) -> None:
        """One step with a given command, as lockstep would apply it (bench_loop's floor replays the loop)."""
        if not self.finished:
            self._step(cmd)

    def _step(self, cmd: DriveCommand | JointEffortCommand | None) -> None:
        if self.on_step is not None:
            self.on_step(cmd)
        batch = self.sim.advance(cmd)
        version = getattr(self.sim, "route_version", None)  # a mission of legs (humanoid) moves on
        if version is not None and version != self._route_version:
            self._route_version = version
            self.pub_route.publish(conv.route_to_msg(self.sim.route_map()))
        self.publish_batch(batch)
        if self.sim.done:
            self.finish()

    def publish_batch(self, batch: SensorBatch, *, resend: bool = False) -> None:
        if self.legged:
            self._publish_legged_batch(batch, resend)
            return
        if batch.camera is None:
            raise RuntimeError("simulation returned a batch without a camera frame")
        cam_stamp = batch.camera.stamp_ns
        self.pub_clock.publish(Clock(clock=conv.to_time(cam_stamp)))
        for odom in batch.odometry:
            self.pub_odom.publish(conv.odometry_to_msg(odom))
        for imu in batch.imu:
            self.pub_imu.publish(conv.imu_to_msg(imu))
        self.pub_info.publish(conv.camera_info_from_model(self.sim.camera_model, cam_stamp))
        # only the car's parking scenarios have an owner who asks for the car back
        if getattr(self.sim, "drive_requested", False) and self.drive_request_wall is None:
            # before the image, so the planner has it when it plans this frame
            self.drive_request_wall = time.perf_counter()
            self.pub_drive_request.publish(Bool(data=True))
        self.awaiting_stamp = cam_stamp
        self._last_batch = batch
        self._last_publish = time.perf_counter()
        if not resend:
            self.frames += 1
            self.publish_wall[cam_stamp] = self._last_publish
        self.pub_image.publish(conv.image_from_frame(batch.camera))

    def _publish_legged_batch(self, batch: SensorBatch, resend: bool) -> None:
        """One control period: clock, odometry, IMU, joint_states, and the camera when it has a frame."""
        stamp = batch.clock_ns
        self.pub_clock.publish(Clock(clock=conv.to_time(stamp)))
        for odom in batch.odometry:
            self.pub_odom.publish(conv.odometry_to_msg(odom))
        for imu in batch.imu:
            self.pub_imu.publish(conv.imu_to_msg(imu))
        for proprio in batch.proprioception:
            self.pub_joints.publish(conv.joint_state_from_proprioception(proprio, self.joint_names))
        self.awaiting_stamp = stamp
        self._last_batch = batch
        self._last_publish = time.perf_counter()
        if batch.camera is not None:
            cam_stamp = batch.camera.stamp_ns
            self.pub_info.publish(conv.camera_info_from_model(self.sim.camera_model, cam_stamp))
            if not resend:
                self.frames += 1
                self.publish_wall[cam_stamp] = self._last_publish
            self.pub_image.publish(conv.image_from_frame(batch.camera))

    def destroy_node(self) -> None:
        self.sim.close()
        super().destroy_node()


NODE_CLASS = SimNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(SimNode, args)


if __name__ == "__main__":
    main()

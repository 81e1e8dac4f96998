"""The simulation as a ROS 2 node: one node for every world, whatever robots it holds.

The world (sim/robots.py; the registry's scenario picks it through sim.hosting) names its robots. Each
robot gets its sensors published and its commands subscribed as its body's file says
(contracts/embodiments/, `command`): a `cmd_vel` body (the car) answers each camera frame with a
geometry_msgs/TwistStamped on `cmd_vel`, held by the world until the next frame; a `joint_effort` body
(the humanoid) answers every control period with a sensor_msgs/JointState on `locomotion/joint_effort`
and gets `joint_states` (its proprioception). Every robot gets odom, imu, camera/image_raw +
camera/camera_info, the latched camera/mount and map/route (re-published when its route moves on to a
new leg), and fleet/drive_request (latched) when its owner asks a parked vehicle to drive on. One world,
one /clock.

Topics are relative to the node's namespace: a world of one robot runs in that robot's namespace (graph
car_sim: /car/...), a world of several puts each robot's topics under its name (graph shared_sim:
car/..., humanoid/...). A scenario with a task in words (humanoid_task) also publishes it, latched, on
`task/text`.

Lockstep (parameter `lockstep`, used by scenario runs): after the subscribers have matched, the node
publishes one step's batches (/clock, odometry and IMU for each control period, joint_states, then
camera_info and the image) and advances only when every robot that must answer this step (a camera
frame for a `cmd_vel` body, every period for a `joint_effort` one) has answered its stamp. Nothing is
keyed by wall time, so the same seed gives the same run. Free running (`lockstep: false`): a timer
advances the world at `realtime_factor` × real time (0 = as fast as possible) with the latest commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
from contracts.messages import DriveCommand, JointEffortCommand, Odometry, SensorBatch
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, declare, latched_qos, stream_qos
from fleetpilot_nodes.stamp_sync import StampLog

Command = DriveCommand | JointEffortCommand


def parameter_spec() -> dict[str, Param]:
    return {
        **COMMON_PARAMS,
        "scenario": Param("car_lane_follow", "scenario name (contracts/scenarios.py)"),
        "seed": Param(0, "scenario seed; same seed, same run"),
        "lockstep": Param(False, "advance only when every robot has answered the last step's stamp"),
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
        "constant_speed": Param(
            -1.0, "free-running: drive cmd_vel bodies at this speed (m/s) ignoring cmd_vel; < 0 = off"
        ),
        "keep_running": Param(
            False, "after the scenario ends (result sent), keep the world running until the node is stopped"
        ),
    }


@dataclass
class _Robot:
    """One robot's side of the node: its port into the world, its publishers, its answers."""

    port: Any  # sim.robots.RobotPort
    every_period: bool  # a joint_effort body answers every control period; a cmd_vel body each frame
    command_topic: str
    pub: dict[str, Any] = field(default_factory=dict)
    route_version: int = 0
    last_cmd: Command | None = None  # the newest command (free running drives with it)
    pending: Command | None = None  # lockstep: this step's answer, applied by the next step
    answered: int | None = None  # stamp of its last answer
    drive_request_wall: float | None = None

    def must_answer(self, batch: SensorBatch) -> bool:
        return self.every_period or batch.camera is not None


class SimNode(Node):
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
        reliable = bool(self.p["reliable_qos"])
        qos, fast = stream_qos(reliable), stream_qos(reliable, 20)
        ports = self.sim.robots()
        self.robots: dict[str, _Robot] = {}
        for port in ports:
            prefix = "" if len(ports) == 1 else f"{port.name}/"  # one robot: the node's namespace is its own
            every_period = embodiment.load(port.embodiment).command == "joint_effort"
            r = _Robot(
                port, every_period, prefix + ("locomotion/joint_effort" if every_period else "cmd_vel")
            )
            r.pub = {
                "image": self.create_publisher(Image, f"{prefix}camera/image_raw", qos),
                "info": self.create_publisher(CameraInfo, f"{prefix}camera/camera_info", qos),
                "mount": self.create_publisher(PoseStamped, f"{prefix}camera/mount", latched_qos()),
                "odom": self.create_publisher(OdometryMsg, f"{prefix}odom", fast),
                "imu": self.create_publisher(ImuMsg, f"{prefix}imu", fast),
                "route": self.create_publisher(String, f"{prefix}map/route", latched_qos()),
                # parking: the owner's drive request (True), latched so a late joiner still leaves
                "drive_request": self.create_publisher(Bool, f"{prefix}fleet/drive_request", latched_qos()),
            }
            if every_period:
                r.pub["joints"] = self.create_publisher(JointState, f"{prefix}joint_states", fast)
                self.create_subscription(JointState, r.command_topic, self._answer_from(r, self._effort), qos)
            else:
                self.create_subscription(
                    TwistStamped, r.command_topic, self._answer_from(r, self._twist), qos
                )
            r.pub["mount"].publish(conv.camera_mount_to_pose(port.camera_model))
            r.pub["route"].publish(conv.route_to_msg(port.route_map()))
            r.route_version = port.route_version()
            self.robots[port.name] = r
        self.pub_clock = self.create_publisher(Clock, "/clock", QoSProfile(depth=10))
        self.pub_diag = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        # A task given in words (humanoid_task): the operator's sentence, latched like the route.
        task_text = getattr(self.sim, "task_text", "")
        if task_text:
            self.pub_task = self.create_publisher(String, "task/text", latched_qos())
            self.pub_task.publish(String(data=task_text))

        self.finished = False  # the node's work is done: node_main stops spinning it
        self.result_sent = False
        self.frames = 0
        self.awaiting_stamp: int | None = None  # the step whose answers lockstep waits for
        # bench_loop: called with the commands every step applies (all None for the first step), so the
        # floor can replay the loop's exact drive without the stack (replay_step)
        self.on_step: Callable[[Mapping[str, Command | None]], None] | None = None
        # wall-clock bookkeeping for bench_loop: camera publish time and when every robot had answered it
        self.publish_wall: StampLog = StampLog()
        self.answer_wall: StampLog = StampLog()
        self._answers: dict[int, set[str]] = {}  # camera stamp → robots that answered it so far
        self._started = False
        self._last_batches: dict[str, SensorBatch] | None = None
        self._last_publish = 0.0
        self.resends = 0
        self._pace_origin: tuple[float, int] | None = None  # (wall, sim stamp) when parking began
        self._paced: dict[str, Command | None] | None = None  # a lockstep step waiting for the wall clock
        self._pace_timer = None
        if self.p["lockstep"]:
            self._timer = self.create_timer(0.01, self._try_start)
        else:
            rtf = float(self.p["realtime_factor"])
            self._timer = self.create_timer(
                self.sim.step_period_ns * 1e-9 / rtf if rtf > 0 else 0.0, self.free_step
            )

    @property
    def drive_request_wall(self) -> float | None:
        """perf_counter when the first drive request went out (the fleet run's preemption measurement)."""
        return min((r.drive_request_wall for r in self.robots.values() if r.drive_request_wall), default=None)

    # --- answers -------------------------------------------------------------------------------

    def _twist(self, msg: TwistStamped, _robot: _Robot) -> DriveCommand:
        return conv.drive_command_from_twist(msg)

    def _effort(self, msg: JointState, robot: _Robot) -> JointEffortCommand:
        return conv.joint_effort_from_msg(msg, robot.port.joint_names)

    def _answer_from(self, robot: _Robot, decode: Callable[[Any, _Robot], Command]) -> Callable[[Any], None]:
        return lambda msg: self._on_answer(robot, decode(msg, robot))

    def _on_answer(self, robot: _Robot, cmd: Command) -> None:
        robot.last_cmd = cmd
        stamp = cmd.stamp_ns
        if stamp in self.publish_wall and stamp not in self.answer_wall:
            answered = self._answers.setdefault(stamp, set())
            answered.add(robot.port.name)
            if len(answered) == len(self.robots):
                self.answer_wall[stamp] = time.perf_counter()
                del self._answers[stamp]
            while len(self._answers) > 64:  # answers to frames that never completed: forget the oldest
                del self._answers[min(self._answers)]
        if not self.p["lockstep"] or self.finished or stamp != self.awaiting_stamp:
            return
        if robot.answered == stamp or self._last_batches is None:
            return  # an answer to a re-published batch it already answered
        if not robot.must_answer(self._last_batches[robot.port.name]):
            return
        robot.pending, robot.answered = cmd, stamp
        if self._all_answered():
            commands = {name: r.pending for name, r in self.robots.items()}
            for r in self.robots.values():
                r.pending = None  # the world holds a command until the next one
            self._lockstep_step(commands)

    def _all_answered(self) -> bool:
        stamp, batches = self.awaiting_stamp, self._last_batches
        if batches is None:
            return False
        return all(r.answered == stamp for n, r in self.robots.items() if r.must_answer(batches[n]))

    # --- lockstep ------------------------------------------------------------------------------

    def subscribers_ready(self) -> bool:
        want = int(self.p["wait_for_subscribers"])
        return all(
            r.pub["image"].get_subscription_count() >= want
            and self.count_publishers(self.resolve_topic_name(r.command_topic)) >= 1
            for r in self.robots.values()
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
        self._step(dict.fromkeys(self.robots))

    def _resend_if_stalled(self) -> None:
        if self.finished or self.awaiting_stamp is None or self._last_batches is None or self._all_answered():
            return
        if time.perf_counter() - self._last_publish > float(self.p["lockstep_resend_s"]):
            self.resends += 1
            self.get_logger().warning(
                f"stamp {self.awaiting_stamp} not answered yet: re-publishing its batch"
            )
            self.publish_batches(self._last_batches, resend=True)

    def _lockstep_step(self, commands: dict[str, Command | None]) -> None:
        due = self._parked_step_due()
        if due is None or time.perf_counter() >= due:
            self._step(commands)
            return
        # later, from a wall-clock timer: a sleep here would hold the executor (and the agent's callbacks)
        self._paced = commands
        if self._pace_timer is None:
            self._pace_timer = self.create_timer(0.005, self._release_paced_step)

    def _release_paced_step(self) -> None:
        if self._paced is None or self.finished:
            return
        due = self._parked_step_due()
        if due is None or time.perf_counter() >= due:
            commands, self._paced = self._paced, None
            self._step(commands)

    def _parked_step_due(self) -> float | None:
        """realtime_while_parked: the wall time (perf_counter) the next step waits for, or None."""
        if not self.p["realtime_while_parked"]:
            return None
        parked = bool(getattr(getattr(self.sim, "metrics", None), "parked", False))
        if not parked or any(r.port.drive_requested() for r in self.robots.values()):
            self._pace_origin = None
            return None
        if self._pace_origin is None:
            self._pace_origin = (time.perf_counter(), self.sim.stamp_ns)
            return None
        wall0, stamp0 = self._pace_origin
        return wall0 + (self.sim.stamp_ns - stamp0) * 1e-9

    # --- free running ----------------------------------------------------------------------------

    def free_step(self) -> None:
        if self.finished:
            return
        speed = float(self.p["constant_speed"])
        commands: dict[str, Command | None] = {}
        for name, r in self.robots.items():
            if speed >= 0.0 and not r.every_period:  # a body driven by joint efforts has no speed to hold
                commands[name] = DriveCommand(stamp_ns=self.sim.stamp_ns, speed=speed, yaw_rate=0.0)
            else:
                commands[name] = r.last_cmd
        self._step(commands)

    # --- common ------------------------------------------------------------------------------------

    @property
    def last_odometry(self) -> dict[str, Odometry] | None:
        """Each robot's newest odometry published (bench_loop checks its floor drove the loop's path)."""
        batches = self._last_batches
        if batches is None:
            return None
        return {name: b.odometry[-1] for name, b in batches.items() if b.odometry}

    def replay_step(self, commands: Mapping[str, Command | None]) -> None:
        """One step with given commands, as lockstep applied them (bench_loop's floor replays the loop)."""
        if not self.finished:
            self._step(commands)

    def _step(self, commands: Mapping[str, Command | None]) -> None:
        if self.on_step is not None:
            self.on_step(commands)
        batches = self.sim.step(commands)
        for r in self.robots.values():
            version = r.port.route_version()
            if version != r.route_version:  # a mission of legs moves on
                r.route_version = version
                r.pub["route"].publish(conv.route_to_msg(r.port.route_map()))
        self.publish_batches(batches)
        if self.sim.done:
            self.finish()

    def publish_batches(self, batches: Mapping[str, SensorBatch], *, resend: bool = False) -> None:
        """One step: /clock, then every robot's odometry, IMU and joint states, then (a camera step) every
        robot's camera_info, drive request and image: a planner has the rest when its image arrives."""
        stamp = next(iter(batches.values())).clock_ns
        self.pub_clock.publish(Clock(clock=conv.to_time(stamp)))
        for name, batch in batches.items():
            r = self.robots[name]
            for odom in batch.odometry:
                r.pub["odom"].publish(conv.odometry_to_msg(odom))
            for imu in batch.imu:
                r.pub["imu"].publish(conv.imu_to_msg(imu))
            for proprio in batch.proprioception:
                r.pub["joints"].publish(conv.joint_state_from_proprioception(proprio, r.port.joint_names))
        self.awaiting_stamp = stamp
        self._last_batches = dict(batches)
        self._last_publish = time.perf_counter()
        cameras = [(self.robots[name], b.camera) for name, b in batches.items() if b.camera is not None]
        if cameras and not resend:
            self.frames += 1
            self.publish_wall[stamp] = self._last_publish
        for r, frame in cameras:
            r.pub["info"].publish(conv.camera_info_from_model(r.port.camera_model, frame.stamp_ns))
            if r.port.drive_requested() and r.drive_request_wall is None:
                r.drive_request_wall = time.perf_counter()
                r.pub["drive_request"].publish(Bool(data=True))
            r.pub["image"].publish(conv.image_from_frame(frame))

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

    def destroy_node(self) -> None:
        self.sim.close()
        super().destroy_node()


NODE_CLASS = SimNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(SimNode, args)


if __name__ == "__main__":
    main()

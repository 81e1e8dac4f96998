"""The fleet agent as a ROS 2 node: lends the parked vehicle's computer to fleet batch jobs.

Thin: parameters and message conversion only; the logic is cloud_reasoner.fleet (ParkDetector,
AgentRunner over FleetAgent, the owner's OptInPolicy).

Subscribes
  odom                  nav_msgs/Odometry  parked = speed < park_speed_threshold for park_hold_s (stamps)
  fleet/drive_request   std_msgs/Bool      True: the owner is about to drive — the running job is
                                           stopped, checkpointed and its lease released (≤ ~0.2 s)
Publishes
  diagnostics           diagnostic_msgs/DiagnosticArray, status "fleet_agent": eligibility, lease, job,
                        results submitted and credited, compute seconds, preemptions, errors

Every gRPC call and the job process are handled by the agent in a child process (`separate_process`,
default; or on a thread of this one), the job itself in a further process at nice `niceness` with
`threads` onnxruntime threads: no callback here blocks the executor the driving stack may share, and
in the in-process lockstep graph the agent takes no GIL time from the stack.
"""

from __future__ import annotations

import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry as OdometryMsg
from rclpy.node import Node
from std_msgs.msg import Bool

from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, declare, latched_qos, stream_qos


def parameter_spec() -> dict[str, Param]:
    return {
        **COMMON_PARAMS,
        "server": Param(
            "127.0.0.1:50051", "Fleet service (System 2 server with the Fleet plugin), host:port"
        ),
        "vehicle_id": Param("", "this vehicle's id at the server (fleetpilot cloud add-vehicle NAME)"),
        "token": Param("", "its bearer token (prefer token_file)"),
        "token_file": Param("", "file holding the bearer token; used when token is empty"),
        "owner": Param("owner", "the owner credits go to"),
        # the owner's opt-in policy (cloud_reasoner.fleet.policy.OptInPolicy)
        "opted_in": Param(False, "the owner lends this vehicle's idle compute"),
        "allowed_hours": Param([0, 24], "local hours [start, end) in which jobs may run; may wrap midnight"),
        "min_state_of_charge": Param(0.5, "never compute below this state of charge unless charging"),
        "only_while_charging": Param(True, "compute only while charging"),
        "max_cpu_share": Param(0.5, "share of the computer the owner allows (reported to the server)"),
        "max_temperature_c": Param(60.0, "stop above this cabin/computer temperature"),
        # vehicle state the simulation does not model (a real car reads these from its BMS)
        "charging": Param(True, "the vehicle is plugged in"),
        "state_of_charge": Param(0.8, "battery state of charge, 0..1"),
        "temperature_c": Param(25.0, "computer temperature"),
        "local_hour": Param(-1.0, "local hour for allowed_hours; < 0 = the machine's local time"),
        "park_speed_threshold": Param(0.05, "m/s below which the vehicle is standing still"),
        "park_hold_s": Param(2.0, "s of standstill (odometry stamps) before the vehicle counts as parked"),
        "separate_process": Param(
            True, "run the agent in a child process (nothing of it then shares this process's GIL)"
        ),
        "step_period_s": Param(0.1, "agent thread period: collect job messages, lease when idle"),
        "heartbeat_period_s": Param(5.0, "heartbeat period to the server"),
        "niceness": Param(10, "nice increment of the job process"),
        "threads": Param(1, "onnxruntime threads of the job process"),
        "checkpoint_upload_s": Param(
            2.0, "s between checkpoint uploads to the server (a preemption sends the latest)"
        ),
        "sched_idle": Param(True, "Linux: run the job process at SCHED_IDLE (only on otherwise idle cores)"),
        "compute_power_w": Param(30.0, "electrical power of the computer while computing (energy credits)"),
        "diagnostics_period_s": Param(1.0, "wall seconds between diagnostics"),
    }


class FleetAgentNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("fleet_agent", **kwargs)
        from cloud_reasoner.fleet.agent import FleetAgent
        from cloud_reasoner.fleet.agent_runner import AgentProcess, AgentRunner, ParkDetector
        from cloud_reasoner.fleet.client import FleetSyncClient
        from cloud_reasoner.fleet.policy import OptInPolicy

        self.p = p = declare(self, parameter_spec())
        token = p["token"] or (Path(p["token_file"]).read_text().strip() if p["token_file"] else "")
        if not p["vehicle_id"] or not token:
            raise ValueError("fleet_agent needs vehicle_id and token (or token_file)")
        policy = OptInPolicy(
            opted_in=bool(p["opted_in"]),
            allowed_hours=tuple(int(h) for h in p["allowed_hours"]),
            min_state_of_charge=float(p["min_state_of_charge"]),
            only_while_charging=bool(p["only_while_charging"]),
            max_cpu_share=float(p["max_cpu_share"]),
            max_temperature_c=float(p["max_temperature_c"]),
        )
        self.detector = ParkDetector(float(p["park_speed_threshold"]), float(p["park_hold_s"]))
        agent_kwargs = dict(
            niceness=int(p["niceness"]),
            threads=int(p["threads"]),
            heartbeat_period_s=float(p["heartbeat_period_s"]),
            sched_idle=bool(p["sched_idle"]),
            checkpoint_upload_s=float(p["checkpoint_upload_s"]),
        )
        runner_kwargs = dict(
            step_period_s=float(p["step_period_s"]), compute_power_w=float(p["compute_power_w"])
        )
        self.client = None
        if p["separate_process"]:
            self.runner = AgentProcess(
                str(p["server"]),
                str(p["vehicle_id"]),
                token,
                policy,
                str(p["owner"]),
                **runner_kwargs,
                **agent_kwargs,
            )
        else:
            self.client = FleetSyncClient(str(p["server"]), str(p["vehicle_id"]), token)
            self.runner = AgentRunner(
                FleetAgent(self.client, policy, str(p["owner"]), **agent_kwargs), **runner_kwargs
            )
        self._state = self._vehicle_state(parked=False)  # validates the state parameters now
        self._state_sent = False
        self._last_stamp_ns = 0
        self.pub_diag = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.create_subscription(OdometryMsg, "odom", self._on_odom, stream_qos(bool(p["reliable_qos"]), 20))
        self.create_subscription(Bool, "fleet/drive_request", self._on_drive_request, latched_qos())
        self.create_timer(float(p["diagnostics_period_s"]), self.publish_diagnostics)
        self.runner.start()

    def _vehicle_state(self, parked: bool):
        from cloud_reasoner.fleet.policy import VehicleState

        hour = float(self.p["local_hour"])
        if hour < 0:
            lt = time.localtime()
            hour = lt.tm_hour + lt.tm_min / 60.0
        return VehicleState(
            parked=parked,
            charging=bool(self.p["charging"]),
            state_of_charge=float(self.p["state_of_charge"]),
            temperature_c=float(self.p["temperature_c"]),
            local_hour=hour,
        )

    def _on_odom(self, msg: OdometryMsg) -> None:
        odom = conv.odometry_from_msg(msg)
        self._last_stamp_ns = odom.stamp_ns
        parked = self.detector.update(odom.stamp_ns, odom.vx)
        if parked != self._state.parked or not self._state_sent:
            self._state = self._vehicle_state(parked)
            self.runner.set_state(self._state)
            self._state_sent = True

    def _on_drive_request(self, msg: Bool) -> None:
        if not msg.data:
            return
        requested_at = time.perf_counter()
        self.detector.drive_requested()
        self._state = self._vehicle_state(parked=False)
        self.runner.drive_request(requested_at)

    def publish_diagnostics(self) -> None:
        snap = self.runner.snapshot()
        ok = snap.get("errors", 0) == 0
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if ok else DiagnosticStatus.WARN,
            name="fleet_agent",
            message=("computing " + snap.get("job_id", "")) if snap.get("busy") else "idle",
            hardware_id=str(self.p["vehicle_id"]),
            values=[KeyValue(key=k, value=str(v)) for k, v in snap.items()],
        )
        self.pub_diag.publish(
            DiagnosticArray(header=conv.header(self._last_stamp_ns, "base_link"), status=[status])
        )

    def destroy_node(self) -> None:
        self.runner.stop()  # releases a lease still held, with its checkpoint
        if self.client is not None:
            self.client.close()
        super().destroy_node()


NODE_CLASS = FleetAgentNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(FleetAgentNode, args)


if __name__ == "__main__":
    main()

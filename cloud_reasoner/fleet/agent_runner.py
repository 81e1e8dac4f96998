"""The fleet agent's vehicle-facing half: when is the vehicle parked, and a thread that owns the agent.

The ROS node (fleetpilot_nodes/fleet_agent_node.py) only converts messages and calls this module:

* `ParkDetector` turns odometry into "parked": speed below a threshold for `hold_s` seconds of
  vehicle time (message stamps, so lockstep runs behave the same at any wall speed). After a drive
  request the vehicle counts as parked again only once it has moved and stopped again.
* `AgentRunner` runs a `FleetAgent` on its own thread. Every gRPC call, the job process's messages
  and a preemption (up to about 0.2 s) happen there, never in the caller's thread: the node's
  callbacks share an executor with the driving stack, and driving must never wait for a job.
  `drive_request()` wakes the thread at once; it stops the job, checkpoints and releases the lease.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass, replace

import grpc

from cloud_reasoner.fleet.agent import FleetAgent
from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState, eligibility


class ParkDetector:
    """Parked = |speed| < speed_threshold continuously for hold_s (stamp time)."""

    def __init__(self, speed_threshold: float = 0.05, hold_s: float = 2.0) -> None:
        if not speed_threshold > 0 or not hold_s >= 0:
            raise ValueError(f"need speed_threshold > 0 and hold_s >= 0, got {speed_threshold}, {hold_s}")
        self.speed_threshold, self.hold_s = speed_threshold, hold_s
        self._still_since_ns: int | None = None
        self._await_motion = False
        self.parked = False

    def update(self, stamp_ns: int, speed: float) -> bool:
        if abs(speed) >= self.speed_threshold:
            self._still_since_ns = None
            self._await_motion = False
        elif self._still_since_ns is None and not self._await_motion:
            self._still_since_ns = stamp_ns
        self.parked = (
            self._still_since_ns is not None
            and (stamp_ns - self._still_since_ns) * 1e-9 >= self.hold_s - 1e-9
        )
        return self.parked

    def drive_requested(self) -> None:
        """The owner is about to drive: not parked, and not again until the vehicle has moved."""
        self.parked = False
        self._still_since_ns = None
        self._await_motion = True


@dataclass
class Preemption:
    lease_id: int
    requested_at: float  # perf_counter when drive_request() was called
    released_at: float  # perf_counter when the agent had released the lease

    @property
    def latency_s(self) -> float:
        return self.released_at - self.requested_at


class AgentRunner:
    """A FleetAgent on a dedicated thread. Thread-safe inputs: set_state(), drive_request(); output:
    snapshot() (for diagnostics). start() registers the vehicle from the thread (retried)."""

    def __init__(self, agent: FleetAgent, *, step_period_s: float = 0.1, compute_power_w: float = 30.0):
        if not step_period_s > 0:
            raise ValueError(f"step_period_s must be > 0, got {step_period_s}")
        self.agent = agent
        self.step_period_s = step_period_s
        self.compute_power_w = compute_power_w
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._state: VehicleState | None = None
        self._request_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="fleet-agent", daemon=True)
        self.preemptions: list[Preemption] = []
        self.errors: list[str] = []
        self._snapshot: dict = {"registered": False, "busy": False}

    # --- inputs (any thread) ---------------------------------------------------------------------

    def start(self) -> AgentRunner:
        self._thread.start()
        return self

    def set_state(self, state: VehicleState) -> None:
        with self._lock:
            before, self._state = self._state, state
        if before is None or eligibility(self.agent.policy, before) != eligibility(self.agent.policy, state):
            self._wake.set()  # a change of eligibility is acted on now, not at the next period

    def drive_request(self, requested_at: float | None = None) -> None:
        """requested_at: perf_counter (CLOCK_MONOTONIC, comparable across processes) of the request."""
        now = time.perf_counter() if requested_at is None else requested_at
        with self._lock:
            if self._state is not None:
                self._state = replace(self._state, parked=False)
            if self._request_at is None:
                self._request_at = now
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._snapshot)

    # --- the agent thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        agent = self.agent
        backoff = 0.0
        try:
            while not self._stopping.is_set():
                self._wake.wait(max(self.step_period_s, backoff))
                self._wake.clear()
                if self._stopping.is_set():
                    break
                with self._lock:
                    state, requested_at, self._request_at = self._state, self._request_at, None
                try:
                    if not agent.registered:
                        agent.register(self.compute_power_w)
                    if state is not None:
                        lease = agent.lease
                        agent.update_state(state)  # preempts at once when no longer eligible
                        if lease is not None and agent.lease is None and requested_at is not None:
                            released = agent.stats.last_release_at or time.perf_counter()
                            self.preemptions.append(Preemption(lease.lease_id, requested_at, released))
                        agent.step()
                    backoff = 0.0
                except grpc.RpcError as e:  # the server is away: try again later, never crash the node
                    self._error(f"{e.code().name}: {e.details()}")
                    backoff = min(max(2 * backoff, 0.5), 5.0)
                except Exception as e:  # a bug or bad input must show in diagnostics, not kill the thread
                    self._error(repr(e))
                    backoff = min(max(2 * backoff, 0.5), 5.0)
                self._publish_snapshot(state)
        finally:
            with contextlib.suppress(Exception):
                agent.close()  # a lease still held is released (with a checkpoint)
            self._publish_snapshot(self._state)

    def _error(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-20]

    def _publish_snapshot(self, state: VehicleState | None) -> None:
        a, st = self.agent, self.agent.stats
        snap = {
            "registered": a.registered,
            "eligibility": str(eligibility(a.policy, state)) if state is not None else "no_state",
            "parked": bool(state.parked) if state is not None else False,
            "busy": a.busy,
            "computing": a.computing,  # a job runs past its start (checkpointed, or its process was warm)
            "lease_id": a.lease.lease_id if a.lease is not None else 0,
            "job_id": a.lease.job.job_id if a.lease is not None else "",
            "leased": st.leased,
            "submitted": st.submitted,
            "credited_results": st.valid,
            "compute_s": round(st.compute_s, 4),
            "last_status": st.last_status,
            "preemptions": st.preemptions,
            "last_preempt_ms": round(st.preempt_latency_s[-1] * 1e3, 2) if st.preempt_latency_s else 0.0,
            "preempt_ms": [round(x * 1e3, 2) for x in st.preempt_latency_s[-50:]],
            "errors": len(self.errors) + len(st.errors),
            "last_error": (self.errors or st.errors or [""])[-1],
        }
        with self._lock:
            self._snapshot = snap


def _agent_process_main(
    conn,
    target: str,
    vehicle_id: str,
    token: str,
    policy: OptInPolicy,
    owner: str,
    runner_kwargs: dict,
    agent_kwargs: dict,
) -> None:
    """AgentProcess's child: a FleetAgent and its AgentRunner. Messages in: ("state", VehicleState),
    ("drive", requested_at), ("stop",). Out: snapshots (at most 5 per second, on change), the last
    one with "stopped": True. Ends when told to or when the parent's end of the pipe closes."""
    from cloud_reasoner.fleet.client import FleetSyncClient

    client = FleetSyncClient(target, vehicle_id, token)
    runner = AgentRunner(FleetAgent(client, policy, owner, **agent_kwargs), **runner_kwargs).start()

    def snapshot() -> dict:
        snap = runner.snapshot()
        snap["preemption_log"] = [(p.lease_id, p.requested_at, p.released_at) for p in runner.preemptions]
        snap["error_log"] = list(runner.errors + runner.agent.stats.errors)
        return snap

    last, last_sent_at = None, 0.0
    try:
        while True:
            try:
                if conn.poll(0.05):
                    msg = conn.recv()
                    if msg[0] == "stop":
                        break
                    if msg[0] == "state":
                        runner.set_state(msg[1])
                    elif msg[0] == "drive":
                        runner.drive_request(msg[1])
            except (EOFError, OSError):
                break  # the parent is gone
            snap = snapshot()
            if snap != last and time.monotonic() - last_sent_at >= 0.2:
                with contextlib.suppress(OSError):
                    conn.send(snap)
                last, last_sent_at = snap, time.monotonic()
    finally:
        runner.stop()
        client.close()
        with contextlib.suppress(OSError):
            conn.send({**snapshot(), "stopped": True})
            conn.close()


class AgentProcess:
    """The same interface as AgentRunner (set_state, drive_request, snapshot, preemptions, errors,
    stop), with the agent in a child process: nothing of the agent (gRPC, checkpoints, the job's
    messages, a preemption) runs in the caller's process, so it cannot take the GIL or CPU time from
    a driving stack that shares that process (the in-process lockstep graph)."""

    def __init__(
        self,
        target: str,
        vehicle_id: str,
        token: str,
        policy: OptInPolicy,
        owner: str,
        *,
        step_period_s: float = 0.1,
        compute_power_w: float = 30.0,
        **agent_kwargs,
    ) -> None:
        self._args = (
            target,
            vehicle_id,
            token,
            policy,
            owner,
            {"step_period_s": step_period_s, "compute_power_w": compute_power_w},
            agent_kwargs,
        )
        self._ctx = mp.get_context("spawn")
        self._conn = None
        self._proc = None
        self._snap: dict = {"registered": False, "busy": False}
        self._errors: list[str] = []

    def start(self) -> AgentProcess:
        parent, child = self._ctx.Pipe()
        # not a daemon: it starts the job processes itself
        self._proc = self._ctx.Process(
            target=_agent_process_main, args=(child, *self._args), name="fleet-agent"
        )
        self._proc.start()
        child.close()
        self._conn = parent
        return self

    def _send(self, msg) -> None:
        try:
            self._conn.send(msg)
        except (OSError, ValueError) as e:  # the agent process died: say so in the diagnostics
            self._errors.append(f"agent process: {e!r}")

    def set_state(self, state: VehicleState) -> None:
        self._send(("state", state))

    def drive_request(self, requested_at: float | None = None) -> None:
        self._send(("drive", time.perf_counter() if requested_at is None else requested_at))

    def _drain(self) -> None:
        try:
            while self._conn is not None and self._conn.poll(0):
                self._snap = self._conn.recv()
        except (EOFError, OSError):
            pass

    def snapshot(self) -> dict:
        self._drain()
        snap = {k: v for k, v in self._snap.items() if k not in ("preemption_log", "error_log")}
        if self._errors:
            snap["errors"] = snap.get("errors", 0) + len(self._errors)
            snap["last_error"] = self._errors[-1]
        return snap

    @property
    def preemptions(self) -> list[Preemption]:
        self._drain()
        return [Preemption(*p) for p in self._snap.get("preemption_log", [])]

    @property
    def errors(self) -> list[str]:
        self._drain()
        return list(self._snap.get("error_log", [])) + self._errors

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._proc is None:
            return
        self._send(("stop",))
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end and not self._snap.get("stopped"):
            try:
                if self._conn.poll(0.05):
                    self._snap = self._conn.recv()
            except (EOFError, OSError):
                break
        self._proc.join(max(0.0, t_end - time.monotonic()))
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(1.0)
        self._conn.close()
        self._proc = None

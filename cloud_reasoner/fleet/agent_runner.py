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
import threading
import time
from dataclasses import dataclass, replace

import grpc

from cloud_reasoner.fleet.agent import FleetAgent
from cloud_reasoner.fleet.policy import VehicleState, eligibility


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

    def drive_request(self) -> None:
        now = time.perf_counter()
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
                            self.preemptions.append(
                                Preemption(lease.lease_id, requested_at, time.perf_counter())
                            )
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
            "lease_id": a.lease.lease_id if a.lease is not None else 0,
            "job_id": a.lease.job.job_id if a.lease is not None else "",
            "leased": st.leased,
            "submitted": st.submitted,
            "credited_results": st.valid,
            "compute_s": round(st.compute_s, 4),
            "last_status": st.last_status,
            "preemptions": st.preemptions,
            "last_preempt_ms": round(st.preempt_latency_s[-1] * 1e3, 2) if st.preempt_latency_s else 0.0,
            "errors": len(self.errors) + len(st.errors),
            "last_error": (self.errors or st.errors or [""])[-1],
        }
        with self._lock:
            self._snapshot = snap

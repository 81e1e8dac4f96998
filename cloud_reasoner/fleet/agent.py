"""Vehicle side of fleet compute: eligibility, leasing, a low-priority job process, preemption.

The ROS fleet agent node is meant to be a thin wrapper: it calls `update_state()` whenever the vehicle
state changes (parked/driving, charging, state of charge, temperature) and `step()` on a timer.
`update_state()` preempts at once when the policy no longer allows computing (the vehicle is about
to drive): the job process is told to stop, checkpoints between two frames, and the lease is released
with that checkpoint; `preempt()` is bounded (`PREEMPT_BUDGET_S`) — if the process does not answer in
time it is killed and the last periodic checkpoint is used. Driving never waits for a job.

The job runs in a separate process (spawn) at `nice` 10 (optionally, on Linux, the SCHED_IDLE
policy: `sched_idle=True`) with one onnxruntime thread, so it cannot steal the cores of the driving
stack's threads at equal priority, and a crash in it cannot take the agent down. That process is
kept between jobs (JobWorker): it sits idle, using no CPU, while the car drives, and the next job
starts computing at once instead of paying a new interpreter and onnxruntime import each time.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field

import grpc

from cloud_reasoner.fleet.blobs import digest_of
from cloud_reasoner.fleet.client import FleetSyncClient
from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState, is_eligible
from cloud_reasoner.fleet.store import Lease

PREEMPT_BUDGET_S = 0.2
STOP_WAIT_S = 0.1  # of the budget, how long the job process may take to checkpoint and stop
RPC_TIMEOUT_S = 0.04


def _worker_main(conn, stop, priority: int, threads: int, sched_idle: bool = False) -> None:
    """The job process, kept between jobs (JobWorker): runs one job per ("run", lease, blobs) message,
    streams checkpoints, answers a stop request with a checkpoint, and keeps its loaded models."""
    _lower_priority(0, priority, sched_idle)  # the parent did it already; idempotent
    # the imports a job needs, before any job comes (the process may be started ahead: JobWorker.start)
    import onnxruntime  # noqa: F401

    import perception.inference  # noqa: F401
    from cloud_reasoner.fleet.jobs import ModelCache, Stopped, execute

    models = ModelCache(threads=threads)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the agent is gone
        if msg[0] != "run":
            return
        _, lease, blobs, cpu_share = msg
        checkpoint = blobs.get(lease.checkpoint_digest) if lease.checkpoint_digest else None
        t0 = time.process_time()
        try:
            result = execute(
                lease.job,
                blobs.__getitem__,
                models=models,
                checkpoint=checkpoint,
                should_stop=_duty_cycle(stop, cpu_share),
                on_checkpoint=lambda cp, progress: conn.send(("checkpoint", cp, progress)),
            )
            conn.send(("result", result, time.process_time() - t0))
        except Stopped as s:
            conn.send(("stopped", s.checkpoint, 0.0))
        except Exception as e:  # reported to the agent, which releases the lease
            conn.send(("error", repr(e).encode(), 0.0))


def _duty_cycle(stop, cpu_share: float):
    """should_stop for execute() that also keeps the job's CPU time at most `cpu_share` of the wall time
    since it started (the owner's max_cpu_share): between two frames it waits out any excess, on the
    stop event, so a preemption still ends the wait at once."""
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def should_stop() -> bool:
        if cpu_share < 1.0:
            excess = (time.process_time() - cpu0) / cpu_share - (time.perf_counter() - wall0)
            if excess > 0.0:
                stop.wait(excess)
        return stop.is_set()

    return should_stop


class JobWorker:
    """One long-lived job process. Spawned at the first lease and kept between jobs: a job must not pay
    the interpreter start and the onnxruntime import and model load (about a CPU second) every time, on
    a car whose driving stack may share the cores. Killed when it does not answer a stop in time, when
    it dies, and on close(); the next job then spawns a fresh one.

    Invariant kept by FleetAgent: run() is called only when the previous job's last message (result,
    stopped, error) has been received, so a message always belongs to the current job."""

    def __init__(self, ctx, priority: int, threads: int, sched_idle: bool) -> None:
        self._ctx, self.priority, self.threads, self.sched_idle = ctx, priority, threads, sched_idle
        self._proc = None
        self.conn = None
        self._stop = None
        self.jobs_run = 0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def warm(self) -> bool:
        """It has finished a job before: imports and models are loaded, a new job computes at once."""
        return self.alive and self.jobs_run > 0

    def start(self) -> None:
        """Spawn the process ahead of the first job (at low priority it imports what a job needs)."""
        if not self.alive:
            self.kill()
            self._spawn()

    def run(self, lease: Lease, blobs: dict, cpu_share: float = 1.0) -> None:
        self.start()
        self._stop.clear()
        if self.sched_idle:  # a stop raised it to the normal policy (request_stop)
            _set_policy(self._proc.pid, idle=True)
        self.conn.send(("run", lease, blobs, cpu_share))

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            # A SCHED_IDLE job on a busy machine waits long for a core: without this it missed the
            # stop budget and was killed, losing the work since its last checkpoint. Under the normal
            # policy (still at its nice value) it gets a core within milliseconds to checkpoint.
            if self.sched_idle and self.alive:
                _set_policy(self._proc.pid, idle=False)

    def job_ended(self) -> None:
        self.jobs_run += 1

    def signal_kill(self) -> None:
        """SIGKILL without waiting for the process to go (kill() reaps it later)."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=1.0)
        if self.conn is not None:
            self.conn.close()
        self._proc = self.conn = self._stop = None
        self.jobs_run = 0

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._stop = self._ctx.Event()
        self._proc = self._ctx.Process(
            target=_worker_main,
            args=(child, self._stop, self.priority, self.threads, self.sched_idle),
            daemon=True,
            name="fleet-job",
        )
        self._proc.start()
        # At once, from here: the child's interpreter start and imports must not run at the agent's
        # priority either.
        _lower_priority(self._proc.pid, self.priority, self.sched_idle)
        child.close()
        self.conn = parent


def _set_policy(pid: int, *, idle: bool) -> None:
    """Linux SCHED_IDLE (idle=True) or the normal policy for every thread of process pid (a policy is
    per thread). Best effort: without the right to raise a policy the stop budget still kills."""
    policy = getattr(os, "SCHED_IDLE" if idle else "SCHED_OTHER", None)
    if policy is None:
        return
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(tid, policy, os.sched_param(0))


def _lower_priority(pid: int, priority: int, sched_idle: bool) -> None:
    """Absolute nice value `priority` for process pid (0: this one), and Linux SCHED_IDLE if asked:
    a core only when nothing else wants it (nice 19 still takes a share of a busy core; on a
    computer kept busy by other work a SCHED_IDLE job hardly progresses)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, priority)
    if sched_idle:
        _set_policy(pid if pid else os.getpid(), idle=True)


@dataclass
class AgentStats:
    leased: int = 0
    submitted: int = 0
    valid: int = 0  # submissions the server validated (and credited) at once
    compute_s: float = 0.0  # CPU seconds of the submitted results
    preemptions: int = 0
    preempt_latency_s: list[float] = field(default_factory=list)
    last_release_at: float = 0.0  # perf_counter when the last preemption's release RPC returned
    errors: list[str] = field(default_factory=list)
    last_status: str = ""


class FleetAgent:
    def __init__(
        self,
        client: FleetSyncClient,
        policy: OptInPolicy,
        owner: str,
        *,
        niceness: int = 10,
        threads: int = 1,
        heartbeat_period_s: float = 5.0,
        sched_idle: bool = True,
        checkpoint_upload_s: float = 2.0,
    ) -> None:
        self.client, self.policy, self.owner = client, policy, owner
        self.niceness, self.threads, self.sched_idle = niceness, threads, sched_idle
        # The job process checkpoints every few frames (kept here for a preemption); the server gets
        # one at most this often (BOINC-style periodic checkpoints: fewer RPCs, less CPU on the car).
        self.checkpoint_upload_s = checkpoint_upload_s
        self._last_upload = 0.0
        self.heartbeat_period_s = heartbeat_period_s
        self.state: VehicleState | None = None
        self.lease: Lease | None = None
        self.last_checkpoint: bytes | None = None
        self._last_heartbeat = 0.0
        self._worker = JobWorker(mp.get_context("spawn"), 19, threads, sched_idle)
        self.stats = AgentStats()
        self.registered = False

    # --- what the node calls ------------------------------------------------------------------

    def register(self, compute_power_w: float = 30.0) -> None:
        self.client.register(self.owner, self.policy, compute_power_w)
        self.registered = True
        if self.policy.opted_in:
            # the job process starts now, at low priority, not when the car has just parked: a parked
            # car's first job then computes at once instead of after a second of imports
            self._worker.priority = min(19, os.getpriority(os.PRIO_PROCESS, 0) + self.niceness)
            self._worker.start()

    def update_state(self, state: VehicleState) -> None:
        self.state = state
        if self.busy and not is_eligible(self.policy, state):
            self.preempt()

    @property
    def busy(self) -> bool:
        return self.lease is not None

    @property
    def computing(self) -> bool:
        """A job is running and past its start: it has checkpointed, or its process was warm."""
        return self.busy and (self.last_checkpoint is not None or self._worker.warm)

    def step(self) -> None:
        """Heartbeat when due; collect the job process's messages; lease a job when idle and eligible."""
        if self.state is None:
            return
        now = time.monotonic()
        if now - self._last_heartbeat >= self.heartbeat_period_s:
            self._last_heartbeat = now
            ids = [self.lease.lease_id] if self.lease else []
            _, _, inactive = self.client.heartbeat(self.state, ids)
            if self.lease and self.lease.lease_id in inactive:
                self._worker.kill()  # expired or released server-side: stop wasting work
                self.lease = None
        self._drain()
        if not self.busy and is_eligible(self.policy, self.state):
            leases, _ = self.client.lease(self.state, max_units=1)
            if leases:
                self._start(leases[0])

    def preempt(self) -> float:
        """Stop the job, checkpoint, release the lease. Returns the seconds it took (≤ about 0.2)."""
        t0 = time.perf_counter()
        if self.lease is None:
            return 0.0
        lease, self.lease = self.lease, None
        worker = self._worker
        worker.request_stop()
        answered = False  # the job process said how the job ended: it is idle and can be kept
        t_end = t0 + STOP_WAIT_S
        while worker.conn is not None and time.perf_counter() < t_end:
            if worker.conn.poll(max(0.0, t_end - time.perf_counter())):
                kind, payload, _ = self._recv()
                if kind in ("stopped", "checkpoint"):
                    self.last_checkpoint = payload
                if kind in ("stopped", "result", "error"):
                    answered = True
                if kind in ("stopped", "result", "error", "eof"):
                    break
        # SIGKILL now but reap after the release: a job process the scheduler does not run soon
        # (nice, SCHED_IDLE, a loaded machine) must not delay the release.
        if not answered:
            worker.signal_kill()
        digest = ""
        remaining = PREEMPT_BUDGET_S - (time.perf_counter() - t0)
        try:
            if self.last_checkpoint is not None and remaining > 2 * RPC_TIMEOUT_S:
                digest = digest_of(self.last_checkpoint)
                self.client.put_blob(self.last_checkpoint, digest, timeout_s=RPC_TIMEOUT_S)
            # the release may use what is left of the budget: a fixed 40 ms missed it on a loaded host
            left = PREEMPT_BUDGET_S - (time.perf_counter() - t0)
            self.client.release(lease.lease_id, digest, timeout_s=max(RPC_TIMEOUT_S, left))
            self.stats.last_release_at = time.perf_counter()  # the server has committed the release
        except grpc.RpcError as e:  # the lease then simply expires and is re-issued
            self.stats.errors.append(f"release: {e.code()}")
        dt = time.perf_counter() - t0
        if answered:
            worker.job_ended()
        else:
            worker.kill()
        self.stats.preemptions += 1
        self.stats.preempt_latency_s.append(dt)
        return dt

    def close(self) -> None:
        if self.busy:
            self.preempt()
        self._worker.kill()

    # --- job process ------------------------------------------------------------------------------

    def _start(self, lease: Lease) -> None:
        blobs = {lease.job.input_digest: self.client.get_blob(lease.job.input_digest)}
        model = lease.job.params.get("model_digest")
        if model:
            blobs[model] = self.client.get_blob(model)
        if lease.checkpoint_digest:
            blobs[lease.checkpoint_digest] = self.client.get_blob(lease.checkpoint_digest)
        self._worker.priority = min(19, os.getpriority(os.PRIO_PROCESS, 0) + self.niceness)
        self._worker.run(lease, blobs, self.policy.max_cpu_share)
        self.lease = lease
        self.last_checkpoint = None
        self._last_upload = 0.0  # the first checkpoint of a job goes up at once
        self.stats.leased += 1

    def _recv(self):
        try:
            return self._worker.conn.recv()
        except (EOFError, OSError):
            return ("eof", b"", 0.0)

    def _drain(self) -> None:
        conn = self._worker.conn
        while conn is not None and self.lease is not None and conn.poll(0):
            kind, payload, seconds = self._recv()
            lease = self.lease
            if kind == "checkpoint":  # the third field is the fraction done
                self.last_checkpoint = payload
                now = time.monotonic()
                if now - self._last_upload >= self.checkpoint_upload_s:
                    self._last_upload = now
                    digest = self.client.put_blob(payload)
                    self.client.progress(lease.lease_id, digest, float(seconds))
            elif kind == "result":
                status, _ = self.client.submit(lease.lease_id, payload, seconds)
                self.stats.submitted += 1
                self.stats.compute_s += seconds
                self.stats.valid += status == "valid"
                self.stats.last_status = status
                self.lease = None
                self._worker.job_ended()  # kept: the next job starts computing at once
            elif kind in ("error", "eof"):
                self.stats.errors.append(payload.decode(errors="replace") or kind)
                with contextlib.suppress(grpc.RpcError):
                    self.client.release(lease.lease_id)
                self.lease = None
                if kind == "eof":  # it died
                    self._worker.kill()
                    conn = None
                else:
                    self._worker.job_ended()

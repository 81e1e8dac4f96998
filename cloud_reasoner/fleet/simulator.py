"""Fleet simulator: N virtual vehicles (no physics) against a real Fleet server in another process.

Each vehicle follows a random schedule (parked, driving, charging; state of charge and local time
advance), asks the eligibility policy before leasing, runs its work units with the
`CalibratedStandInExecutor` (it sleeps the per-job time measured from the real executor and returns the
result the real executor would: the simulator does not spend CPU on inference, the server does all
its real work), and is preempted when its schedule says drive (remaining units are released).
Malicious vehicles return wrong results; churning vehicles vanish mid-job (their leases expire and are
re-issued). Vehicles share a few grpc.aio channels in one client process.

`--kill-server-at S` kills the server with SIGKILL S seconds in and restarts it on the same SQLite file
and port; vehicles retry on UNAVAILABLE (results are re-sent: submissions are idempotent).

The report is computed from the database at the end and cross-checked with the simulator's own record
of which results it made wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import numpy as np

from cloud_reasoner.fleet.blobs import digest_of
from cloud_reasoner.fleet.client import FleetClient, result_msg
from cloud_reasoner.fleet.jobs import SEGMENT_STATS, JobSpec, canonical_json
from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState, is_eligible
from cloud_reasoner.fleet.store import SqliteFleetStore, StoreConfig
from cloud_reasoner.fleet.validation import parse_result, results_agree

FRAMES_PER_JOB = 8
# UNAVAILABLE: the server is restarting; DEADLINE_EXCEEDED: overloaded; RESOURCE_EXHAUSTED: the server's
# concurrent-RPC limit shed the call before running it. All are safe to retry: submissions are idempotent.
RETRYABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


@dataclass
class SimConfig:
    vehicles: int = 100
    jobs: int = 1000
    churn: float = 0.0
    malicious: float = 0.0
    kill_server_at: float | None = None
    seed: int = 0
    units_per_lease: int = 8
    lease_ttl_s: float = 10.0
    liveness_s: float = 3.0  # a vehicle silent this long has vanished: its leases are re-issued
    channels: int = 4
    timeout_s: float = 600.0
    seconds_per_job: float | None = None  # None: calibrate against the real executor
    state_dir: Path | None = None
    server: str = "cloud"  # "cloud": the System 2 server with the Fleet plugin; "standalone"

    def __post_init__(self) -> None:
        if self.server not in ("cloud", "standalone"):
            raise ValueError(f"--server must be cloud or standalone, got {self.server!r}")
        if self.vehicles < 1 or self.jobs < 1:
            raise ValueError("need at least one vehicle and one job")
        for name in ("churn", "malicious"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be in [0, 1)")
        if self.kill_server_at is not None and self.kill_server_at <= 0:
            raise ValueError("--kill-server-at must be positive seconds")


class CalibratedStandInExecutor:
    """Stands in for `jobs.execute` in the simulator. It waits the time the real executor takes for a
    job of FRAMES_PER_JOB frames (measured by `calibrate`) and returns the result the honest executor
    gives for that input — here a synthetic segment_stats result determined by the input digest, so
    replicas agree exactly like real honest replicas do."""

    def __init__(self, seconds_per_job: float) -> None:
        if seconds_per_job < 0:
            raise ValueError("seconds_per_job must be >= 0")
        self.seconds_per_job = seconds_per_job
        self._truth: dict[str, bytes] = {}

    @classmethod
    def calibrate(
        cls, frames: int = FRAMES_PER_JOB, repeats: int = 3, seed: int = 0
    ) -> CalibratedStandInExecutor:
        """Median wall time of the real executor (one onnxruntime thread) over a random-pixel shard."""
        from cloud_reasoner.fleet.jobs import ModelCache, execute, make_shard
        from perception.dataset import CAMERA_HEIGHT, CAMERA_WIDTH

        rng = np.random.default_rng(seed)
        rgb = rng.integers(0, 256, size=(frames, CAMERA_HEIGHT, CAMERA_WIDTH, 3), dtype=np.uint8)
        shard = make_shard(rgb)
        blobs = {digest_of(shard): shard}
        spec = JobSpec("calibration", SEGMENT_STATS, digest_of(shard), {})
        models = ModelCache(threads=1)
        execute(spec, blobs.__getitem__, models=models)  # warm-up: session creation is not per job
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            execute(spec, blobs.__getitem__, models=models)
            times.append(time.perf_counter() - t0)
        return cls(float(np.median(times)))

    def truth(self, spec: JobSpec) -> bytes:
        hit = self._truth.get(spec.input_digest)
        if hit is None:
            seed = int.from_bytes(hashlib.sha256(spec.input_digest.encode()).digest()[:8], "big")
            hit = self._truth[spec.input_digest] = synthetic_result(seed)
        return hit

    def wrong(self, spec: JobSpec, vehicle_id: str) -> bytes:
        """A wrong answer that differs per vehicle (no collusion: two liars do not agree)."""
        seed = int.from_bytes(
            hashlib.sha256(f"{spec.input_digest}:{vehicle_id}".encode()).digest()[:8], "big"
        )
        return synthetic_result(seed)

    async def run(self, spec: JobSpec) -> bytes:
        await asyncio.sleep(self.seconds_per_job)
        return self.truth(spec)


def synthetic_result(seed: int, frames: int = FRAMES_PER_JOB) -> bytes:
    rng = np.random.default_rng(seed)
    fractions = rng.dirichlet(np.ones(10), size=frames)
    conf = rng.uniform(0.9, 1.0, size=frames)
    threshold = 0.97
    return canonical_json(
        {
            "kind": SEGMENT_STATS,
            "frames": frames,
            "class_fraction": fractions.tolist(),
            "mean_confidence": conf.tolist(),
            "low_confidence_threshold": threshold,
            "low_confidence_frames": [i for i, c in enumerate(conf) if round(c, 6) < threshold],
        }
    )


# --- the server process ------------------------------------------------------------------------


class ServerProcess:
    """The server as a child process on loopback; `kill()` is SIGKILL, `start()` restarts it on the same
    database and port. kind "cloud": `python -m cloud_reasoner.server` (the System 2 server) with the
    Fleet plugin — the deployment shape; kind "standalone": `python -m cloud_reasoner.fleet.server`."""

    def __init__(
        self, kind: str, state_dir: Path, lease_ttl_s: float, liveness_s: float, seed: int, log_path: Path
    ) -> None:
        if kind not in ("cloud", "standalone"):
            raise ValueError(f"server kind must be 'cloud' or 'standalone', got {kind!r}")
        self.kind, self.state_dir = kind, state_dir
        self.lease_ttl_s, self.liveness_s, self.seed = lease_ttl_s, liveness_s, seed
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = log_path

    def _command(self, port_file: Path) -> tuple[list[str], dict[str, str]]:
        listen = f"127.0.0.1:{self.port or 0}"
        sweep = min(0.25, self.lease_ttl_s / 4)
        if self.kind == "standalone":
            cmd = [
                sys.executable,
                "-m",
                "cloud_reasoner.fleet.server",
                "--db",
                str(self.state_dir / "fleet.sqlite"),
            ]
            cmd += ["--listen", listen, "--port-file", str(port_file), "--lease-ttl", str(self.lease_ttl_s)]
            cmd += [
                "--sweep-period",
                str(sweep),
                "--liveness",
                str(self.liveness_s),
                "--seed",
                str(self.seed),
            ]
            return cmd, dict(os.environ)
        env = dict(os.environ)
        env.update(
            {
                "FLEETPILOT_CLOUD_SERVER_STATE_DIR": str(self.state_dir),
                "FLEETPILOT_CLOUD_SERVER_LISTEN": listen,
                "FLEETPILOT_CLOUD_SERVER_LOG_LEVEL": "warning",  # no JSON line per RPC at this rate
                "FLEETPILOT_CLOUD_SERVER_SHUTDOWN_GRACE_S": "0",
                "FLEETPILOT_CLOUD_FLEET_LEASE_TTL_S": str(self.lease_ttl_s),
                "FLEETPILOT_CLOUD_FLEET_LIVENESS_S": str(self.liveness_s),
                "FLEETPILOT_CLOUD_FLEET_SWEEP_PERIOD_S": str(sweep),
                "FLEETPILOT_CLOUD_FLEET_SEED": str(self.seed),
            }
        )
        return [sys.executable, "-m", "cloud_reasoner.server", "--port-file", str(port_file)], env

    def start(self, timeout_s: float = 30.0) -> int:
        port_file = self.state_dir / "server.port"
        port_file.unlink(missing_ok=True)
        cmd, env = self._command(port_file)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
        log.close()
        t_end = time.monotonic() + timeout_s
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"fleet server exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > t_end:
                raise RuntimeError(f"fleet server did not start in {timeout_s} s; see {self.log_path}")
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        return self.port

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


# --- virtual vehicles --------------------------------------------------------------------------


@dataclass
class Record:
    """What the simulator itself saw, to cross-check the database."""

    lease_latency_s: list[float] = field(default_factory=list)
    submit_latency_s: list[float] = field(default_factory=list)
    wrong_digests: set[str] = field(default_factory=set)
    valid_seen: dict[tuple[str, str], int] = field(default_factory=dict)
    rpc_retries: int = 0
    rpc_errors: dict[str, int] = field(default_factory=dict)
    preemptions: int = 0
    churned: int = 0
    results_sent: int = 0


class VirtualVehicle:
    def __init__(
        self,
        vid: str,
        client: FleetClient,
        executor: CalibratedStandInExecutor,
        rec: Record,
        rng: np.random.Generator,
        *,
        malicious: bool,
        churn_at: float | None,
        units: int,
        t0: float,
    ) -> None:
        self.vid, self.client, self.executor, self.rec, self.rng = vid, client, executor, rec, rng
        self.malicious, self.churn_at, self.units, self.t0 = malicious, churn_at, units, t0
        self.policy = OptInPolicy(
            opted_in=True,
            allowed_hours=(0, 24) if rng.random() < 0.8 else (20, 8),
            min_state_of_charge=float(rng.uniform(0.2, 0.5)),
            only_while_charging=bool(rng.random() < 0.3),
            max_cpu_share=0.5,
            max_temperature_c=60.0,
        )
        self.soc = float(rng.uniform(0.3, 1.0))
        self.hour0 = float(rng.uniform(0, 24))
        self.driving, self.charging = False, False
        self.next_change = 0.0
        self.vanished = False

    def state(self, now: float) -> VehicleState:
        """Advance the schedule: driving 1–4 s, parked 3–12 s (charging 60 % of the time)."""
        if now >= self.next_change:
            self.driving = not self.driving if self.next_change > 0 else bool(self.rng.random() < 0.2)
            self.charging = (not self.driving) and bool(self.rng.random() < 0.6)
            span = self.rng.uniform(1.0, 4.0) if self.driving else self.rng.uniform(3.0, 12.0)
            self.next_change = now + float(span)
            self.soc = float(np.clip(self.soc + (0.1 if self.charging else -0.05), 0.05, 1.0))
        hour = (self.hour0 + (now - self.t0) / 5.0) % 24.0  # one local hour every 5 s
        return VehicleState(
            parked=not self.driving,
            charging=self.charging,
            state_of_charge=self.soc,
            temperature_c=30.0,
            local_hour=hour,
        )

    async def call(self, fn, *args):
        """Retry on UNAVAILABLE / DEADLINE_EXCEEDED (the server may be restarting)."""
        delay = 0.05
        while True:
            try:
                return await fn(*args)
            except grpc.aio.AioRpcError as e:
                if e.code() not in RETRYABLE:
                    raise
                self.rec.rpc_retries += 1
                await asyncio.sleep(delay * (0.5 + self.rng.random()))
                delay = min(delay * 2, 1.0)

    async def run(self, stop: asyncio.Event) -> None:
        idle = 0.25
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            now = loop.time()
            state = self.state(now)
            if not is_eligible(self.policy, state):
                await asyncio.sleep(min(self.next_change - now, 1.0) + 0.01)
                continue
            t = time.perf_counter()
            leases, _ = await self.call(self.client.lease, state, self.units)
            self.rec.lease_latency_s.append(time.perf_counter() - t)
            if not leases:
                await asyncio.sleep(idle * (0.5 + self.rng.random()))
                idle = min(idle * 2, 2.0)
                continue
            idle = 0.25
            results = []
            for i, lease in enumerate(leases):
                if self.churn_at is not None and loop.time() >= self.churn_at:
                    self.vanished = True  # gone mid-job: no result, no release
                    self.rec.churned += 1
                    return
                if not self.state(loop.time()).parked:  # about to drive: stop, give the rest back
                    self.rec.preemptions += 1
                    await self.call(self.client.release, [x.lease_id for x in leases[i:]])
                    break
                t_run = time.perf_counter()
                data = await self.executor.run(lease.job)
                if self.malicious:
                    data = self.executor.wrong(lease.job, self.vid)
                    self.rec.wrong_digests.add(digest_of(data))
                results.append(result_msg(lease.lease_id, data, time.perf_counter() - t_run))
            if results:
                t = time.perf_counter()
                outcomes = await self.call(self.client.submit, results)
                self.rec.submit_latency_s.append(time.perf_counter() - t)
                self.rec.results_sent += len(results)
                by_lease = {x.lease_id: x.job.job_id for x in leases}
                for lease_id, status, duplicate in outcomes:
                    if status == "valid" and not duplicate:
                        key = (by_lease[lease_id], self.vid)
                        self.rec.valid_seen[key] = self.rec.valid_seen.get(key, 0) + 1


# --- the run -----------------------------------------------------------------------------------


def prepare(cfg: SimConfig, state_dir: Path, executor: CalibratedStandInExecutor) -> dict[str, str]:
    """Set up as an operator would: vehicle tokens (in the cloud server's vehicle store, or the
    stand-alone server's table), input blobs, queued jobs."""
    names = [f"veh-{i:05d}" for i in range(cfg.vehicles)]
    store = SqliteFleetStore(state_dir / "fleet.sqlite", StoreConfig(spot_check_seed=cfg.seed))
    try:
        if cfg.server == "cloud":
            from cloud_reasoner.vehicle_store import VehicleStore

            vehicles = VehicleStore(state_dir)
            try:
                tokens = {name: vehicles.add_vehicle(name) for name in names}
            finally:
                vehicles.close()
        else:
            tokens = store.add_tokens(names)
        # Stand-in shards: small unique blobs; the stand-in's result depends only on the digest.
        inputs = store.put_blobs(f"stand-in shard {cfg.seed}:{j}".encode() for j in range(cfg.jobs))
        specs = [
            (JobSpec(f"job-{j:06d}", SEGMENT_STATS, d, {}), executor.seconds_per_job)
            for j, d in enumerate(inputs)
        ]
        store.add_jobs(specs, time.time_ns())
    finally:
        store.close()
    return tokens


def _count_done(db: Path) -> tuple[int, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        con.execute("PRAGMA busy_timeout=5000")
        rows = dict(con.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    finally:
        con.close()
    return rows.get("validated", 0), rows.get("failed", 0)


async def _drive(
    cfg: SimConfig, server: ServerProcess, tokens: dict[str, str], executor, rec: Record, db: Path
):
    rng = np.random.default_rng(cfg.seed)
    options = [
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 500),
    ]
    target = f"127.0.0.1:{server.port}"
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(cfg.channels)]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ids = list(tokens)
    malicious = set(rng.choice(len(ids), size=round(cfg.malicious * len(ids)), replace=False).tolist())
    churners = set(rng.choice(len(ids), size=round(cfg.churn * len(ids)), replace=False).tolist())
    # churners vanish somewhere in the first half of the expected run (at the target rate)
    expected_s = max(2.0, cfg.jobs / 500.0)
    vehicles = []
    for i, vid in enumerate(ids):
        client = FleetClient(channels[i % len(channels)], vid, tokens[vid], timeout_s=5.0)
        churn_at = t0 + float(rng.uniform(0.5, 0.5 * expected_s)) if i in churners else None
        vrng = np.random.default_rng([cfg.seed, i])
        vehicles.append(
            VirtualVehicle(
                vid,
                client,
                executor,
                rec,
                vrng,
                malicious=i in malicious,
                churn_at=churn_at,
                units=cfg.units_per_lease,
                t0=t0,
            )
        )
    await asyncio.gather(*(v.call(v.client.register, f"owner-{v.vid}", v.policy) for v in vehicles))
    stop = asyncio.Event()
    start = loop.time()
    tasks = [loop.create_task(v.run(stop)) for v in vehicles]
    kills = 0
    end_reason = "timeout"
    while loop.time() - start < cfg.timeout_s:
        await asyncio.sleep(0.25)
        if cfg.kill_server_at is not None and kills == 0 and loop.time() - start >= cfg.kill_server_at:
            server.kill()
            kills += 1
            await asyncio.sleep(0.2)
            await loop.run_in_executor(None, server.start)
        validated, failed = await loop.run_in_executor(None, _count_done, db)
        if validated + failed >= cfg.jobs:
            end_reason = "all_jobs_done"
            break
        for t in tasks:
            if t.done() and t.exception() is not None:
                raise t.exception()
    duration = loop.time() - start
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ch in channels:
        await ch.close()
    return {
        "duration_s": duration,
        "end": end_reason,
        "server_kills": kills,
        "malicious_vehicles": len(malicious),
        "churn_vehicles": len(churners),
    }


def _percentiles_ms(xs: list[float]) -> dict:
    if not xs:
        return {"p50": None, "p99": None, "n": 0}
    a = np.asarray(xs) * 1e3
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "n": len(xs)}


def audit(db: Path, executor: CalibratedStandInExecutor, rec: Record, config: StoreConfig) -> dict:
    """Integrity figures from the database, cross-checked with the simulator's own record."""
    store = SqliteFleetStore(db, config)
    try:
        summary = store.summary()
        canon = store.canonical_results()
        wrong_accepted = 0
        for job_id, (input_digest, digest) in canon.items():
            truth = parse_result(executor.truth(JobSpec(job_id, SEGMENT_STATS, input_digest)))
            if not results_agree(truth, parse_result(store.get_blob(digest))):
                wrong_accepted += 1
        credited = store.credited_results()
        wrong_credited = sum(1 for _, _, d in credited if d in rec.wrong_digests)
        pairs: dict[tuple[str, str], int] = {}
        for job_id, vid, _ in credited:
            pairs[(job_id, vid)] = pairs.get((job_id, vid), 0) + 1
        double_db = sum(1 for n in pairs.values() if n > 1)
        double_seen = sum(1 for n in rec.valid_seen.values() if n > 1)
    finally:
        store.close()
    return {
        "summary": summary,
        "wrong_accepted": wrong_accepted + wrong_credited,
        "wrong_validated_jobs": wrong_accepted,
        "wrong_results_credited": wrong_credited,
        "double_credited": max(summary["double_credited"], double_db, double_seen),
        "credits": len(credited),
    }


def _vehicle_db_name() -> str:
    try:
        from cloud_reasoner.vehicle_store import DB_NAME
    except ImportError:
        return "vehicles.sqlite"
    return DB_NAME


def simulate(cfg: SimConfig) -> dict:
    executor = (
        CalibratedStandInExecutor(cfg.seconds_per_job)
        if cfg.seconds_per_job is not None
        else CalibratedStandInExecutor.calibrate()
    )
    tmp = None
    if cfg.state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="fleet-sim-")
        state_dir = Path(tmp.name)
    else:
        state_dir = Path(cfg.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
    db = state_dir / "fleet.sqlite"
    for name in ("fleet.sqlite", _vehicle_db_name()):
        for suffix in ("", "-wal", "-shm"):
            (state_dir / (name + suffix)).unlink(missing_ok=True)
    store_config = StoreConfig(spot_check_seed=cfg.seed)
    tokens = prepare(cfg, state_dir, executor)
    server = ServerProcess(
        cfg.server, state_dir, cfg.lease_ttl_s, cfg.liveness_s, cfg.seed, state_dir / "server.log"
    )
    rec = Record()
    try:
        server.start()
        run = asyncio.run(_drive(cfg, server, tokens, executor, rec, db))
    finally:
        server.stop()
    checks = audit(db, executor, rec, store_config)
    summary = checks["summary"]
    validated = summary["jobs"]["validated"]
    report = {
        "executor": "CalibratedStandInExecutor",
        "stand_in_ms_per_job": executor.seconds_per_job * 1e3,
        "frames_per_job": FRAMES_PER_JOB,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "jobs_total": summary["jobs_total"],
        "jobs_validated": validated,
        "jobs_failed": summary["jobs"]["failed"],
        "lost_jobs": summary["jobs_total"] - validated,
        "validated_jobs_per_s": validated / run["duration_s"] if run["duration_s"] > 0 else 0.0,
        "duration_s": run["duration_s"],
        "end": run["end"],
        "lease_latency_ms": _percentiles_ms(rec.lease_latency_s),
        "submit_latency_ms": _percentiles_ms(rec.submit_latency_s),
        "reissues": summary["reissues"],
        "double_credited": checks["double_credited"],
        "wrong_accepted": checks["wrong_accepted"],
        "wrong_validated_jobs": checks["wrong_validated_jobs"],
        "wrong_results_credited": checks["wrong_results_credited"],
        "wrong_results_submitted": len(rec.wrong_digests),
        "results": summary["results"],
        "validated_by_quorum": summary["validated_by_quorum"],
        "credits": checks["credits"],
        "vehicles": summary["vehicles"],
        "malicious_vehicles": run["malicious_vehicles"],
        "churned_vehicles": rec.churned,
        "preemptions": rec.preemptions,
        "rpc_retries": rec.rpc_retries,
        "server_kills": run["server_kills"],
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]},
    }
    if tmp is not None:
        tmp.cleanup()
    return report


def main_json(cfg: SimConfig, json_path: Path | None) -> dict:
    report = simulate(cfg)
    text = json.dumps(report, indent=1)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text + "\n")
    with contextlib.suppress(BrokenPipeError):
        print(text)
    return report

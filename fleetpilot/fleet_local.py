"""A local Fleet service for car runs and benchmarks: the System 2 server (cloud_reasoner.server) with
the Fleet plugin, on loopback, with a temporary state dir and one token per vehicle; plus real job
inputs recorded from the simulator.

    with LocalFleetService(tmp, vehicles=("car",)) as fleet:
        fleet.queue_segment_jobs(record_shards("car_park_and_lend", 0, shards=3, frames=48))
        ... FleetSyncClient(fleet.target, "car", fleet.tokens["car"]) ...

`released_at[lease_id]` is the perf_counter time at which the server committed a lease's release (the
preemption measurement's end point: "the server has seen the cancel"). It is recorded by wrapping
the store's release_many on this instance; nothing else about the store changes.

`separate_process=True` runs the server as `python -m cloud_reasoner.server` in a child process
instead of a thread (benchmarks of the driving loop: the cloud's work must not share the loop's
GIL, as it never would on a car). Then queue jobs first and call serve() (the child starts then;
the job store is the same SQLite file); released_at is not recorded.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np

from cloud_reasoner.fleet.jobs import SEGMENT_STATS, JobSpec, load_shard, make_shard

# A frame of segment_stats costs a few ms at one thread; the estimate caps the credited seconds.
EST_S_PER_FRAME = 0.01


def record_frames(scenario: str, seed: int, frames: int, spacing_m: float = 1.5) -> np.ndarray:
    """Camera frames along the scenario's route (the ego placed every spacing_m, in its lane): the
    recordings a car would upload. (N, H, W, 3) uint8."""
    from sim.engine import Simulation

    out = []
    with Simulation(scenario, seed) as sim:
        s0, s_end = sim.spec.ego_start_s, sim.spec.goal_s
        for i in range(frames):
            s = s0 + (i * spacing_m) % max(s_end - s0, spacing_m)
            sim.teleport_ego(s)
            out.append(sim.render_camera(ground_truth=False).rgb)
    return np.stack(out).astype(np.uint8)


def record_shards(scenario: str, seed: int, shards: int, frames: int) -> list[bytes]:
    rgb = record_frames(scenario, seed, shards * frames)
    return [make_shard(rgb[i * frames : (i + 1) * frames]) for i in range(shards)]


class LocalFleetService:
    def __init__(
        self,
        state_dir: str | Path,
        vehicles: tuple[str, ...] = ("car",),
        *,
        separate_process: bool = False,
        server_niceness: int | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.vehicles = vehicles
        self.separate_process = separate_process
        self.server_niceness = (
            server_niceness  # separate_process: renice the server (it stands for the cloud)
        )
        self.tokens: dict[str, str] = {}
        self.released_at: dict[int, float] = {}
        self._srv = None
        self._proc = None
        self._store = None  # separate_process: our own connection to the server's SQLite file

    @property
    def target(self) -> str:
        return self._proc.target if self._proc is not None else self._srv.target

    @property
    def store(self):
        return self._store if self._store is not None else self._srv.server.context.fleet.store

    def start(self) -> LocalFleetService:
        from cloud_reasoner.config import load_config
        from cloud_reasoner.server import ServerThread
        from cloud_reasoner.vehicle_store import VehicleStore

        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "FLEETPILOT_CLOUD_SERVER_STATE_DIR": str(self.state_dir),
            "FLEETPILOT_CLOUD_SERVER_LISTEN": "127.0.0.1:0",
            "FLEETPILOT_CLOUD_SERVER_SHUTDOWN_GRACE_S": "0",
            "FLEETPILOT_CLOUD_SERVER_LOG_LEVEL": "warning",
            # shards up to the Fleet blob limit (16 MiB) travel in one GetBlob answer
            "FLEETPILOT_CLOUD_SERVER_MAX_MESSAGE_BYTES": str(20 * 1024 * 1024),
        }
        vehicles = VehicleStore(self.state_dir)
        try:
            self.tokens = {name: vehicles.add_vehicle(name) for name in self.vehicles}
        finally:
            vehicles.close()
        if self.separate_process:
            from cloud_reasoner.fleet.store import SqliteFleetStore
            from cloud_reasoner.server import ServerProcess

            self._store = SqliteFleetStore(self.state_dir / "fleet.sqlite")  # creates the schema first
            self._proc = ServerProcess(self.state_dir, env=env)
            return self
        self._srv = ServerThread(load_config(env=env)).start()
        store = self.store
        release_many = store.release_many

        def timed_release_many(vehicle_id, pairs, now_ns):
            released = release_many(vehicle_id, pairs, now_ns)
            t = time.perf_counter()
            for lease_id in released:
                self.released_at.setdefault(lease_id, t)
            return released

        store.release_many = timed_release_many
        return self

    def serve(self) -> LocalFleetService:
        """separate_process: start the server child (after queueing jobs). In-process: already serving."""
        if self._proc is not None and self._proc.proc is None:
            self._proc.start()
            if self.server_niceness is not None:
                os.setpriority(os.PRIO_PROCESS, self._proc.proc.pid, self.server_niceness)
        return self

    def queue_segment_jobs(self, shards: list[bytes], prefix: str = "segment") -> list[str]:
        digests = self.store.put_blobs(shards)
        specs = [JobSpec(f"{prefix}-{i:03d}", SEGMENT_STATS, d, {}) for i, d in enumerate(digests)]
        frames = [len(load_shard(s)[0]) for s in shards]
        self.store.add_jobs([(s, n * EST_S_PER_FRAME) for s, n in zip(specs, frames, strict=True)], 0)
        return [s.job_id for s in specs]

    def jobs(self) -> dict[str, dict]:
        """job_id → state, results received, leases by state and vehicle (for reports)."""
        db = self.store._db
        with self.store._lock:
            jobs = {
                j: {"state": st, "results": n, "leases": []}
                for j, st, n in db.execute("SELECT job_id, state, results_received FROM jobs ORDER BY seq")
            }
            for lease_id, job_id, vehicle, state, cp, outcome in db.execute(
                "SELECT lease_id, job_id, vehicle_id, state, checkpoint_digest, outcome FROM leases"
                " ORDER BY lease_id"
            ):
                jobs[job_id]["leases"].append(
                    {
                        "lease_id": lease_id,
                        "vehicle": vehicle,
                        "state": state,
                        "checkpoint": cp is not None,
                        "outcome": outcome,
                    }
                )
        return jobs

    def summary(self) -> dict:
        return self.store.summary()

    def stop(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.proc is not None:
                proc.terminate()
            self._store.close()
            self._store = None
        if self._srv is None:
            return
        srv, self._srv = self._srv, None
        # the cloud server has no plugin shutdown hook: stop the lease sweeper before its loop stops
        fleet = srv.server.context.fleet
        asyncio.run_coroutine_threadsafe(fleet.stop_sweeper(), srv._loop).result(5)
        srv.stop()
        fleet.store.close()

    def __enter__(self) -> LocalFleetService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

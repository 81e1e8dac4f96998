"""Scenario runs with the fleet agent: a scenario whose registry entry has `fleet` (car_park_and_lend)
runs through that entry's graph (car_sim_fleet), as that entry's vehicle.

`fleetpilot scenario run car_park_and_lend` starts a local Fleet service (System 2 server + Fleet
plugin on loopback, temporary state dir, one token per vehicle), queues segment_stats jobs over
camera frames recorded along the scenario's route, and runs the graph in lockstep with the fleet
agent node (the vehicle the entry names, "car"). While the car is parked the agent leases and runs jobs; the
drive request preempts the running one (stop, checkpoint, release). Afterwards two other vehicles
("elsewhere-1", "elsewhere-2", plain FleetAgents in this process) finish the queue: replicas for the
quorum of the car's results and the preempted job, so results are validated and credited.

The driving part of the JSON is deterministic as usual; the `fleet` section depends on wall time
(how many jobs fit into the parked time at this machine's speed), like wall_time_s.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ELSEWHERE = ("elsewhere-1", "elsewhere-2")
RECORDED_FRAMES = 256
JOBS = 20
# A job runs the model over a window of the recorded frames (a different window per job): about 0.2 s
# of one core, 0.4 s at the owner's max_cpu_share of 0.5. The car is parked for about 6.5 s of the
# scenario (at wall-clock pace: the sim's realtime_while_parked), so it finishes several and is running
# one when the owner asks for the car; the rest, and the replicas for the quorum, are done elsewhere.
FRAMES_PER_JOB = 64


def job_shards(name: str, seed: int, jobs: int = JOBS, frames_per_job: int = FRAMES_PER_JOB) -> list[bytes]:
    import numpy as np

    from cloud_reasoner.fleet.jobs import make_shard
    from fleetpilot.fleet_local import record_frames

    rgb = record_frames(name, seed, RECORDED_FRAMES)
    step = max(1, len(rgb) // jobs)
    return [make_shard(np.roll(rgb, -i * step, axis=0)[:frames_per_job]) for i in range(jobs)]


def agent_overrides(target: str, vehicle_id: str, token_file: Path) -> dict[str, Any]:
    """The fleet agent's parameters for a local run: opted in, plugged in, any hour."""
    return {
        "server": target,
        "vehicle_id": vehicle_id,
        "token_file": str(token_file),
        "owner": f"owner-{vehicle_id}",
        "opted_in": True,
        "only_while_charging": False,
        "min_state_of_charge": 0.2,
        "local_hour": 12.0,
    }


def finish_elsewhere(fleet, timeout_s: float = 120.0) -> dict:
    """Other parked vehicles work through the queue until every job is validated (or timeout)."""
    from cloud_reasoner.fleet.agent import FleetAgent
    from cloud_reasoner.fleet.client import FleetSyncClient
    from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState

    policy = OptInPolicy(opted_in=True, only_while_charging=False, min_state_of_charge=0.2)
    parked = VehicleState(
        parked=True, charging=True, state_of_charge=0.9, temperature_c=25.0, local_hour=12.0
    )
    agents = []
    for name in ELSEWHERE:
        agent = FleetAgent(
            FleetSyncClient(fleet.target, name, fleet.tokens[name]),
            policy,
            f"owner-{name}",
            heartbeat_period_s=60,
        )
        agent.register()
        agent.update_state(parked)
        agents.append(agent)
    t0 = time.monotonic()
    idle_rounds = 0
    try:
        while time.monotonic() - t0 < timeout_s and idle_rounds < 3:
            for agent in agents:
                agent.step()  # submits a finished result, then leases the next job when idle
            # all idle right after trying to lease: nothing is left that these vehicles may do
            idle_rounds = 0 if any(a.busy for a in agents) else idle_rounds + 1
            time.sleep(0.02)
    finally:
        for agent in agents:
            agent.close()
            agent.client.close()
    return {a.client.vehicle_id: {"submitted": a.stats.submitted, "valid": a.stats.valid} for a in agents}


def run_with_fleet(
    name: str,
    seed: int,
    *,
    record: Path | None = None,
    on_finish: Callable[[Any], None] | None = None,
    elsewhere: bool = True,
    jobs: int = JOBS,
    frames_per_job: int = FRAMES_PER_JOB,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> dict:
    from contracts import scenarios
    from fleetpilot.fleet_local import LocalFleetService
    from fleetpilot.graph_runner import run_scenario

    lends = scenarios.get(name).fleet
    if lends is None:
        raise ValueError(f"scenario {name!r} does not park to lend compute: it has no fleet run")
    vehicle = lends.vehicle_id
    with (
        tempfile.TemporaryDirectory(prefix="fleetpilot_fleet_") as tmp,
        # the server in its own process, as the cloud would be: it shares no GIL with the stack
        LocalFleetService(
            Path(tmp) / "state", vehicles=(vehicle, *ELSEWHERE), separate_process=True
        ) as fleet,
    ):
        job_ids = fleet.queue_segment_jobs(
            job_shards(name, seed, jobs, frames_per_job), prefix=f"{name}-{seed}"
        )
        fleet.serve()
        token_file = Path(tmp) / f"{vehicle}.token"
        token_file.write_text(fleet.tokens[vehicle])
        os.chmod(token_file, 0o600)
        seen: dict[str, Any] = {}

        def inspect(nodes: dict[str, Any]) -> None:
            agent = nodes["fleet_agent"]
            seen["drive_request_wall"] = nodes["sim"].drive_request_wall
            seen["preemptions"] = list(agent.runner.preemptions)
            seen["errors"] = list(agent.runner.errors)

        result = run_scenario(
            name,
            seed,
            record=record,
            graph=lends.graph,
            overrides={
                **(overrides or {}),
                "fleet_agent": agent_overrides(fleet.target, vehicle, token_file),
            },
            on_finish=on_finish,
            inspect=inspect,
        )
        parked = _parked_vehicle_report(fleet, vehicle, seen)
        finished = finish_elsewhere(fleet) if elsewhere else {}
        summary = fleet.summary()
        result["fleet"] = {
            "service": "cloud_reasoner.server + Fleet plugin on loopback, temporary state dir",
            "jobs": job_ids,
            "jobs_total": summary["jobs_total"],
            "jobs_validated": summary["jobs"]["validated"],
            vehicle: parked,
            "elsewhere": finished,
            "credits_by_owner": summary["credits_by_owner"],
            "double_credited": summary["double_credited"],
            "leases": fleet.jobs(),
        }
    return result


def _parked_vehicle_report(fleet, vehicle: str, seen: dict) -> dict:
    """What the scenario vehicle's agent did, from the server's records (the agent's own view is in its
    diagnostics): results submitted while parked, and the lease the drive request preempted."""
    jobs = fleet.jobs()
    submitted = [
        j
        for j, d in jobs.items()
        if any(x["vehicle"] == vehicle and x["state"] == "submitted" for x in d["leases"])
    ]
    request = seen.get("drive_request_wall")
    preempted = []
    for p in seen.get("preemptions", []):
        preempted.append(
            {
                "lease_id": p.lease_id,
                # drive request published by the sim → the agent's release RPC returned (the server
                # had committed the release); both CLOCK_MONOTONIC, comparable across processes
                "release_after_request_ms": None
                if request is None
                else round((p.released_at - request) * 1e3, 2),
                "release_after_agent_got_request_ms": round(p.latency_s * 1e3, 2),
            }
        )
    return {
        "jobs_submitted": submitted,
        "leases": sum(1 for d in jobs.values() for x in d["leases"] if x["vehicle"] == vehicle),
        "preempted": preempted,
        "agent_errors": seen.get("errors", []),
    }

"""`fleetpilot bench loop --background-job`: the driving loop's latency with and without a fleet job
running in the background, interleaved A/B/A/B… in one run (same process, same graph, same minute
of machine load), so the comparison is not skewed by what else the machine did at another time.

The job is what the fleet agent runs on a parked car: segment_stats (the perception model over a
shard of recorded frames) in a spawned process at nice 10 with one onnxruntime thread, leased from
a local Fleet service (System 2 server + Fleet plugin on loopback) through FleetAgent/AgentRunner.
The bench car drives (car_lane_follow), which a real agent would never compute during; the agent is
told "parked" in the B blocks and "driving" in the A blocks, so the question answered is the one
that matters: does a job process in the background starve the loop (sentry/parked stack, or a
preemption that comes late)?

A B block counts frames only once its job process computes (its first checkpoint arrived: process
start and model load are excluded, they would count against the job only once per job); an A
block only once the previous job has been preempted.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

WITH_JOB, WITHOUT_JOB = "with_job", "without_job"
SHARD_FRAMES = 200
JOBS = 400  # far more than a run consumes: the agent always finds the next job


class PhaseSwitch:
    """phase(measured frames) for bench_loop: blocks of block_frames, A (no job) first."""

    def __init__(self, runner, block_frames: int) -> None:
        from cloud_reasoner.fleet.policy import VehicleState

        self.runner, self.block_frames = runner, block_frames
        self.driving = VehicleState(
            parked=False, charging=True, state_of_charge=0.9, temperature_c=25.0, local_hour=12.0
        )
        self.parked = VehicleState(
            parked=True, charging=True, state_of_charge=0.9, temperature_c=25.0, local_hour=12.0
        )
        self.job_on: bool | None = None
        self.counting = False
        self.blocks: list[dict] = []

    def __call__(self, measured: int) -> str | None:
        want = (measured // self.block_frames) % 2 == 1
        agent = self.runner.agent
        if want != self.job_on:
            self.job_on, self.counting = want, False
            self.runner.set_state(self.parked if want else self.driving)
            self.blocks.append({"job": want, "from_frame": measured, "counted_from": None})
        if not self.counting:
            # read-only looks at the agent thread's fields (atomic reference reads)
            ready = (agent.busy and agent.last_checkpoint is not None) if want else not agent.busy
            if ready:
                self.counting = True
                self.blocks[-1]["counted_from"] = measured
        if not self.counting:
            return None
        return WITH_JOB if want else WITHOUT_JOB


def bench_loop_background_job(
    frames: int, *, block_frames: int, scenario: str = "car_lane_follow", seed: int = 0
) -> dict:
    from cloud_reasoner.fleet.agent import FleetAgent
    from cloud_reasoner.fleet.agent_runner import AgentRunner
    from cloud_reasoner.fleet.client import FleetSyncClient
    from cloud_reasoner.fleet.policy import OptInPolicy
    from fleetpilot.fleet_local import LocalFleetService, record_shards
    from fleetpilot.graph_runner import bench_loop

    if frames < 4 * block_frames:
        raise ValueError(f"--frames must be at least 4 × --phase-frames (A/B/A/B), got {frames}")
    with (
        tempfile.TemporaryDirectory(prefix="fleetpilot_benchjob_") as tmp,
        LocalFleetService(Path(tmp) / "state", vehicles=("bench-car",)) as fleet,
    ):
        shards = record_shards(scenario, seed, 2, SHARD_FRAMES)
        fleet.queue_segment_jobs([shards[i % len(shards)] for i in range(JOBS)], prefix="bench")
        client = FleetSyncClient(fleet.target, "bench-car", fleet.tokens["bench-car"])
        policy = OptInPolicy(opted_in=True, only_while_charging=False, min_state_of_charge=0.2)
        agent = FleetAgent(client, policy, "owner-bench", niceness=10, threads=1, heartbeat_period_s=60)
        runner = AgentRunner(agent).start()
        switch = PhaseSwitch(runner, block_frames)
        try:
            result = bench_loop(frames, scenario=scenario, seed=seed, phase=switch)
        finally:
            t0 = time.perf_counter()
            runner.stop()
            client.close()
            stop_s = time.perf_counter() - t0
        phases = result.get("phases", {})
        a = phases.get(WITHOUT_JOB, {}).get("e2e_ms", {})
        b = phases.get(WITH_JOB, {}).get("e2e_ms", {})
        ratio = {k: b[k] / a[k] for k in ("p50", "p99") if a.get(k) and b.get(k)}
        result["background_job"] = {
            "job": f"segment_stats over {SHARD_FRAMES} recorded frames, nice 10, 1 onnxruntime thread",
            "block_frames": block_frames,
            "blocks": switch.blocks,
            "ratio_with_to_without": ratio,
            "within_20_percent_p99": bool(ratio.get("p99", float("inf")) <= 1.2),
            "jobs_submitted": agent.stats.submitted,
            "preemptions": agent.stats.preemptions,
            "preempt_ms": [round(x * 1e3, 2) for x in agent.stats.preempt_latency_s],
            "agent_errors": runner.errors + agent.stats.errors,
            "agent_stop_s": round(stop_s, 3),
        }
    return result

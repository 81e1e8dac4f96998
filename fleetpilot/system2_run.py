"""Scenario runs with System 2: the embedded loopback service they start.

`fleetpilot scenario run car_stalled_vehicle --seed N` starts a real Reasoner server on 127.0.0.1 (temp
state dir, one vehicle token), runs the `car_sim_system2` graph (car_sim plus the reasoner bridge) with
the bridge pointed at it, and stops the server afterwards; `humanoid_task` likewise runs
`humanoid_sim_system2` with a token for the vehicle id "humanoid" (each registry entry's `cloud`,
contracts/scenarios.py). `--no-cloud` runs the plain graph (the planner still asks; nobody answers);
`--cloud-fault F` injects fault F (cloud_reasoner.vehicle_bridge).

Lockstep determinism with a cloud in the loop: the planning node defers the frame after a query until the
bridge's reply (advice or failure) arrives, at most `LOCKSTEP_WAIT_S` wall seconds (then it goes on
without it). Sim time does not advance meanwhile, so the advice always lands on the frame after the query,
in every run of a seed. That holds while the outcome of a call does not depend on wall time: a healthy
local service answers in milliseconds, 'down'/'error'/'slow' (5 s > the 2 s deadline) always fail. Live
runs (and `fleetpilot bench loop`) set no wait: advice is used on whichever frame it arrives.
"""

from __future__ import annotations

from contextlib import contextmanager

DEADLINE_S = 2.0
LOCKSTEP_WAIT_S = DEADLINE_S + 1.0


@contextmanager
def cloud_overrides(fault: str | None, *, lockstep: bool = True, vehicle_id: str = "car"):
    """Start the embedded service; yield the graph overrides for the bridge and planning nodes."""
    from cloud_reasoner.vehicle_bridge import EmbeddedCloud

    cloud = EmbeddedCloud(fault, vehicle_id=vehicle_id).start()
    try:
        yield {
            "reasoner_bridge": {
                "target": cloud.target,
                "token": cloud.token,
                "vehicle_id": cloud.vehicle_id,
                "deadline_s": DEADLINE_S,
            },
            "planning": {"system2_wait_s": LOCKSTEP_WAIT_S if lockstep else 0.0},
        }
    finally:
        cloud.stop()


def bench_loop_ab(
    frames: int, *, scenario: str = "car_stalled_vehicle", seed: int = 0, rounds: int = 2, fault: str = "slow"
) -> dict:
    """Acceptance 5: the loop's end-to-end latency without the bridge (A: the scenario's graph, car_sim
    for the car) and with it (B: its System 2 graph from the registry, car_sim_system2 for the car, the
    embedded cloud with `fault`, no lockstep wait: the loop never waits on System 2),
    interleaved A/B/A/B in one process so machine load affects both alike. The scenario should make the
    planner ask (car_stalled_vehicle: stuck from ~10 s, a query every 2 s; use >= 400 frames)."""
    from contracts import scenarios
    from fleetpilot.graph_runner import bench_loop

    entry = scenarios.get(scenario)
    if entry.cloud is None:
        raise ValueError(f"scenario {scenario!r} does not ask System 2")
    runs: dict[str, list[dict]] = {"without_bridge": [], "with_bridge": []}
    for _ in range(rounds):
        runs["without_bridge"].append(bench_loop(frames, scenario=scenario, seed=seed, graph=entry.graph))
        with cloud_overrides(fault, lockstep=False, vehicle_id=entry.cloud.vehicle_id) as overrides:
            runs["with_bridge"].append(
                bench_loop(frames, scenario=scenario, seed=seed, graph=entry.cloud.graph, overrides=overrides)
            )
    p99 = {k: max(r["e2e_ms"]["p99"] for r in v) for k, v in runs.items()}
    p99_median = {k: sorted(r["e2e_ms"]["p99"] for r in v)[len(v) // 2] for k, v in runs.items()}
    return {
        "scenario": scenario,
        "seed": seed,
        "frames": frames,
        "rounds": rounds,
        "cloud_fault": fault,
        "runs": runs,
        "e2e_p99_ms_worst": p99,
        "e2e_p99_ratio_worst": p99["with_bridge"] / p99["without_bridge"],
        "e2e_p99_ms_median": p99_median,
        "e2e_p99_ratio_median": p99_median["with_bridge"] / p99_median["without_bridge"],
        "cloud_requests": sum(r.get("cloud_requests", 0) for r in runs["with_bridge"]),
        "cloud_failures": sum(r.get("cloud_failures", 0) for r in runs["with_bridge"]),
    }

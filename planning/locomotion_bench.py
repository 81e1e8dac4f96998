"""Humanoid locomotion benchmark: ONNX inference latency, policy steps per second (physics + observation
+ inference), walking speed and falls while following ground-truth targets 5–10 m away on flat ground.

    python -m planning.locomotion_bench [--seeds 0:3] [--steps 3000] [--json out.json]
    python -m planning.locomotion_bench --yard 0:5     # ground-truth goal following in the yards

run() returns a JSON-able dict for `fleetpilot bench loop --robot humanoid`. Timings are wall-clock on
whatever else the machine is doing; the walking numbers are deterministic per seed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from planning.locomotion import OBS_DIM, LocomotionController, LocomotionPolicy

CONTROL_PERIOD_S = 0.0165


def _percentiles(ms: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    if a.size == 0:
        return {"p50": math.nan, "p99": math.nan, "mean": math.nan}
    return {
        "p50": round(float(np.percentile(a, 50)), 4),
        "p99": round(float(np.percentile(a, 99)), 4),
        "mean": round(float(a.mean()), 4),
    }


def inference_latency(policy: LocomotionPolicy, n: int = 5000, warmup: int = 500, seed: int = 0) -> dict:
    """act() on single observation-like vectors, as the locomotion node calls it."""
    obs = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n + warmup, OBS_DIM)).astype(np.float32)
    times = np.empty(n)
    for i in range(warmup):
        policy.act(obs[i])
    for i in range(n):
        t0 = time.perf_counter()
        policy.act(obs[warmup + i])
        times[i] = time.perf_counter() - t0
    return _percentiles(times * 1e3)


def walk_seed(seed: int, steps: int, policy: LocomotionPolicy, min_dist: float, max_dist: float) -> dict:
    from sim.humanoid_walk import FlatGround, follow_targets, random_targets

    rng = np.random.default_rng(seed)
    yaw = float(rng.uniform(-math.pi, math.pi))
    with FlatGround(seed, yaw=yaw) as world:
        log = follow_targets(
            world.body,
            LocomotionController(policy),
            random_targets(rng, min_dist, max_dist),
            steps,
            timing=True,
        )
    sim_s = log.steps * CONTROL_PERIOD_S
    return {
        "seed": seed,
        "steps": log.steps,
        "targets_reached": log.targets_reached,
        "falls": log.falls,
        "recoveries": log.recoveries,
        "min_torso_z": round(log.min_torso_z, 4),
        "distance_m": round(log.distance, 3),
        "speed_mps": round(log.distance / sim_s, 3),
        "steps_per_s": round(log.steps / log.wall_s, 1),
        "physics_ms": _percentiles(log.physics_ms),
        "policy_step_ms": _percentiles(log.policy_ms),
    }


def run(
    seeds=(0, 1, 2),
    steps: int = 3000,
    *,
    model_path=None,
    threads: int = 1,
    inference_calls: int = 5000,
    min_dist: float = 5.0,
    max_dist: float = 10.0,
) -> dict:
    policy = LocomotionPolicy(model_path, threads=threads)
    latency = inference_latency(policy, inference_calls)
    runs = [walk_seed(int(s), steps, policy, min_dist, max_dist) for s in seeds]
    total_steps = sum(r["steps"] for r in runs)
    return {
        "locomotion_ms": latency,
        "policy_steps_per_s": round(float(np.median([r["steps_per_s"] for r in runs])), 1),
        "speed_mps": round(sum(r["distance_m"] for r in runs) / (total_steps * CONTROL_PERIOD_S), 3),
        "targets_reached": sum(r["targets_reached"] for r in runs),
        "falls": sum(r["falls"] for r in runs),
        "recoveries": sum(r["recoveries"] for r in runs),
        "steps": total_steps,
        "target_distance_m": [min_dist, max_dist],
        "threads": threads,
        "runs": runs,
    }


def yard_goals(seeds, *, model_path=None) -> dict:
    """Each yard's goal chain walked with the goals as ground-truth targets (sim.humanoid_world)."""
    from sim.humanoid_world import run_goals

    policy = LocomotionPolicy(model_path)
    runs = [run_goals(int(s), LocomotionController(policy)) for s in seeds]
    return {
        "yards": len(runs),
        "succeeded": sum(r["success"] for r in runs),
        "goals_reached": sum(r["goals_reached"] for r in runs),
        "goals_total": sum(r["goals_total"] for r in runs),
        "falls": sum(r["falls"] for r in runs),
        "obstacle_contacts": sum(r["obstacle_contacts"] for r in runs),
        "runs": runs,
    }


def _seed_range(text: str) -> list[int]:
    if ":" in text:
        a, b = (int(v) for v in text.split(":"))
        return list(range(a, b))
    return [int(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="humanoid locomotion benchmark")
    ap.add_argument("--seeds", default="0:3", help="A:B (range) or a,b,c")
    ap.add_argument("--steps", type=int, default=3000, help="policy steps per seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--yard", default=None, help="A:B or a,b: walk these yards' goals instead")
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args(argv)
    if args.yard is not None:
        res = yard_goals(_seed_range(args.yard))
    else:
        res = run(_seed_range(args.seeds), args.steps, threads=args.threads)
    text = json.dumps(res, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

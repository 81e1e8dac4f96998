"""`fleetpilot bench loop --shadow-ab`: the control loop's end-to-end latency without and with a shadow
model in the perception node (issue 20, acceptance 6: at most 10 % more p99), A/B/A/B in one process so
that machine load weighs on both alike; the keys are those of the other A/B benches."""

from __future__ import annotations

from pathlib import Path


def bench_loop_shadow_ab(
    frames: int, *, scenario: str, seed: int = 0, rounds: int = 2, shadow_model: Path | None = None
) -> dict:
    from contracts import scenarios
    from fleetpilot.graph_runner import bench_loop
    from perception.inference import DEFAULT_MODEL_PATH

    entry = scenarios.get(scenario)
    shadow = Path(shadow_model or DEFAULT_MODEL_PATH)
    with_shadow = {"perception": {"shadow_model_path": str(shadow)}}
    runs: dict[str, list[dict]] = {"without_shadow": [], "with_shadow": []}
    for _ in range(rounds):
        runs["without_shadow"].append(bench_loop(frames, scenario=scenario, seed=seed, graph=entry.graph))
        runs["with_shadow"].append(
            bench_loop(frames, scenario=scenario, seed=seed, graph=entry.graph, overrides=with_shadow)
        )
    p99 = {k: max(r["e2e_ms"]["p99"] for r in v) for k, v in runs.items()}
    p99_median = {k: sorted(r["e2e_ms"]["p99"] for r in v)[len(v) // 2] for k, v in runs.items()}
    shadow_seen = [r.get("shadow_frames", 0) for r in runs["with_shadow"]]
    return {
        "scenario": scenario,
        "seed": seed,
        "frames": frames,
        "rounds": rounds,
        "shadow_model": str(shadow),
        "runs": runs,
        "e2e_p99_ms_worst": p99,
        "e2e_p99_ratio_worst": p99["with_shadow"] / p99["without_shadow"],
        "e2e_p99_ms_median": p99_median,
        "e2e_p99_ratio_median": p99_median["with_shadow"] / p99_median["without_shadow"],
        "shadow_frames": sum(shadow_seen),
        "shadow_frames_dropped": sum(r.get("shadow_frames_dropped", 0) for r in runs["with_shadow"]),
    }

"""Run scenarios over a seed range, each run in a fresh process, and summarise.

With --repeat 2 every (scenario, seed) runs twice and the JSON (wall time aside) must match: that is
the determinism check of the acceptance criteria.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

# Figures that depend on the machine, not on the scenario outcome.
# fleet: how many jobs fit the parked time; system2_frames_waited: whether a frame had to wait for the
# cloud reply depends on wall-clock order
WALL_CLOCK_KEYS = ("wall_time_s", "startup_retries", "fleet", "system2_frames_waited")


def _run_one(name: str, seed: int, direct: bool) -> dict:
    from fleetpilot.scenario_run import run_scenario

    return run_scenario(name, seed, direct=direct)


def comparable(result: dict) -> str:
    """The result as canonical JSON without wall-clock figures, for determinism checks."""
    return json.dumps({k: v for k, v in result.items() if k not in WALL_CLOCK_KEYS}, sort_keys=True)


def sweep(
    names: list[str] | None, seeds: range, *, repeat: int = 1, direct: bool = False, jobs: int = 2
) -> dict:
    from sim.scenarios import SCENARIO_NAMES

    names = list(names or [n for n in SCENARIO_NAMES if n.startswith("car_")])
    tasks = [(n, s, r) for n in names for s in seeds for r in range(max(1, repeat))]
    results: dict[tuple[str, int], list[dict]] = {}
    # One process per run: every run gets a fresh rclpy context, DDS domain and PyBullet client.
    with ProcessPoolExecutor(max_workers=max(1, jobs), max_tasks_per_child=1) as pool:
        futures = {pool.submit(_run_one, n, s, direct): (n, s) for n, s, _ in tasks}
        for done, future in enumerate(as_completed(futures), 1):
            key = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a crash is a failed run, reported, never hidden
                result = {"scenario": key[0], "seed": key[1], "success": False, "error": repr(exc)}
            results.setdefault(key, []).append(result)
            print(
                f"[{done}/{len(tasks)}] {key[0]} seed {key[1]}: "
                f"{'ok' if result.get('success') else 'FAIL'} collisions={result.get('collisions')} "
                f"red={result.get('red_light_violations')}",
                file=sys.stderr,
            )

    per_scenario: dict[str, dict] = {}
    for name in names:
        runs = [results[(name, s)] for s in seeds]
        failures = [s for s, r in zip(seeds, runs, strict=True) if not all(x.get("success") for x in r)]
        nondeterministic = [
            s for s, r in zip(seeds, runs, strict=True) if len({comparable(x) for x in r}) > 1
        ]
        per_scenario[name] = {
            "runs": len(runs),
            "successes": len(runs) - len(failures),
            "failed_seeds": failures,
            "collisions": sum(x.get("collisions", 0) or 0 for r in runs for x in r),
            "red_light_violations": sum(x.get("red_light_violations", 0) or 0 for r in runs for x in r),
            "nondeterministic_seeds": nondeterministic,
        }
    return {
        "seeds": [seeds.start, seeds.stop],
        "repeat": repeat,
        "direct": direct,
        "scenarios": per_scenario,
        "all_passed": all(
            v["successes"] == v["runs"] and not v["nondeterministic_seeds"] and v["collisions"] == 0
            for v in per_scenario.values()
        ),
        "results": {f"{n}:{s}": results[(n, s)][0] for n in names for s in seeds},
    }

"""`fleetpilot demo` / `make demo`: the car scenarios headless through the ROS 2 graph, one run folder."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path


def run_demo(*, out_root: Path = Path("runs"), seed: int = 0, direct: bool = False) -> int:
    from contracts import scenarios
    from fleetpilot.scenario_run import run_scenario

    run_dir = out_root / f"demo-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    run_dir.mkdir(parents=True, exist_ok=False)
    summary = {}
    for name in scenarios.names("car"):
        folder = run_dir / name
        folder.mkdir()
        print(f"running {name} seed {seed} ...", file=sys.stderr, flush=True)
        result = run_scenario(
            name,
            seed,
            record=None if direct else folder / "run.mcap",
            plot=folder / "plot.png",
            direct=direct,
        )
        (folder / "metrics.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        summary[name] = {
            k: result.get(k)
            for k in (
                "success",
                "collisions",
                "red_light_violations",
                "route_completion",
                "sim_time_s",
                "wall_time_s",
            )
        }
        print(
            f"  {'success' if result.get('success') else 'FAILED'}: collisions {result.get('collisions')}, "
            f"red-light violations {result.get('red_light_violations')}, "
            f"route {result.get('route_completion', 0):.2f}, sim {result.get('sim_time_s', 0):.1f} s "
            f"in {result.get('wall_time_s', 0):.1f} s wall",
            file=sys.stderr,
            flush=True,
        )
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(f"demo run folder: {run_dir.resolve()} (metrics.json, run.mcap, plot.png per scenario)")
    return 0

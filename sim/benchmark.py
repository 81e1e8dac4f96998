"""Per-frame cost of the sim: `python -m sim.benchmark [--frames N] [--ground-truth]`.

Drives every scenario along its route (pure pursuit at a fixed speed, hazards ignored — this measures
cost, not driving) and prints p50/p90 wall and CPU render time per camera frame and physics time per
camera frame (3 control periods x 4 substeps, actors, collision checks and metrics).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from contracts.messages import DriveCommand
from sim.engine import Simulation
from sim.scenarios import SCENARIO_NAMES


def follow_route(sim: Simulation, stamp_ns: int, speed: float) -> DriveCommand:
    e = sim.ego
    s, _ = sim.spec.route.project(e.x, e.y)
    tx, ty = sim.spec.route.offset_point(s + 8.0, 0.0)
    alpha = math.atan2(ty - e.y, tx - e.x) - e.yaw
    return DriveCommand(stamp_ns, speed, max(e.v, 0.5) * 2.0 * math.sin(alpha) / 8.0)


def benchmark(frames: int, ground_truth: bool, seed: int = 0) -> dict[str, dict[str, float]]:
    out = {}
    for name in SCENARIO_NAMES:
        with Simulation(name, seed, render_ground_truth=ground_truth, time_limit_s=1e6) as sim:
            batch = sim.advance(None)
            for _ in range(frames):
                batch = sim.advance(follow_route(sim, batch.clock_ns, 6.0))
            out[name] = {
                f"{key}_{q}": float(np.percentile(sim.timings[key][1:], q))
                for key in ("render", "render_cpu", "physics")
                for q in (50, 90)
            }
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--ground-truth", action="store_true", help="also fill tags and depth (dataset mode)")
    args = ap.parse_args(argv)
    res = benchmark(args.frames, args.ground_truth)
    print(
        f"{'scenario':26s} {'render p50/p90 ms':>18s} {'render CPU p50/p90':>19s} {'physics p50/p90 ms':>19s}"
    )
    for name, r in res.items():
        print(
            f"{name:26s} {r['render_50']:8.2f}/{r['render_90']:<8.2f} {r['render_cpu_50']:9.2f}/"
            f"{r['render_cpu_90']:<8.2f} {r['physics_50']:9.2f}/{r['physics_90']:<8.2f}"
        )


if __name__ == "__main__":
    main()

"""The one command-line entry point: `fleetpilot`.

Sub-commands import their implementation lazily so that `fleetpilot scenario list` stays instant and a
machine without the ROS 2 wheels still gets clear messages from everything that does not need them.

Exit codes: 0 when the command ran (a scenario that did not succeed still exits 0: its JSON says so),
2 for usage errors, 1 for internal errors (with a one-line message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from contracts import scenarios
from contracts.atomic_file import atomic_write_text
from contracts.errors import ModelFileError
from fleetpilot import trajectory_baseline
from fleetpilot.cli_checks import (
    UsageError,
    check_output_paths,
    check_perception_model,
    parse_seed_range,
    seed,
)


def write_json(data: dict, path: Path | None) -> None:
    text = json.dumps(data, indent=2, sort_keys=True)
    if path is None:
        print(text)
        return
    atomic_write_text(path, text + "\n")
    print(f"wrote {path}", file=sys.stderr)


def _check_scenario(name: str) -> scenarios.Scenario:
    try:
        return scenarios.get(name)
    except scenarios.UnknownScenario:
        raise UsageError(f"unknown scenario {name!r}; valid: {', '.join(scenarios.names())}") from None


# --- scenario -------------------------------------------------------------------------------------


def cmd_scenario_list(args: argparse.Namespace) -> int:
    for entry in scenarios.SCENARIOS.values():
        print(f"{entry.name:28s} {entry.description}")
    return 0


def cmd_scenario_run(args: argparse.Namespace) -> int:
    entry = _check_scenario(args.name)
    if args.no_cloud and args.cloud_fault:
        raise UsageError("--cloud-fault needs the cloud: drop --no-cloud")
    if args.direct and not entry.direct:
        raise UsageError(f"{args.name}: {entry.direct_refusal}")
    if args.record is not None and args.direct:
        raise UsageError("--record writes the run's ROS 2 messages; a --direct run has none (drop --direct)")
    if args.record is not None and not entry.records:
        raise UsageError(
            f"--record writes one robot's namespace; {args.name} has several (not supported yet)"
        )
    check_perception_model(args.model)
    from fleetpilot.scenario_run import run_scenario

    result = run_scenario(
        args.name,
        args.seed,
        record=args.record,
        plot=args.plot,
        direct=args.direct,
        no_cloud=args.no_cloud,
        cloud_fault=args.cloud_fault,
        model=args.model,
    )
    write_json(result, args.json)
    if args.json is not None:
        verdict = "success" if result.get("success") else "FAILED"
        print(
            f"{args.name} seed {args.seed}: {verdict} (collisions {result.get('collisions')}, "
            f"red-light violations {result.get('red_light_violations')}, "
            f"route {result.get('route_completion', 0.0):.2f})",
            file=sys.stderr,
        )
    if result.get("timed_out"):
        # The graph stopped answering: an internal error, not a scenario outcome.
        print("fleetpilot: error: the ROS 2 graph stalled (no answer to a camera frame)", file=sys.stderr)
        return 1
    return 0


def cmd_scenario_sweep(args: argparse.Namespace) -> int:
    from fleetpilot.sweep import sweep

    names = args.scenarios.split(",") if args.scenarios else None
    for name in names or []:
        _check_scenario(name)
    if args.no_cloud and args.cloud_fault:
        raise UsageError("--cloud-fault needs the cloud: drop --no-cloud")
    baseline = None
    if args.baseline is not None:
        if not args.baseline.exists():
            raise UsageError(f"no baseline at {args.baseline} (write one with --record-baseline)")
        try:
            baseline = trajectory_baseline.load(args.baseline)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    seeds = parse_seed_range(args.seeds)
    check_perception_model(args.model)
    report = sweep(
        names,
        seeds,
        repeat=args.repeat,
        direct=args.direct,
        jobs=args.jobs,
        no_cloud=args.no_cloud,
        cloud_fault=args.cloud_fault,
        model=args.model,
    )
    status = 0
    if baseline is not None:
        check = trajectory_baseline.compare(baseline, report["results"], direct=args.direct)
        report["baseline"] = check
        if check["mismatches"] or check["not_in_baseline"]:
            report["all_passed"] = False
            status = 1
            print(
                f"fleetpilot: {len(check['mismatches'])} run(s) drove differently from {args.baseline}, "
                f"{len(check['not_in_baseline'])} not in it",
                file=sys.stderr,
            )
    if args.record_baseline is not None:
        n = trajectory_baseline.record(args.record_baseline, report["results"], direct=args.direct)
        print(f"recorded {n} trajectory digests in {args.record_baseline}", file=sys.stderr)
    write_json(report, args.json)
    return status


# --- perception -----------------------------------------------------------------------------------


def cmd_eval_perception(args: argparse.Namespace) -> int:
    from perception.evaluate import evaluate

    seeds = parse_seed_range(args.seeds)
    check_perception_model(args.model)
    result = evaluate(list(seeds), model_path=args.model, threads=args.threads, profile=args.profile)
    write_json(result, args.json)
    return 0


def cmd_train_perception(args: argparse.Namespace, rest: list[str]) -> int:
    from perception.train import main as train_main

    return int(train_main(rest))


# --- bench, launch, demo --------------------------------------------------------------------------


def cmd_bench_loop(args: argparse.Namespace) -> int:
    from fleetpilot.graph_runner import bench_loop

    if args.frames < 10:
        raise UsageError("--frames must be at least 10")
    check_perception_model()
    if sum(map(bool, (args.background_job, args.system2_ab, args.shadow_ab))) > 1:
        raise UsageError("--background-job, --system2-ab and --shadow-ab are separate benchmarks: pick one")
    if args.shadow_model is not None and not args.shadow_ab:
        raise UsageError("--shadow-model belongs to --shadow-ab")
    if args.shadow_ab:
        check_perception_model(args.shadow_model)
    # the scenario: the one named, else the robot's first in the registry (System 2: its first that asks
    # the cloud); the graph and whether the stack can lend compute or ask the cloud are the registry's
    mine = [scenarios.get(n) for n in scenarios.names(args.robot)]
    if args.system2_ab:
        mine = [s for s in mine if s.cloud is not None]
    if not mine:
        raise UsageError(f"--system2-ab: no {args.robot} scenario asks System 2")
    entry = _check_scenario(args.scenario or mine[0].name)
    if entry.embodiment != args.robot:
        raise UsageError(f"--robot {args.robot} needs a {args.robot} scenario, got {entry.name!r}")
    if args.system2_ab and entry.cloud is None:
        raise UsageError(f"--system2-ab: scenario {entry.name!r} does not ask System 2")
    if args.background_job and not scenarios.lends_compute(args.robot):
        raise UsageError(f"--background-job: the {args.robot} does not lend compute to the fleet")
    if args.background_job:
        from fleetpilot.bench_fleet import bench_loop_background_job

        rounds = 1 if args.rounds is None else args.rounds
        if args.frames < 4 * args.phase_frames or args.phase_frames < 10 or rounds < 1:
            raise UsageError(
                "--background-job needs --phase-frames >= 10, --frames >= 4 × --phase-frames, --rounds >= 1"
            )
        result = bench_loop_background_job(
            args.frames,
            block_frames=args.phase_frames,
            scenario=entry.name,
            seed=args.seed,
            sched_idle=args.sched_idle,
            rounds=rounds,
        )
    elif args.system2_ab:
        from fleetpilot.system2_run import bench_loop_ab

        result = bench_loop_ab(
            args.frames, scenario=entry.name, seed=args.seed, rounds=_ab_rounds(args), fault=args.cloud_fault
        )
    elif args.shadow_ab:
        from fleetpilot.bench_shadow import bench_loop_shadow_ab

        result = bench_loop_shadow_ab(
            args.frames,
            scenario=entry.name,
            seed=args.seed,
            rounds=_ab_rounds(args),
            shadow_model=args.shadow_model,
        )
    else:
        result = bench_loop(args.frames, scenario=entry.name, seed=args.seed, graph=entry.graph)
    write_json(result, args.json)
    return 0


def _ab_rounds(args: argparse.Namespace, default: int = 2) -> int:
    """A/B benches: how many A/B pairs (--rounds)."""
    rounds = default if args.rounds is None else args.rounds
    if rounds < 1:
        raise UsageError("--rounds must be at least 1")
    return rounds


def cmd_bench_preempt(args: argparse.Namespace) -> int:
    from fleetpilot.bench_fleet import bench_preempt

    if args.repeats < 1:
        raise UsageError("--repeats must be at least 1")
    write_json(bench_preempt(args.repeats), args.json)
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from fleetpilot_bringup.graphs import GraphError, get_graph

    from fleetpilot.launcher import launch

    try:
        get_graph(args.graph)
    except GraphError as exc:
        raise UsageError(str(exc)) from None
    check_perception_model()
    return int(launch(args.graph, keep_running=args.keep_running))


def cmd_demo(args: argparse.Namespace) -> int:
    from fleetpilot.demo import run_demo

    check_perception_model()
    return int(run_demo(out_root=args.out, seed=args.seed, direct=args.direct))


# --- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetpilot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    scenario = sub.add_parser("scenario", help="list and run simulation scenarios").add_subparsers(
        dest="action", required=True
    )
    scenario.add_parser("list", help="list scenario names").set_defaults(func=cmd_scenario_list)
    run = scenario.add_parser("run", help="run one scenario headless in lockstep through the ROS 2 graph")
    run.add_argument("name")
    run.add_argument("--seed", type=seed, required=True, help="0 … 2^32 − 1")
    run.add_argument("--json", type=Path, help="write metrics JSON here (default: stdout)")
    run.add_argument("--record", type=Path, help="write the run's ROS 2 messages as MCAP")
    run.add_argument("--plot", type=Path, help="draw map, route, driven path and events as PNG")
    run.add_argument(
        "--direct",
        action="store_true",
        help="call the core packages in-process without ROS 2 (same stack, no transport)",
    )
    from cloud_reasoner.fault_names import CLOUD_FAULTS

    run.add_argument(
        "--no-cloud", action="store_true", help="System 2 scenarios: do not start the local cloud service"
    )
    run.add_argument(
        "--cloud-fault",
        choices=CLOUD_FAULTS,
        help="System 2 scenarios: inject this fault into the local cloud service (down = no server)",
    )
    run.add_argument("--model", type=Path, help="perception model for every robot (default: the shipped one)")
    run.set_defaults(func=cmd_scenario_run)
    sweep_p = scenario.add_parser("sweep", help="run scenarios over a seed range and summarise")
    sweep_p.add_argument("--scenarios", help="comma-separated names (default: all car scenarios)")
    sweep_p.add_argument("--seeds", default="0:20", help="A:B, B exclusive (default 0:20)")
    sweep_p.add_argument("--repeat", type=int, default=1, help="run each seed this often; results must match")
    sweep_p.add_argument("--jobs", type=int, default=2, help="parallel processes")
    sweep_p.add_argument("--direct", action="store_true", help="without ROS 2 (see scenario run --direct)")
    sweep_p.add_argument("--no-cloud", action="store_true", help="System 2 scenarios: no cloud service")
    sweep_p.add_argument(
        "--cloud-fault", choices=CLOUD_FAULTS, help="System 2 scenarios: the embedded service misbehaves"
    )
    sweep_p.add_argument("--json", type=Path)
    sweep_p.add_argument(
        "--model", type=Path, help="perception model for every run (default: the shipped one)"
    )
    sweep_p.add_argument(
        "--baseline",
        type=Path,
        help="compare each run's trajectory_sha256 with this file; exit 1 on a difference "
        "(the refactoring baseline: tests/baselines/trajectory_sha256.json)",
    )
    sweep_p.add_argument(
        "--record-baseline", type=Path, metavar="FILE", help="write the runs' trajectory_sha256 into FILE"
    )
    sweep_p.set_defaults(func=cmd_scenario_sweep)

    evaluate = sub.add_parser("eval", help="evaluate a component").add_subparsers(dest="what", required=True)
    ev = evaluate.add_parser("perception", help="mIoU, per-class IoU and latency on held-out seeds")
    ev.add_argument("--seeds", required=True, help="A:B, B exclusive")
    ev.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    ev.add_argument("--threads", type=int, default=1)
    ev.add_argument(
        "--profile",
        choices=("car", "humanoid", "car_sees_humanoid"),
        default="car",
        help="frames: the car's camera (default), the humanoid's head camera, or the car's with the "
        "humanoid robot in view",
    )
    ev.add_argument("--json", type=Path)
    ev.set_defaults(func=cmd_eval_perception)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    train.add_parser(
        "perception",
        help="generate data and train the segmentation model (options: fleetpilot train perception --help)",
        add_help=False,
    ).set_defaults(func=cmd_train_perception, passthrough=True)

    bench = sub.add_parser("bench", help="benchmarks with JSON output").add_subparsers(
        dest="what", required=True
    )
    loop = bench.add_parser(
        "loop", help="sim → perception → planning → control loop latency and real-time factor"
    )
    loop.add_argument("--frames", type=int, default=400)
    loop.add_argument(
        "--scenario", default=None, help="default: the robot's first scenario in `scenario list`"
    )
    loop.add_argument(
        "--robot", choices=scenarios.bodies(), default="car", help="the body; its scenario names the graph"
    )
    loop.add_argument("--seed", type=seed, default=0)
    loop.add_argument("--json", type=Path)
    loop.add_argument(
        "--background-job",
        action="store_true",
        help="interleave blocks without / with a fleet job running in the background (A/B/A/B…)",
    )
    loop.add_argument("--phase-frames", type=int, default=100, help="frames per A or B block")
    loop.add_argument(
        "--sched-idle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the background job at Linux SCHED_IDLE, as the fleet agent runs it (default); "
        "--no-sched-idle: nice 10 only",
    )
    loop.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="A/B rounds: --background-job on seeds seed, seed+1… (1); --system2-ab, --shadow-ab pairs (2)",
    )
    loop.add_argument(
        "--system2-ab",
        action="store_true",
        help="A/B/A/B: without vs with the System 2 bridge (embedded cloud with --cloud-fault; "
        "scenario default car_stalled_vehicle)",
    )
    from cloud_reasoner.fault_names import CLOUD_FAULTS

    loop.add_argument(
        "--cloud-fault",
        default="slow",
        choices=CLOUD_FAULTS,
        help="--system2-ab: fault of the embedded cloud",
    )
    loop.add_argument(
        "--shadow-ab",
        action="store_true",
        help="A/B/A/B: without vs with a shadow model in perception (--shadow-model; default: shipped)",
    )
    loop.add_argument("--shadow-model", type=Path, help="--shadow-ab: the candidate the shadow runs")
    loop.set_defaults(func=cmd_bench_loop)
    preempt = bench.add_parser(
        "preempt", help="fleet agent node: drive request (fleet/drive_request) → lease released at the server"
    )
    preempt.add_argument("--repeats", type=int, default=20)
    preempt.add_argument("--json", type=Path)
    preempt.set_defaults(func=cmd_bench_preempt)

    # Areas added by later issues register their own sub-commands (one module each, no edits here).
    from fleetpilot import cli_cloud, cli_fleet, cli_ota

    cli_cloud.register(sub, bench)
    cli_fleet.register(sub, bench)
    cli_ota.register(sub, bench)

    launch = sub.add_parser("launch", help="start a graph from the bringup table, one process per node")
    launch.add_argument("graph", help="graph name from fleetpilot_bringup/config/graphs.yaml, e.g. car_sim")
    launch.add_argument(
        "--keep-running",
        action="store_true",
        help="do not end with the scenario: the world goes on until Ctrl-C (live viewing, Foxglove)",
    )
    launch.set_defaults(func=cmd_launch)

    demo = sub.add_parser("demo", help="run the car scenarios headless and write a run folder")
    demo.add_argument("--out", type=Path, default=Path("runs"), help="parent folder of the run folder")
    demo.add_argument("--seed", type=seed, default=0)
    demo.add_argument("--direct", action="store_true", help="without ROS 2")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the command itself, not a call from Python: same seed, same run (sim/heap.py)
        from sim.heap import reexec_with_fixed_heap

        reexec_with_fixed_heap()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `train perception` forwards everything after it to the trainer's own parser.
    if argv[:2] == ["train", "perception"]:
        args, rest = parser.parse_args(argv[:2]), argv[2:]
        return cmd_train_perception(args, rest)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        check_output_paths(args)  # before the run, not after it is lost
        return int(args.func(args))
    except (UsageError, ModelFileError) as exc:  # a model file is the user's to fix, like an argument
        print(f"fleetpilot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fleetpilot: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # internal error: one clear line, the traceback only when asked for
        import os
        import traceback

        if os.environ.get("FLEETPILOT_DEBUG"):
            traceback.print_exc()
        elapsed = time.perf_counter() - started
        print(
            f"fleetpilot: internal error after {elapsed:.1f} s: {type(exc).__name__}: {exc} "
            "(set FLEETPILOT_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    # `python -m fleetpilot.cli`: run the imported module's main, so that the UsageError sub-commands raise
    # (fleetpilot.cli.UsageError) is the class caught here, not a second copy in __main__.
    from fleetpilot.cli import main as _main

    sys.exit(_main())

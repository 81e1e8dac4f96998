"""Run scenarios over a seed range, each run in a fresh process, and summarise.

With --repeat 2 every (scenario, seed) runs twice and the JSON (wall time aside) must match: that is
the determinism check of the acceptance criteria.

With --no-cloud or --cloud-fault (System 2 scenarios) a run passes when the car is safe without the
advice it could not get: 0 collisions and either the goal or a safe stop (JSON `safe_stop`); the runs'
counters of answers dropped as stale or unsafe are summed per scenario.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
from multiprocessing.connection import wait

# Figures that depend on the machine, not on the scenario outcome.
# fleet: how many jobs fit the parked time; system2_frames_waited: whether a frame had to wait for the
# cloud reply depends on wall-clock order
WALL_CLOCK_KEYS = ("wall_time_s", "startup_retries", "fleet", "system2_frames_waited")


DROP_COUNTERS = ("advice_dropped_stale", "advice_rejected_unsafe", "advice_followed", "cloud_failures")


def _run_one(
    name: str, seed: int, direct: bool, no_cloud: bool, cloud_fault: str | None, model: str | None = None
) -> dict:
    from fleetpilot.scenario_run import run_scenario

    return run_scenario(name, seed, direct=direct, no_cloud=no_cloud, cloud_fault=cloud_fault, model=model)


def _child(conn, name: str, seed: int, run_args: tuple) -> None:
    try:
        result = _run_one(name, seed, *run_args)
    except BaseException as exc:  # a crash is a failed run, reported, never hidden
        result = {"scenario": name, "seed": seed, "success": False, "error": repr(exc)}
    conn.send(result)
    conn.close()


def run_each_in_a_process(tasks: list[tuple[str, int, int]], jobs: int, run_args: tuple):
    """Yield ((name, seed), result) for every task, each run in a process of its own, `jobs` at a time.

    A pool would do, but one worker that dies (a segfault in the physics engine, the OOM killer) breaks a
    ProcessPoolExecutor and fails every run still queued in it. Here a dead process fails only its own
    run, with its exit code, and the sweep goes on.
    """
    ctx = mp.get_context()
    queue, running = list(tasks), {}  # sentinel -> (key, process, connection)
    try:
        yield from _run_queue(ctx, queue, running, jobs, run_args)
    finally:  # interrupted (Ctrl-C, an exception in the consumer): no run outlives the sweep
        for _key, proc, conn in running.values():
            if proc.is_alive():
                proc.kill()
            proc.join()
            conn.close()


def _run_queue(ctx, queue: list, running: dict, jobs: int, run_args: tuple):
    while queue or running:
        while queue and len(running) < max(1, jobs):
            name, seed, _ = queue.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            # not a daemon: a run may start processes of its own (the fleet agent's job process), which
            # a daemonic process may not; the finally above stops runs left over instead
            proc = ctx.Process(target=_child, args=(child, name, seed, run_args), daemon=False)
            proc.start()
            child.close()
            running[proc.sentinel] = ((name, seed), proc, parent)
        ready = wait([*running, *(conn for _, _, conn in running.values())])
        for sentinel in [s for s in list(running) if s in ready or running[s][2] in ready]:
            key, proc, conn = running[sentinel]
            # read the result as soon as it is there: a large one fills the pipe and the child would
            # block in send, never ending
            try:
                result = conn.recv() if conn.poll() else None
            except EOFError:  # the child ended without sending: it died
                result = None
                proc.join()
            if result is None and proc.is_alive():
                continue
            del running[sentinel]
            conn.close()
            proc.join()
            if result is None:
                result = {
                    "scenario": key[0],
                    "seed": key[1],
                    "success": False,
                    "error": f"the run's process died (exit code {proc.exitcode})",
                }
            yield key, result


def _passed(result: dict, degraded: bool) -> bool:
    if not degraded:
        return bool(result.get("success"))
    return result.get("collisions") == 0 and bool(result.get("success") or result.get("safe_stop"))


def comparable(result: dict) -> str:
    """The result as canonical JSON without wall-clock figures, for determinism checks."""
    return json.dumps({k: v for k, v in result.items() if k not in WALL_CLOCK_KEYS}, sort_keys=True)


def differing(repeats: list[dict]) -> dict:
    """Where repeats of one run differ (wall clock aside): key -> each run's value; for lists (events)
    the first index that differs and each run's item there, not the whole list."""
    out: dict = {}
    for k in sorted({k for x in repeats for k in x} - set(WALL_CLOCK_KEYS)):
        values = [x.get(k) for x in repeats]
        if len({json.dumps(v, sort_keys=True) for v in values}) == 1:
            continue
        if all(isinstance(v, list) for v in values):
            n = max(map(len, values))
            i = next((i for i in range(n) if len({json.dumps(v[i : i + 1]) for v in values}) > 1), 0)
            out[k] = {"first_index": i, "items": [v[i] if i < len(v) else None for v in values]}
        else:
            out[k] = values
    return out


def sweep(
    names: list[str] | None,
    seeds: range,
    *,
    repeat: int = 1,
    direct: bool = False,
    jobs: int = 2,
    no_cloud: bool = False,
    cloud_fault: str | None = None,
    model: str | None = None,
) -> dict:
    """`model`: the perception model every run uses (default: the shipped one; the JSON names it)."""
    from contracts import scenarios

    names = list(names or scenarios.names("car"))
    tasks = [(n, s, r) for n in names for s in seeds for r in range(max(1, repeat))]
    results: dict[tuple[str, int], list[dict]] = {}
    degraded = no_cloud or cloud_fault is not None
    # One process per run: every run gets a fresh rclpy context, DDS domain and PyBullet client.
    run_args = (direct, no_cloud, cloud_fault, None if model is None else str(model))
    for done, (key, result) in enumerate(run_each_in_a_process(tasks, jobs, run_args), 1):
        results.setdefault(key, []).append(result)
        print(
            f"[{done}/{len(tasks)}] {key[0]} seed {key[1]}: "
            f"{'ok' if _passed(result, degraded) else 'FAIL'} collisions={result.get('collisions')} "
            f"red={result.get('red_light_violations')}",
            file=sys.stderr,
        )

    per_scenario: dict[str, dict] = {}
    for name in names:
        runs = [results[(name, s)] for s in seeds]
        failures = [s for s, r in zip(seeds, runs, strict=True) if not all(_passed(x, degraded) for x in r)]
        nondeterministic = [
            s for s, r in zip(seeds, runs, strict=True) if len({comparable(x) for x in r}) > 1
        ]
        # what differed, so a nondeterministic seed can be chased: each differing key's values per run
        differences = {str(s): differing(results[(name, s)]) for s in nondeterministic}
        per_scenario[name] = {
            "runs": len(runs),
            "successes": len(runs) - len(failures),
            "failed_seeds": failures,
            "collisions": sum(x.get("collisions", 0) or 0 for r in runs for x in r),
            "red_light_violations": sum(x.get("red_light_violations", 0) or 0 for r in runs for x in r),
            "nondeterministic_seeds": nondeterministic,
            "nondeterministic_differences": differences,
        }
        if degraded:
            per_scenario[name].update(
                {k: sum(x.get(k, 0) or 0 for r in runs for x in r) for k in DROP_COUNTERS},
                safe_stops=sum(bool(x.get("safe_stop")) for r in runs for x in r),
            )
    from sim.heap import heap_is_fixed

    return {
        "seeds": [seeds.start, seeds.stop],
        "repeat": repeat,
        # the workers inherit this process's environment, so its heap is theirs (sim/heap.py: without
        # the fixed heap about one humanoid run in twenty takes another branch)
        "heap_fixed": heap_is_fixed(),
        "direct": direct,
        "no_cloud": no_cloud,
        "cloud_fault": cloud_fault,
        "pass_means": "0 collisions and the goal or a safe stop" if degraded else "success",
        "scenarios": per_scenario,
        "all_passed": all(
            v["successes"] == v["runs"] and not v["nondeterministic_seeds"] and v["collisions"] == 0
            for v in per_scenario.values()
        ),
        "results": {f"{n}:{s}": results[(n, s)][0] for n in names for s in seeds},
    }

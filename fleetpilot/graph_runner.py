"""Run a graph of the table in ONE process, in lockstep: scenario runs and the loop benchmark.

Every node of the graph is instantiated in-process (composition) with the same command-line arguments
the launcher gives separate processes (`--ros-args -r __ns:=... --params-file ...`), all on one executor
in a private rclpy Context on a private ROS_DOMAIN_ID, so several runs can follow each other (or run in
parallel processes) without seeing each other. The sim node advances only when the cmd_vel answering the
last camera stamp arrives; every node keys its work by stamp, so the same seed gives the same result.
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_GRAPH = "car_sim"
WARMUP_FRAMES = 3
_run_counter = itertools.count()


DOMAIN_RANGE = range(100, 200)  # valid Fast DDS domains on localhost go up to 232


@contextmanager
def _private_domain():
    """A ROS_DOMAIN_ID no other run on this machine holds while we do.

    Concurrent runs (a sweep's workers, CI neighbours, a developer's second terminal) in one domain would
    see each other's /car topics and break lockstep. Each run holds an exclusive lock file for its domain;
    the kernel drops the lock when the process dies, so a crashed run never leaks its domain.
    """
    import fcntl

    lock_dir = Path(tempfile.gettempdir())
    start = (os.getpid() * 7 + next(_run_counter)) % len(DOMAIN_RANGE)
    for i in range(len(DOMAIN_RANGE)):
        domain = DOMAIN_RANGE[(start + i) % len(DOMAIN_RANGE)]
        handle = open(lock_dir / f"fleetpilot-ros-domain-{domain}.lock", "a")  # noqa: SIM115 (held below)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield domain
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    first, last = DOMAIN_RANGE.start, DOMAIN_RANGE.stop - 1
    raise RuntimeError(f"all ROS domains {first}..{last} are held by other runs")


@contextmanager
def _ros_context():
    from fleetpilot.ros_env import apply_ros_env_defaults

    apply_ros_env_defaults()  # before rclpy loads: a clean shell gets the ament index, middleware, loopback
    import rclpy
    from rclpy.context import Context

    with _private_domain() as domain:
        os.environ["ROS_DOMAIN_ID"] = str(domain)
        ctx = Context()
        rclpy.init(context=ctx, domain_id=domain, args=[])
        try:
            yield ctx
        finally:
            if ctx.ok():
                rclpy.shutdown(context=ctx)


def _make_executor(ctx):
    try:
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=ctx)
    except ImportError:  # older rclpy
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor(context=ctx)


class ComposedGraph:
    """All nodes of one graph table entry, instantiated in one context.

    overrides: {node name or '*': {parameter: value}}, applied after the table's parameter files.
    only: restrict to these node names (e.g. the sim alone for the floor measurement).
    namespace: instead of the table's (two graphs in one process must not share node names: rosout).
    """

    def __init__(
        self,
        ctx,
        graph: str = DEFAULT_GRAPH,
        *,
        overrides: dict[str, dict[str, Any]] | None = None,
        extra_params_file: Path | None = None,
        only: tuple[str, ...] | None = None,
        tmpdir: Path,
        namespace: str | None = None,
    ) -> None:
        from fleetpilot_bringup.graphs import get_graph, write_overrides

        self.graph = get_graph(graph)
        ns = self.graph.namespace if namespace is None else namespace
        extra: tuple[Path, ...] = ()
        if extra_params_file is not None:
            extra += (extra_params_file,)
        if overrides:
            extra += (write_overrides(overrides, tmpdir / "overrides.yaml"),)
        self.nodes: dict[str, Any] = {}
        try:
            for n in self.graph.nodes:
                if only is not None and n.name not in only and n.key not in only:
                    continue
                # the embodiment file may already be one of the table's files: no need to apply it twice
                node_extra = tuple(f for f in extra if f not in n.parameters)
                node_class = importlib.import_module(n.module).NODE_CLASS
                self.nodes[n.key] = node_class(
                    context=ctx, cli_args=n.ros_args(n.full_namespace(ns), node_extra)
                )
        except BaseException:
            self.destroy()
            raise

    def destroy(self) -> None:
        for node in self.nodes.values():
            node.destroy_node()
        self.nodes.clear()


def _embodiment_file(embodiment_params: str | Path | None) -> Path | None:
    if embodiment_params is None:
        return None
    from fleetpilot_bringup.graphs import resolve_package_file

    p = Path(embodiment_params)
    return resolve_package_file(p if p.is_absolute() or p.parent != Path(".") else Path("config") / p)


def _lockstep_overrides(scenario: str, seed: int, extra: dict | None = None) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {
        "*": {"reliable_qos": True},
        "sim": {"scenario": scenario, "seed": int(seed), "lockstep": True},
        # graphs with a legged body: its locomotion node answers camera periods with their own path
        "locomotion": {"lockstep": True},
    }
    for node, params in (extra or {}).items():
        overrides.setdefault(node, {}).update(params)
    return overrides


STARTUP_TIMEOUT_S = 30.0


def run_scenario(
    scenario: str,
    seed: int,
    *,
    record: Path | None = None,
    embodiment_params: str | Path | None = "car.yaml",
    timeout_s: float = 120.0,
    graph: str = DEFAULT_GRAPH,
    overrides: dict[str, dict[str, Any]] | None = None,
    on_finish: Callable[[Any], None] | None = None,
    inspect: Callable[[dict[str, Any]], None] | None = None,
    extra_nodes: Callable[[Any, str], list[Any]] | None = None,
) -> dict:
    """Run one scenario through the whole ROS graph in lockstep (see _run_once).

    A rare startup race (about 2 in 110 runs under load, cause not yet found) leaves the graph silent on
    its very first frame. Lockstep makes the outcome independent of wall time, so such a run is started
    once more from scratch (fresh context and domain) and the retry is reported in `startup_retries`.
    """
    import sys

    kwargs = dict(
        record=record,
        embodiment_params=embodiment_params,
        timeout_s=timeout_s,
        graph=graph,
        overrides=overrides,
        on_finish=on_finish,
        inspect=inspect,
        extra_nodes=extra_nodes,
    )
    result = _run_once(scenario, seed, **kwargs)
    first_unanswered = result.pop("first_frame_unanswered", False)
    if result.get("timed_out") and (result.get("frames", 0) == 0 or first_unanswered):
        print(
            f"fleetpilot: graph never answered its first frame ({scenario} seed {seed}); "
            "starting it once more",
            file=sys.stderr,
        )
        result = _run_once(scenario, seed, **kwargs)
        result["startup_retries"] = 1
    return result


def _run_once(
    scenario: str,
    seed: int,
    *,
    record: Path | None,
    embodiment_params: str | Path | None,
    timeout_s: float,
    graph: str,
    overrides: dict[str, dict[str, Any]] | None,
    on_finish: Callable[[Any], None] | None,
    inspect: Callable[[dict[str, Any]], None] | None = None,
    extra_nodes: Callable[[Any, str], list[Any]] | None = None,
) -> dict:
    """Run one scenario through the whole ROS graph in lockstep; sim.result() plus wall_time_s.

    extra_nodes(context, namespace) -> nodes spun with the graph (e.g. a test that publishes bad input
    into it); they are destroyed with it.

    on_finish(simulation) is called once the run has ended, before the graph is torn down (plots);
    inspect(nodes by name) too (graphs with extra nodes report from them, e.g. the fleet agent).

    embodiment_params: a parameter file of fleetpilot_bringup (name under config/, or a path) applied
    to every node after the table's own files. A run that stalls for timeout_s wall seconds returns
    success False with `timed_out: True` (a stall means a lost message or a node that raised).
    """
    with _ros_context() as ctx, tempfile.TemporaryDirectory(prefix="fleetpilot_run_") as tmp:
        composed = ComposedGraph(
            ctx,
            graph,
            overrides=_lockstep_overrides(scenario, seed, overrides),
            extra_params_file=_embodiment_file(embodiment_params),
            tmpdir=Path(tmp),
        )
        executor = _make_executor(ctx)
        recorder = rec_node = None
        guests: list[Any] = []
        try:
            sim = composed.nodes["sim"]
            if record is not None:
                from rclpy.node import Node

                from fleetpilot.recorder import McapRecorder

                rec_node = Node("recorder", context=ctx)
                recorder = McapRecorder(rec_node, Path(record), composed.graph.namespace)
                executor.add_node(rec_node)
            for node in composed.nodes.values():
                executor.add_node(node)
            guests = list(extra_nodes(ctx, composed.graph.namespace)) if extra_nodes is not None else []
            for node in guests:
                executor.add_node(node)
            start = time.perf_counter()
            last_progress, last_frames = start, -1
            timed_out = False
            while not sim.finished:
                executor.spin_once(timeout_sec=0.05)
                now = time.perf_counter()
                if sim.frames != last_frames:
                    last_frames, last_progress = sim.frames, now
                elif now - last_progress > (
                    # until the first frame is answered the graph may still be starting (or stuck in the
                    # startup race): give it the startup timeout, then run_scenario starts it again
                    timeout_s if sim.answer_wall else min(timeout_s, STARTUP_TIMEOUT_S)
                ):
                    timed_out = True
                    break
            wall = time.perf_counter() - start
            if recorder is not None:
                # let the recorder drain what the last frame produced
                for _ in range(20):
                    executor.spin_once(timeout_sec=0.005)
            result = dict(sim.sim.result())
            result["wall_time_s"] = wall
            result["frames"] = sim.frames
            for node in composed.nodes.values():  # e.g. System 2 counters (planning, reasoner_bridge)
                result.update(getattr(node, "result_fields", dict)())
            if timed_out:
                result["timed_out"] = True
                result["success"] = False
                result["first_frame_unanswered"] = not sim.answer_wall
            if on_finish is not None:
                on_finish(sim.sim)
            if inspect is not None:
                inspect(composed.nodes)
            return result
        finally:
            executor.shutdown()
            if recorder is not None:
                recorder.close()
            if rec_node is not None:
                rec_node.destroy_node()
            for node in guests:
                node.destroy_node()
            composed.destroy()


class _StallGuard:
    """bench_loop: a graph that stops answering (e.g. the startup race in run_scenario) raises
    TimeoutError instead of hanging the benchmark."""

    def __init__(self, sim, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        self.sim, self.timeout_s = sim, timeout_s
        self.frames, self.since = sim.frames, time.perf_counter()

    def check(self) -> None:
        now = time.perf_counter()
        if self.sim.frames != self.frames:
            self.frames, self.since = self.sim.frames, now
        elif now - self.since > self.timeout_s:
            raise TimeoutError(f"the graph stopped answering at frame {self.frames} (stalled lockstep)")

    def resume(self) -> None:
        """The graph was not spun for a while on purpose (a floor block): that was no stall."""
        self.frames, self.since = self.sim.frames, time.perf_counter()


def _pct(values) -> dict[str, float]:
    a = np.asarray(list(values), dtype=float)
    if a.size == 0:
        return {"p50": float("nan"), "p99": float("nan")}
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}


def bench_loop(
    frames: int,
    *,
    scenario: str = "car_lane_follow",
    seed: int = 0,
    graph: str = DEFAULT_GRAPH,
    overrides: dict[str, dict[str, Any]] | None = None,
    phase: Callable[[int], str | None] | None = None,
    floor_blocks: int = 4,
) -> dict:
    """Latency of the closed loop through ROS, per stage, and real-time factors.

    phase(measured frames so far) -> label or None, called after every executor spin: frames
    published from then on carry that label (None: not counted in any phase), and the result gets
    e2e_ms per label under "phases" (A/B comparisons inside one run, e.g. a background job on/off).

    e2e: camera publish → the cmd_vel with that stamp received by the sim (wall clock). transport is e2e
    minus perception + planning + control (message conversion, serialisation, executor dispatch).
    rtf: sim time / wall time of the lockstep loop. floor_rtf: a second sim node of the same scenario and
    seed, rendering and publishing the same sensors without the stack: it replays the commands the loop's
    sim applied, so it drives the same path and renders the same views (floor_same_path says its last
    odometry equals the loop's). The two alternate in floor_blocks blocks of about frames / floor_blocks
    frames each (loop, floor, loop, floor, ...), so load on a shared machine that drifts during the run
    weighs on both alike, not on one of them.
    """
    if frames < 2:
        raise ValueError(f"bench_loop needs at least 2 frames, got {frames}")
    if not 1 <= floor_blocks <= frames:
        raise ValueError(f"floor_blocks must be in 1..{frames} (frames), got {floor_blocks}")
    from contracts.clock import CAMERA_PERIOD_NS

    block_ends = [round(frames * (i + 1) / floor_blocks) for i in range(floor_blocks)]
    floor_frames, floor_wall = 0, 0.0
    commands: list = []  # every command the loop's sim applied, in order: the floor replays them
    with (
        _floor_sim(scenario, seed, graph) as floor,
        _ros_context() as ctx,
        tempfile.TemporaryDirectory(prefix="fleetpilot_bench_") as tmp,
    ):
        composed = ComposedGraph(
            ctx, graph, overrides=_lockstep_overrides(scenario, seed, overrides), tmpdir=Path(tmp)
        )
        executor = _make_executor(ctx)
        per_period = None
        try:
            for node in composed.nodes.values():
                executor.add_node(node)
            sim = composed.nodes["sim"]
            sim.on_step = commands.append
            # Warm-up frames are not measured: the first one builds the Perceiver (model load).
            stall = _StallGuard(sim)
            while sim.frames < WARMUP_FRAMES and not sim.finished:
                executor.spin_once(timeout_sec=0.05)
                stall.check()
            _run_floor(floor, commands)  # the floor's warm-up: the same first frames, not measured either
            replayed = len(commands)
            wall = 0.0
            paused: set[int] = set()
            first = sim.frames
            warm_stamps = set(sim.publish_wall)
            n_render, n_physics = len(sim.sim.timings["render"]), len(sim.sim.timings["physics"])
            label = phase(0) if phase is not None else None
            changes: list[tuple[int, str | None]] = [(-1, label)]  # (labels stamps after this one, label)
            for block_end in block_ends:
                start = time.perf_counter()
                while sim.frames - first < block_end and not sim.finished:
                    executor.spin_once(timeout_sec=1.0)
                    stall.check()
                    if phase is not None and (new := phase(sim.frames - first)) != label:
                        label = new
                        changes.append((sim.awaiting_stamp if sim.awaiting_stamp is not None else -1, label))
                wall += time.perf_counter() - start
                # The stamp in flight waits out the floor block: its latency is not the stack's.
                if sim.awaiting_stamp is not None:
                    paused.add(sim.awaiting_stamp)
                n, w = _run_floor(floor, commands[replayed:])
                floor_frames, floor_wall, replayed = floor_frames + n, floor_wall + w, len(commands)
                stall.resume()
            floor_same_path = floor.last_odometry == sim.last_odometry
            measured = sim.frames - first
            answered = sorted((set(sim.publish_wall) & set(sim.answer_wall)) - warm_stamps - paused)
            e2e = {s: (sim.answer_wall[s] - sim.publish_wall[s]) * 1e3 for s in answered}
            # the car answers with control, a legged body with locomotion (every control period)
            stack = [n for n in ("perception", "planning", "control", "locomotion") if n in composed.nodes]
            warm_end = max(warm_stamps, default=-1)

            def measured_stamp(s: int) -> bool:
                return s > warm_end and s not in paused

            stage = {
                name: {s: ms for s, ms in composed.nodes[name].stage_ms.items() if measured_stamp(s)}
                for name in stack
            }
            per_period = stage.pop("locomotion", None)
            if per_period is not None:
                # its share of a camera frame's answer is the step of the camera's own period
                stage["locomotion"] = {s: ms for s, ms in per_period.items() if s in e2e}
            transport = [
                e2e[s] - sum(stage[n].get(s, 0.0) for n in stage)
                for s in answered
                if all(s in stage[n] for n in stage)
            ]
            timings = sim.sim.timings
            stages = {
                "render": _pct(timings["render"][n_render:]),
                "physics": _pct(timings["physics"][n_physics:]),
                **{n: _pct(v.values()) for n, v in stage.items()},
                "transport": _pct(transport),
            }
            rtf = measured * CAMERA_PERIOD_NS * 1e-9 / wall
            phases: dict[str, list[float]] = {}
            if phase is not None:
                bounds = [b for b, _ in changes]
                for s in answered:
                    stamp_label = changes[bisect.bisect_left(bounds, s) - 1][1]
                    if stamp_label is not None:
                        phases.setdefault(stamp_label, []).append(e2e[s])
            extra: dict[str, Any] = {}
            for node in composed.nodes.values():  # e.g. System 2 counters (planning, reasoner_bridge)
                extra.update(getattr(node, "result_fields", dict)())
        finally:
            executor.shutdown()
            composed.destroy()

    floor_rtf = floor_frames * CAMERA_PERIOD_NS * 1e-9 / floor_wall if floor_wall > 0 else float("nan")
    out = {
        "frames": measured,
        "e2e_ms": _pct(e2e.values()),
        "stages_ms": stages,
        "rtf": rtf,
        "floor_rtf": floor_rtf,
        "floor_frames": floor_frames,
        "floor_blocks": floor_blocks,
        "floor_same_path": floor_same_path,
        **extra,
    }
    if phase is not None:
        out["phases"] = {
            k: {"frames": len(v), "e2e_ms": _pct(v), "e2e_ms_samples": [round(x, 3) for x in v]}
            for k, v in phases.items()
        }
    if per_period is not None:
        out["locomotion_ms"] = _pct(per_period.values())  # observation + policy, every control period
    return out


@contextmanager
def _floor_sim(scenario: str, seed: int, graph: str):
    """The sim node alone, in its own context and domain, for the floor: the same scenario and seed,
    rendering and publishing the same sensors as in the loop, stepped directly by _run_floor (no stack,
    no executor)."""
    from fleetpilot_bringup.graphs import get_graph

    with _ros_context() as ctx, tempfile.TemporaryDirectory(prefix="fleetpilot_floor_") as tmp:
        overrides = {
            "*": {"reliable_qos": True},
            # not lockstep, and never spun: its free-running timer does not fire; _run_floor steps it
            "sim": {"scenario": scenario, "seed": int(seed), "lockstep": False, "realtime_factor": 0.0},
        }
        namespace = f"{get_graph(graph).namespace.rstrip('/')}/floor"
        composed = ComposedGraph(
            ctx, graph, overrides=overrides, only=("sim",), tmpdir=Path(tmp), namespace=namespace
        )
        try:
            yield composed.nodes["sim"]
        finally:
            composed.destroy()


def _run_floor(sim, commands: list) -> tuple[int, float]:
    """Step the floor's sim with the loop's commands, in order (it stops early if its scenario ends):
    (camera frames published, wall seconds)."""
    first = sim.frames
    start = time.perf_counter()
    for cmd in commands:
        sim.replay_step(cmd)
    return sim.frames - first, time.perf_counter() - start

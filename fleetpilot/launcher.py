"""Pip-only launcher: start one process per node of a graph from the table (no `launch` package).

Each node runs as `python -m <package>.<executable> --ros-args -r __ns:=<ns> -r __node:=<name>
--params-file ...`, on loopback discovery (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST). Output lines are
prefixed with the node name. SIGINT/SIGTERM are forwarded to every node; when any node exits, the
others are stopped and its exit code is returned (0 when the sim finished its scenario).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from fleetpilot.ros_env import apply_ros_env_defaults

STOP_GRACE_S = 5.0


def node_commands(
    graph: str, overrides: dict[str, dict[str, Any]] | None = None, tmpdir: Path | None = None
) -> list[tuple[str, list[str]]]:
    """(node name, argv) for every node of the graph, in table order."""
    from fleetpilot_bringup.graphs import get_graph, write_overrides

    g = get_graph(graph)
    extra: tuple[Path, ...] = ()
    if overrides:
        if tmpdir is None:
            raise ValueError("overrides need a tmpdir for their parameter file")
        unknown = set(overrides) - {n.name for n in g.nodes} - {n.key for n in g.nodes} - {"*"}
        if unknown:
            raise ValueError(f"overrides for unknown node(s) {sorted(unknown)} of graph {graph!r}")
        extra = (write_overrides(overrides, tmpdir / "overrides.yaml"),)
    return [
        (n.key, [sys.executable, "-u", "-m", n.module, *n.ros_args(n.full_namespace(g.namespace), extra)])
        for n in g.nodes
    ]


def _pump(name: str, stream: TextIO, out: TextIO, lock: threading.Lock) -> None:
    width = 12
    for line in iter(stream.readline, ""):
        with lock:
            out.write(f"[{name:<{width}}] {line}")
            out.flush()
    stream.close()


def launch(graph: str, *, overrides: dict | None = None, keep_running: bool = False) -> int:
    """Run the graph until a node exits or SIGINT/SIGTERM; returns the first exiting node's code.
    keep_running: the sim goes on after its scenario ended (sim parameter keep_running), so the graph
    runs until SIGINT/SIGTERM."""
    if keep_running:
        overrides = {**(overrides or {})}
        overrides["sim"] = {**overrides.get("sim", {}), "keep_running": True}
    env = apply_ros_env_defaults(dict(os.environ))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    procs: dict[str, subprocess.Popen] = {}
    lock = threading.Lock()
    stop_signal: list[int] = []

    def on_signal(signum, _frame) -> None:
        stop_signal.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    with tempfile.TemporaryDirectory(prefix="fleetpilot_launch_") as tmp:
        try:
            for name, argv in node_commands(graph, overrides, Path(tmp)):
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )  # our signals are forwarded explicitly
                procs[name] = proc
                threading.Thread(
                    target=_pump, args=(name, proc.stdout, sys.stdout, lock), daemon=True
                ).start()
                print(f"[launcher    ] started {name} (pid {proc.pid})", flush=True)
            code = 0
            while True:
                if stop_signal:
                    print(
                        f"[launcher    ] {signal.Signals(stop_signal[0]).name}: stopping all nodes",
                        flush=True,
                    )
                    code = 0
                    break
                exited = [(n, p.returncode) for n, p in procs.items() if p.poll() is not None]
                if exited:
                    name, code = exited[0]
                    print(f"[launcher    ] {name} exited with code {code}: stopping the others", flush=True)
                    break
                time.sleep(0.1)
            _stop_all(procs, stop_signal[0] if stop_signal else signal.SIGINT)
            return int(code)
        finally:
            _stop_all(procs, signal.SIGTERM)
            for s, handler in old.items():
                signal.signal(s, handler)


def _stop_all(procs: dict[str, subprocess.Popen], sig: int) -> None:
    running = [p for p in procs.values() if p.poll() is None]
    for p in running:
        p.send_signal(sig)
    deadline = time.monotonic() + STOP_GRACE_S
    for p in running:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

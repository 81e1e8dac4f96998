"""sim/heap.py: the fixed heap that keeps PyBullet's reads of memory it never wrote from depending on
what the process did before (the same seed, the same run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim import heap

PROBE = "from sim.heap import heap_is_fixed; print(heap_is_fixed())"
REPO = Path(__file__).resolve().parents[2]
glibc_only = pytest.mark.skipif(not heap._is_glibc(), reason="the fixed heap is a glibc feature")


def _env_without_tunables(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", heap._REEXECED, heap.OPT_OUT)}
    return {**env, **extra}


def test_merged_tunables_keep_others_and_replace_ours():
    merged = heap.merged_tunables("glibc.malloc.arena_max=2:glibc.malloc.perturb=7")
    assert merged.split(":") == [
        "glibc.malloc.arena_max=2",
        "glibc.malloc.tcache_count=0",
        "glibc.malloc.perturb=165",
    ]
    assert heap.merged_tunables("") == "glibc.malloc.tcache_count=0:glibc.malloc.perturb=165"


@glibc_only
def test_env_for_fixed_heap_only_when_needed():
    env = heap.env_for_fixed_heap({"PATH": "/bin"})
    assert env is not None and env["PATH"] == "/bin" and env[heap._REEXECED] == "1"
    assert heap.env_for_fixed_heap(env) is None  # re-executed once: never again
    assert heap.env_for_fixed_heap({"GLIBC_TUNABLES": heap.merged_tunables("")}) is None
    assert heap.env_for_fixed_heap({heap.OPT_OUT: "1"}) is None


@glibc_only
def test_child_env_starts_a_process_with_the_fixed_heap():
    """What the launch files add to each node's environment (ros2 launch)."""
    base = _env_without_tunables()
    added = heap.child_env_for_fixed_heap(base)
    assert set(added) == {"GLIBC_TUNABLES"}
    probe = [sys.executable, "-c", PROBE]
    fixed = subprocess.run(probe, env={**base, **added}, cwd=REPO, capture_output=True, text=True, check=True)
    assert fixed.stdout.strip() == "True"
    native = subprocess.run(probe, env=base, cwd=REPO, capture_output=True, text=True, check=True)
    assert native.stdout.strip() == "False"
    assert heap.child_env_for_fixed_heap({**base, heap.OPT_OUT: "1"}) == {}


@glibc_only
def test_python_m_sim_heap_fixes_the_heap_of_the_command():
    env = _env_without_tunables()
    native = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    fixed = subprocess.run(
        [sys.executable, "-m", "sim.heap", sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
    )
    assert native.stdout.strip() == "False"  # the probe can tell the default heap apart
    assert fixed.stdout.strip() == "True", fixed.stderr


def test_python_m_sim_heap_reports_a_missing_command():
    out = subprocess.run(
        [sys.executable, "-m", "sim.heap", "no-such-command-here"], capture_output=True, text=True
    )
    assert out.returncode == 127 and "cannot run 'no-such-command-here'" in out.stderr


@glibc_only
@pytest.mark.parametrize(("opt_out", "fixed"), [(False, True), (True, False)])
def test_the_fleetpilot_command_runs_with_the_fixed_heap(tmp_path, opt_out, fixed):
    """The console script re-executes itself with the tunables (unless opted out); the sweep JSON says
    which heap its runs had."""
    command = Path(sys.executable).with_name("fleetpilot")
    out_json = tmp_path / "sweep.json"
    env = _env_without_tunables(**({heap.OPT_OUT: "1"} if opt_out else {}))
    args = [
        "scenario",
        "sweep",
        "--scenarios",
        "car_lane_follow",
        "--seeds",
        "0:1",
        "--direct",
        "--jobs",
        "1",
    ]
    done = subprocess.run(
        [str(command), *args, "--json", str(out_json)], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out_json.read_text())["heap_fixed"] is fixed

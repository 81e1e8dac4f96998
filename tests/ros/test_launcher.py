"""The pip-only launcher: one process per node, prefixed output, exit when the sim ends, SIGINT forwarded."""

import os
import signal
import subprocess
import sys
import time

import pytest

from fleetpilot.launcher import node_commands


def test_node_commands_follow_the_table(tmp_path):
    cmds = node_commands("car_sim", {"sim": {"seed": 4}}, tmp_path)
    assert [name for name, _ in cmds] == ["sim", "perception", "planning", "control"]
    _, argv = cmds[0]
    assert argv[1:4] == ["-u", "-m", "fleetpilot_nodes.sim_node"]
    assert "__ns:=/car" in argv and "__node:=sim" in argv
    assert argv[-1] == str(tmp_path / "overrides.yaml")
    assert "seed: 4" in (tmp_path / "overrides.yaml").read_text()
    with pytest.raises(ValueError, match="unknown node"):
        node_commands("car_sim", {"simm": {"seed": 4}}, tmp_path)


def _launch(overrides: dict, keep_running: bool = False) -> subprocess.Popen:
    code = (
        "import sys; from fleetpilot.launcher import launch; "
        f"sys.exit(launch('car_sim', overrides={overrides!r}, keep_running={keep_running}))"
    )
    env = dict(os.environ, ROS_DOMAIN_ID=str(150 + os.getpid() % 50))
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def test_graph_runs_across_processes_and_exits_with_the_sim(tiny_model_path):
    proc = _launch({"perception": {"model_path": str(tiny_model_path)}, "sim": {"time_limit_s": 1.0}})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "[sim         ]" in out and "scenario finished after" in out
    assert "sim exited with code 0" in out


def test_sigint_stops_every_node(tiny_model_path):
    proc = _launch({"perception": {"model_path": str(tiny_model_path)}, "sim": {"lockstep": False}})
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "started control" in line:
            break
    pids = [int(line.split("pid ")[1].rstrip(")\n")) for line in lines if "(pid " in line]
    assert len(pids) == 4, lines
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "SIGINT: stopping all nodes" in out
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_keep_running_outlives_the_scenario_until_sigint(tiny_model_path):
    """`fleetpilot launch car_sim --keep-running`: the scenario ends (its result is sent) and the graph goes
    on until Ctrl-C (issue 24 item 6: launch ended by itself after one scenario)."""
    overrides = {"perception": {"model_path": str(tiny_model_path)}, "sim": {"time_limit_s": 1.0}}
    proc = _launch(overrides, keep_running=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("keep_running:" in line for line in lines):
        lines.append(proc.stdout.readline())
    assert any("scenario finished after" in line for line in lines), lines
    time.sleep(2.0)
    assert proc.poll() is None, "".join(lines)  # still running after the scenario ended
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "SIGINT: stopping all nodes" in out and "exited with code" not in out

"""The `fleetpilot` command with the humanoid: listed scenarios, usage errors, a full run through ROS."""

from __future__ import annotations

import json

import pytest
from test_cli import REQUIRED_KEYS, fleetpilot  # the sibling module (pytest puts tests/cli on sys.path)


def test_scenario_list_names_the_humanoid_scenarios():
    out = fleetpilot("scenario", "list")
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    assert {"humanoid_goals", "humanoid_push", "humanoid_task", "shared_crossing"} <= set(listed)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("bench", "loop", "--robot", "humanoid", "--scenario", "car_lane_follow"),
            "needs a humanoid scenario",
        ),
        (("bench", "loop", "--robot", "robot_dog"), "invalid choice"),
        (("bench", "loop", "--robot", "humanoid", "--background-job"), "does not lend compute"),
        (("bench", "loop", "--system2-ab", "--scenario", "car_lane_follow"), "does not ask System 2"),
        (("scenario", "run", "humanoid_dance", "--seed", "0"), "unknown scenario"),
        (("scenario", "run", "shared_crossing", "--seed", "0", "--record", "x.mcap"), "has several"),
        (("scenario", "run", "humanoid_task", "--seed", "0", "--direct"), "reasoner bridge"),
    ],
)
def test_humanoid_usage_errors_exit_2(args, message):
    out = fleetpilot(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.ros
def test_humanoid_goals_through_the_ros_graph(tmp_path):
    path = tmp_path / "metrics.json"
    out = fleetpilot("scenario", "run", "humanoid_goals", "--seed", "0", "--json", str(path))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(path.read_text())
    for key, kind in REQUIRED_KEYS.items():
        assert isinstance(result[key], kind) or (kind is float and isinstance(result[key], int)), key
    for key in ("goals_reached", "goals_total", "falls", "recoveries"):
        assert isinstance(result[key], int), key
    assert result["success"] and result["goals_reached"] == result["goals_total"]
    assert result["collisions"] == 0


@pytest.mark.ros
def test_humanoid_task_asks_system2_and_walks_to_the_named_box(tmp_path):
    """Through humanoid_sim_system2 with the embedded loopback service: the sentence goes to System 2,
    the WALK_TO is followed after the planner's own check, the box is reached without touching it."""
    path = tmp_path / "metrics.json"
    out = fleetpilot("scenario", "run", "humanoid_task", "--seed", "0", "--json", str(path))
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(path.read_text())
    assert r["task_text"] and r["cloud_requests"] >= 1 and r["advice_followed"] >= 1
    assert r["success"] and r["task_reached"] and r["collisions"] == 0


@pytest.mark.ros
def test_humanoid_task_without_the_cloud_waits_safely(tmp_path):
    path = tmp_path / "metrics.json"
    out = fleetpilot("scenario", "run", "humanoid_task", "--seed", "0", "--no-cloud", "--json", str(path))
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(path.read_text())
    assert not r["task_reached"] and r["advice_followed"] == 0
    assert r["safe_stop"] and r["collisions"] == 0

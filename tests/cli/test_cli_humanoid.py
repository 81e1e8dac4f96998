"""The `fleetpilot` command with the humanoid: listed scenarios, usage errors, a full run through ROS."""

from __future__ import annotations

import json

import pytest
from test_cli import REQUIRED_KEYS, fleetpilot  # the sibling module (pytest puts tests/cli on sys.path)


def test_scenario_list_names_the_humanoid_scenarios():
    out = fleetpilot("scenario", "list")
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    assert {"humanoid_goals", "humanoid_push", "shared_crossing"} <= set(listed)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("bench", "loop", "--robot", "humanoid", "--scenario", "car_lane_follow"),
            "needs a humanoid scenario",
        ),
        (("bench", "loop", "--robot", "robot_dog"), "invalid choice"),
        (("scenario", "run", "humanoid_dance", "--seed", "0"), "unknown scenario"),
        (("scenario", "run", "shared_crossing", "--seed", "0", "--record", "x.mcap"), "two"),
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

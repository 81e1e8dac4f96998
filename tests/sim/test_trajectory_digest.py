"""trajectory_sha256: a nanometre of one pose changes it, float noise does not; same seed, same digest;
the recorded baseline holds.

The replay test is openpilot's process replay in small: two scenarios run direct and their digests are
compared with tests/baselines/trajectory_sha256.json, the baseline of the architecture refactoring
(fleetpilot/trajectory_baseline.py says where it was recorded).
A change that alters what a scenario does fails here; if it is meant to, re-record with
`fleetpilot scenario sweep --seeds 0:5 --direct --record-baseline tests/baselines/trajectory_sha256.json`
and say why in the commit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fleetpilot import trajectory_baseline
from fleetpilot.scenario_run import run_scenario
from sim.trajectory_digest import TrajectoryDigest


def _digest(*periods) -> str:
    d = TrajectoryDigest()
    for stamp, *parts in periods:
        d.add(stamp, *parts)
    return d.hexdigest()


def test_the_digest_sees_a_nanometre_of_one_pose():
    base = _digest((1, (1.0, 2.0, 0.5), (3.0, 0.1)), (2, (1.5, 2.0, 0.5), (3.0, 0.1)))
    assert base == _digest((1, (1.0, 2.0, 0.5), (3.0, 0.1)), (2, (1.5, 2.0, 0.5), (3.0, 0.1)))
    assert base != _digest((1, (1.0, 2.0, 0.5), (3.0, 0.1)), (2, (1.5 + 1e-9, 2.0, 0.5), (3.0, 0.1)))
    assert base != _digest((1, (1.0, 2.0, 0.5), (3.0, 0.1)), (3, (1.5, 2.0, 0.5), (3.0, 0.1)))  # stamp
    assert base != _digest((1, (1.0, 2.0, 0.5), (3.0, 0.1)))  # one period fewer


def test_float_noise_of_another_cpu_does_not_count():
    """The last bits that numpy's or onnxruntime's SIMD kernels change from one CPU to another (measured:
    up to 1.1e-15 in a command), and the sign of a zero, leave the digest as it is."""
    base = _digest((1, (1.5, 0.1 + 0.2, 0.0), (3.0, 0.0)))
    ulp = float(np.nextafter(1.5, 2.0))
    assert base == _digest((1, (ulp, 0.3 + 1.1e-15, 0.0), (3.0, -0.0)))
    assert base == _digest((1, (1.5, 0.3, -1e-12), (3.0, 1e-13)))


def test_part_boundaries_count():
    assert _digest((1, (1.0, 2.0), (3.0,))) != _digest((1, (1.0,), (2.0, 3.0)))


@pytest.mark.parametrize("name", ["car_lane_follow", "humanoid_goals"])
def test_a_direct_run_drives_as_the_baseline_recorded(name):
    baseline = trajectory_baseline.load(trajectory_baseline.DEFAULT_PATH)
    result = run_scenario(name, 0, direct=True)
    assert result["trajectory_sha256"] == baseline["direct"][f"{name}:0"]


def test_baseline_record_and_compare(tmp_path):
    path = tmp_path / "b.json"
    runs = {"a:0": {"trajectory_sha256": "x"}, "a:1": {"trajectory_sha256": "y"}, "a:2": {"error": "boom"}}
    assert trajectory_baseline.record(path, runs, direct=True) == 2
    trajectory_baseline.record(path, {"a:0": {"trajectory_sha256": "r"}}, direct=False)
    data = trajectory_baseline.load(path)
    assert data["direct"] == {"a:0": "x", "a:1": "y"} and data["ros"] == {"a:0": "r"}
    check = trajectory_baseline.compare(
        data, {"a:0": {"trajectory_sha256": "x"}, "a:1": {"trajectory_sha256": "z"}, "b:0": {}}, direct=True
    )
    assert check["matched"] == 1
    assert check["mismatches"] == {"a:1": {"expected": "y", "got": "z"}}
    assert check["not_in_baseline"] == ["b:0"]


def test_a_file_that_is_not_a_baseline_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a trajectory baseline"):
        trajectory_baseline.load(bad)
    bad.write_text(json.dumps({"schema": 99}))
    with pytest.raises(ValueError, match="schema"):
        trajectory_baseline.load(bad)

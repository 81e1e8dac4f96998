"""Staged rollout (issue 20, acceptance 4): `ota simulate` drives a real rollout through virtual vehicles,
each a real updater against a real served repository, each judging the new model on its own simulator
frames with real inference."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cloud_reasoner.ota.rollout import RolloutStore, in_stage, parse_stages
from fleetpilot.ota_simulate import SimulateConfig, simulate
from perception.classes import Cls

from .conftest import MODEL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    """good: the shipped weights in other bytes; bad: road and sidewalk swapped in the classifier, a
    model as confident as the good one and wrong on a third of the pixels (a label mix-up in training)."""
    import onnx
    from onnx import numpy_helper

    folder = tmp_path_factory.mktemp("candidates")
    good = onnx.load(str(MODEL))
    good.doc_string = "re-exported: same weights, other bytes"
    onnx.save(good, str(folder / "good.onnx"))
    bad = onnx.load(str(MODEL))
    for i, t in enumerate(bad.graph.initializer):
        if t.name in ("net.classifier.weight", "net.classifier.bias"):
            w = numpy_helper.to_array(t).copy()
            w[[Cls.ROAD, Cls.SIDEWALK]] = w[[Cls.SIDEWALK, Cls.ROAD]]
            bad.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, t.name))
    onnx.save(bad, str(folder / "bad.onnx"))
    return folder / "good.onnx", folder / "bad.onnx"


def test_stages_are_stable_cumulative_and_parsed_strictly():
    ids = [f"vehicle-{i:05d}" for i in range(2000)]
    one = {v for v in ids if in_stage(v, 1)}
    ten = {v for v in ids if in_stage(v, 10)}
    assert one < ten and 5 <= len(one) <= 40 and 150 <= len(ten) <= 250
    assert all(in_stage(v, 100) for v in ids)
    assert parse_stages("1,10,50,100") == (1, 10, 50, 100)
    for bad in ("10,1,100", "1,10,50", "0,100", "a,b", ""):
        with pytest.raises(ValueError):
            parse_stages(bad)


def test_a_good_candidate_reaches_the_whole_fleet(candidates):
    report = simulate(SimulateConfig(vehicles=100, candidate=candidates[0]))  # 200: see the issue note
    assert report["stages_completed"] == 4 and not report["halted"], report
    assert report["vehicles_on_candidate"] == 100 and report["versions"] == {"candidate": 100}
    assert report["rollout"]["state"] == "completed"


def test_a_bad_candidate_halts_early_and_leaves_no_vehicle_on_it(candidates):
    report = simulate(SimulateConfig(vehicles=200, candidate=candidates[1]))
    assert report["halted"] and report["stages_completed"] <= 1, report
    assert "reverted by health" in report["halt_reason"]
    assert report["vehicles_on_candidate"] == 0 and report["versions"] == {"previous": 200}
    assert report["vehicles_rolled_back"] == report["vehicles_updated"] > 0
    assert report["rollout"]["state"] == "halted"


def test_a_halt_sends_vehicles_that_found_it_healthy_back_through_a_verified_update(candidates):
    """A stricter health proxy fails a few vehicles of the 10 % stage: the gate halts, and the vehicles
    that had accepted the candidate return to the previous model as a new, signed version."""
    report = simulate(SimulateConfig(vehicles=60, candidate=candidates[0], max_mean_error=0.1))
    assert report["halted"] and report["reports"]["returned"] > 0, report
    assert report["versions"] == {"previous": 60}


def test_the_store_refuses_an_unknown_result(tmp_path):
    store = RolloutStore(tmp_path / "ota.sqlite")
    rid = store.create("segnet.onnx", "segnet.onnx.rollout-1", "a" * 64, "b" * 64, (1, 100))
    with pytest.raises(sqlite3.IntegrityError):
        store.report(rid, "v1", 0, "maybe")
    store.report(rid, "v1", 0, "healthy")
    assert store.counts(rid)["healthy"] == 1
    store.close()


def test_the_command_prints_its_stages_and_writes_the_contract_keys(candidates, tmp_path):
    out = tmp_path / "sim.json"
    r = subprocess.run(
        [sys.executable, "-m", "fleetpilot.cli", "ota", "simulate", "--vehicles", "20", "--candidate",
         str(candidates[1]), "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert {"stages_completed", "halted", "halt_reason", "vehicles_on_candidate", "vehicles_rolled_back",
            "versions", "wall_s"} <= set(doc)  # fmt: skip
    assert "gate HALTED" in r.stderr
    assert doc["vehicles_on_candidate"] == 0

"""A/B slots on the vehicle: the golden check before a model drives, the fallback kept while the new one
proves itself, the rollback after starts that never reached `mark_good`. Real models: the shipped one and
a copy with changed weights (a model that computes something else)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cloud_reasoner.ota.publish import model_custom, publish_model
from cloud_reasoner.ota.repository import Keys, Repository
from cloud_reasoner.ota.server import RepositoryServer
from cloud_reasoner.ota.updater import MAX_BOOT_ATTEMPTS, ModelUpdater, UpdateRefused
from perception.golden import check_golden, golden_record

MODEL = Path(__file__).resolve().parents[2] / "perception" / "models" / "segnet.onnx"


@pytest.fixture
def vehicle(tmp_path):
    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True))
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(tmp_path / "car", repo.root_bytes())
        yield repo, keys, ModelUpdater(tmp_path / "car", f"{server.url}/metadata/", f"{server.url}/targets/")


def _v7_proven_then_v8_active(repo, keys, updater, other_model) -> None:
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    updater.fetch("segnet.onnx")
    updater.activate()
    updater.mark_good()
    publish_model(repo, keys, other_model, "segnet.onnx", "8")
    updater.fetch("segnet.onnx")
    assert updater.activate()["activated"]


def test_the_golden_record_tells_a_different_model_from_the_same_one(other_model):
    record = golden_record(MODEL)
    assert check_golden(MODEL, record) is None
    assert "pixels changed class" in check_golden(other_model, record)
    assert check_golden(other_model, golden_record(other_model)) is None


def test_a_checked_model_drives_and_the_old_one_stays_its_fallback(vehicle, other_model):
    repo, keys, updater = vehicle
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    assert updater.fetch("segnet.onnx")["slot"] == "A"
    assert updater.activate() == {"activated": True, "slot": "A", "reason": ""}
    assert updater.boot()["path"].endswith("slots/A/segnet.onnx")
    updater.mark_good()
    publish_model(repo, keys, other_model, "segnet.onnx", "8")
    assert updater.fetch("segnet.onnx")["slot"] == "B"
    assert updater.activate()["activated"]
    state = updater.state()
    assert (state["active"], state["previous"], state["pending"]) == ("B", "A", None)
    assert [e["event"] for e in state["history"]] == [
        "fetched", "activated", "marked_good", "fetched", "activated"
    ]  # fmt: skip


def test_a_model_that_fails_its_golden_check_never_drives(vehicle, other_model):
    repo, keys, updater = vehicle
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    updater.fetch("segnet.onnx")
    updater.activate()
    updater.mark_good()
    # signed and intact, but it does not compute what its record says (a build that went wrong)
    repo.publish(other_model, "segnet.onnx", keys, model_custom(MODEL, "segnet.onnx", "8"))
    updater.fetch("segnet.onnx")
    result = updater.activate()
    assert not result["activated"] and "pixels changed class" in result["reason"]
    state = updater.state()
    assert state["active"] == "A" and state["pending"] is None and "rejected" in state["slots"]["B"]
    assert updater.boot()["path"].endswith("slots/A/segnet.onnx")


def test_a_new_model_never_marked_good_is_rolled_back_after_its_starts(vehicle, other_model):
    repo, keys, updater = vehicle
    _v7_proven_then_v8_active(repo, keys, updater, other_model)
    for _ in range(MAX_BOOT_ATTEMPTS):  # the stack starts and dies before its health window ends
        boot = updater.boot()
        assert boot["slot"] == "B" and not boot["rolled_back"]
    boot = updater.boot()
    assert boot["rolled_back"] and boot["slot"] == "A"
    state = updater.state()
    assert state["active"] == "A" and "starts without being marked good" in state["slots"]["B"]["rejected"]
    assert not updater.boot()["rolled_back"]  # A was good: it stays


def test_the_fallback_of_a_model_in_its_health_window_is_not_overwritten(vehicle, other_model):
    repo, keys, updater = vehicle
    _v7_proven_then_v8_active(repo, keys, updater, other_model)  # B runs, not yet good; A is its fallback
    publish_model(repo, keys, MODEL, "segnet.onnx", "9")
    with pytest.raises(UpdateRefused, match="health window"):
        updater.fetch("segnet.onnx")
    assert (
        hashlib.sha256((updater.dir / "slots/A/segnet.onnx").read_bytes()).hexdigest()
        == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    )


def test_a_slot_changed_on_disk_after_its_fetch_is_rejected(vehicle):
    repo, keys, updater = vehicle
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    path = Path(updater.fetch("segnet.onnx")["path"])
    path.write_bytes(path.read_bytes()[:-10])
    result = updater.activate()
    assert not result["activated"] and "no longer match the signed hash" in result["reason"]
    shipped = {"slot": None, "path": None, "version": None, "rolled_back": False, "proven": True}
    assert updater.boot() == shipped
    with pytest.raises(UpdateRefused, match="no pending update"):
        updater.activate()

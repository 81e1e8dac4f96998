"""The OTA path with real parts: a python-tuf repository on disk, served over HTTP on loopback, and a
vehicle's ngclient updater with A/B slots. Each attack TUF defends against is tried once and must be
refused with the slots and the state untouched."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError
from cloud_reasoner.ota.server import RepositoryServer
from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

MODEL = Path(__file__).resolve().parents[2] / "perception" / "models" / "segnet.onnx"


@pytest.fixture
def setup(tmp_path):
    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True))
    repo.publish(MODEL, "segnet.onnx", keys, {"model": "segnet.onnx", "version": "7"})
    with RepositoryServer(repo.dir, tmp_path / "keys") as server:
        ModelUpdater.provision(tmp_path / "car", repo.root_bytes())
        updater = ModelUpdater(tmp_path / "car", f"{server.url}/metadata/", f"{server.url}/targets/")
        yield repo, keys, server, updater


def test_a_published_model_reaches_the_inactive_slot_over_http(setup):
    repo, _keys, _server, updater = setup
    got = updater.fetch("segnet.onnx")
    assert got["slot"] == "A" and not got["unchanged"]
    assert Path(got["path"]).read_bytes() == MODEL.read_bytes()
    assert got["custom"] == {"model": "segnet.onnx", "version": "7"}
    state = updater.state()
    assert state["pending"] == "A" and state["active"] is None
    assert state["slots"]["A"]["sha256"] == repo.targets()["segnet.onnx"]["hashes"]["sha256"]
    # the repository's standard layout: consistent snapshots, targets stored under their hash
    names = sorted(p.name for p in (repo.dir / "metadata").iterdir())
    assert names == ["1.root.json", "1.snapshot.json", "1.targets.json", "2.snapshot.json", "2.targets.json",
                     "timestamp.json"]  # fmt: skip
    assert (repo.dir / "targets" / f"{got['sha256']}.segnet.onnx").is_file()


def test_root_is_two_of_three_offline_keys_and_every_key_file_is_private(setup, tmp_path):
    repo, _keys, _server, _updater = setup
    root = repo.load("root").signed
    assert len(root.roles["root"].keyids) == 3 and root.roles["root"].threshold == 2
    assert root.roles["snapshot"].keyids == root.roles["timestamp"].keyids  # the one online key
    assert not set(root.roles["root"].keyids) & set(root.roles["targets"].keyids)
    pems = sorted((tmp_path / "keys").rglob("*.pem"))
    assert len(pems) == 5 and all(p.stat().st_mode & 0o777 == 0o600 for p in pems)
    pems[0].chmod(0o644)
    with pytest.raises(RepositoryError, match="readable by others"):
        Keys.load(tmp_path / "keys", offline=True)
    with pytest.raises(RepositoryError, match="already holds keys"):
        Keys.generate(tmp_path / "keys")


def test_a_tampered_target_is_refused_and_never_lands_in_a_slot(setup):
    repo, _keys, _server, updater = setup
    stored = next((repo.dir / "targets").iterdir())
    data = bytearray(stored.read_bytes())
    data[1000] ^= 0x01
    stored.write_bytes(bytes(data))
    before = updater.state()
    with pytest.raises(UpdateRefused, match="LengthOrHashMismatch"):
        updater.fetch("segnet.onnx")
    assert updater.state() == before
    assert not (updater.dir / "slots" / "A" / "segnet.onnx").exists()


def test_metadata_signed_by_a_key_the_root_does_not_trust_is_refused(setup, tmp_path):
    repo, _keys, _server, updater = setup
    intruder = Keys.generate(tmp_path / "intruder")
    repo.refresh_timestamp(intruder)  # a mirror re-signs the timestamp with a key of its own
    with pytest.raises(UpdateRefused, match=r"UnsignedMetadata.*0/1"):
        updater.fetch("segnet.onnx")
    assert updater.state()["pending"] is None


def test_an_expired_timestamp_is_refused_until_the_server_refreshes_it(setup):
    repo, keys, server, updater = setup
    repo.refresh_timestamp(keys, expires_in=timedelta(seconds=-60))  # a frozen mirror
    with pytest.raises(UpdateRefused, match="Expired"):
        updater.fetch("segnet.onnx")
    assert server.refresh_if_due()  # less than half its day left: the server re-signs it
    assert not server.refresh_if_due()
    assert updater.fetch("segnet.onnx")["slot"] == "A"


def test_old_metadata_served_again_is_refused_as_a_rollback(setup, tmp_path):
    repo, keys, _server, updater = setup
    updater.fetch("segnet.onnx")
    old = tmp_path / "timestamp.old.json"
    shutil.copyfile(repo.dir / "metadata" / "timestamp.json", old)
    repo.publish(MODEL, "segnet-copy.onnx", keys)
    updater.fetch("segnet-copy.onnx")  # the vehicle has now seen the newer timestamp
    shutil.copyfile(old, repo.dir / "metadata" / "timestamp.json")
    with pytest.raises(UpdateRefused, match="BadVersionNumber"):
        updater.fetch("segnet.onnx")


def test_a_root_signed_below_its_threshold_is_not_a_trust_anchor(tmp_path):
    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True), root_signers=1)
    repo.publish(MODEL, "segnet.onnx", keys)
    assert len(json.loads(repo.root_bytes())["signatures"]) == 1
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(tmp_path / "car", repo.root_bytes())
        updater = ModelUpdater(tmp_path / "car", f"{server.url}/metadata/", f"{server.url}/targets/")
        with pytest.raises(UpdateRefused, match="root was signed by 1/2"):
            updater.fetch("segnet.onnx")


def test_unreachable_repository_and_unknown_target_are_one_line_refusals(setup, tmp_path):
    _repo, _keys, _server, updater = setup
    with pytest.raises(UpdateRefused, match="not in the repository"):
        updater.fetch("no-such-model.onnx")
    lost = ModelUpdater(updater.dir, "http://127.0.0.1:9/metadata/", "http://127.0.0.1:9/targets/")
    with pytest.raises(UpdateRefused, match="unreachable"):
        lost.fetch("segnet.onnx")
    with pytest.raises(UpdateRefused, match="provision"):
        ModelUpdater(tmp_path / "new-car", "http://x/", "http://x/")
    with pytest.raises(UpdateRefused, match="different trusted root"):
        ModelUpdater.provision(updater.dir, b"{}")

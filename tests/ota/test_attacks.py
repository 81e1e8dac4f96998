"""Issue 20, acceptance 1: the attacks TUF defends against, each on a real served repository, each written
against the files on disk (or with python-tuf's own API and a key an attacker holds), never through the
project's repository code. After each: the update is rejected, the reason names the attack's error class,
and the vehicle's active model is the one it had, its bytes verified."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from cloud_reasoner.ota.publish import publish_model
from cloud_reasoner.ota.repository import Keys, Repository
from cloud_reasoner.ota.server import RepositoryServer
from cloud_reasoner.ota.updater import ModelUpdater

from .conftest import MODEL


@pytest.fixture
def fleet(proven_fleet_model, tmp_path, other_model):
    """A vehicle running v7 (installed, marked good); the repository has just published v8."""
    repo, keys, car = proven_fleet_model
    saved = tmp_path / "repo-v7"
    shutil.copytree(repo.dir, saved)  # what an attacker may have mirrored before v8
    publish_model(repo, keys, other_model, "segnet.onnx", "8")
    return repo, car, saved, tmp_path / "keys"


def _update_after_attack(car: ModelUpdater) -> tuple[dict, dict, dict]:
    """(the update's result, the active slot before, the active slot after)."""
    before = car.status()["active"]
    result = car.update("segnet.onnx")
    return result, before, car.status()["active"]


def _refused_and_unchanged(attempt: tuple[dict, dict, dict], attack_class: str) -> bool:
    """Rejected, naming the attack's error class, and the vehicle still on its verified v7."""
    result, before, after = attempt
    return (
        result["result"] == "rejected"
        and attack_class in result["reason"]
        and after == before
        and after["version"] == "7"
        and after["verified"]
    )


def _metadata(repo: Repository, role: str) -> Path:
    if role == "timestamp":
        return repo.metadata_dir / "timestamp.json"
    return max(repo.metadata_dir.glob(f"*.{role}.json"), key=lambda p: int(p.name.split(".")[0]))


def _v8_target(repo: Repository) -> Path:
    sha = json.loads(_metadata(repo, "targets").read_text())["signed"]["targets"]["segnet.onnx"]["hashes"][
        "sha256"
    ]
    return repo.targets_dir / f"{sha}.segnet.onnx"


def test_target_replaced_with_the_same_length(fleet):
    repo, car, _saved, _keys = fleet
    path = _v8_target(repo)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    attempt = _update_after_attack(car)
    assert _refused_and_unchanged(attempt, "LengthOrHashMismatch"), attempt


def test_target_replaced_with_another_length(fleet):
    repo, car, _saved, _keys = fleet
    _v8_target(repo).write_bytes(MODEL.read_bytes()[:50_000])
    attempt = _update_after_attack(car)
    assert _refused_and_unchanged(attempt, "LengthOrHashMismatch"), attempt


def test_target_longer_than_its_metadata_says_endless_data(fleet):
    repo, car, _saved, _keys = fleet
    with _v8_target(repo).open("ab") as f:
        f.write(b"\0" * 5_000_000)  # the download stops at the signed length
    attempt = _update_after_attack(car)
    assert _refused_and_unchanged(attempt, "DownloadLengthMismatch"), attempt


def test_targets_metadata_edited_without_re_signing(fleet, other_model):
    repo, car, _saved, _keys = fleet
    path = _metadata(repo, "targets")
    doc = json.loads(path.read_text())
    doc["signed"]["targets"]["segnet.onnx"]["custom"]["version"] = "8-but-trust-me"
    path.write_text(json.dumps(doc))
    attempt = _update_after_attack(car)
    assert _refused_and_unchanged(attempt, "UnsignedMetadata"), attempt


def test_older_metadata_served_from_a_saved_copy_rollback(fleet):
    repo, car, saved, _keys = fleet
    assert car.update("segnet.onnx")["result"] == "installed"  # the vehicle sees v8's metadata
    car.rollback("back to 7 for this test")
    car_state = car.status()["active"]
    shutil.rmtree(repo.metadata_dir)
    shutil.copytree(saved / "metadata", repo.metadata_dir)  # the mirror serves the older repository
    result = car.update("segnet.onnx")
    assert result["result"] == "rejected" and "BadVersionNumber" in result["reason"], result
    assert car.status()["active"] == car_state


def test_an_expired_timestamp_freeze(fleet):
    repo, car, _saved, keys_dir = fleet
    online = CryptoSigner(load_pem_private_key((keys_dir / "online" / "online.pem").read_bytes(), None))
    ts = Metadata.from_file(str(_metadata(repo, "timestamp")))
    ts.signed.expires = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    ts.signatures.clear()
    ts.sign(online)  # validly signed, but old: what a frozen mirror keeps serving
    ts.to_file(str(_metadata(repo, "timestamp")), serializer=JSONSerializer())
    attempt = _update_after_attack(car)
    assert _refused_and_unchanged(attempt, "ExpiredMetadata"), attempt


def test_snapshot_and_targets_from_two_repository_states_mix_and_match(fleet):
    repo, car, saved, _keys = fleet
    # the newest targets file replaced by the previous state's (the snapshot names the newer version)
    newest = _metadata(repo, "targets")
    older = max((saved / "metadata").glob("*.targets.json"), key=lambda p: int(p.name.split(".")[0]))
    shutil.copyfile(older, newest)
    attempt = _update_after_attack(car)
    assert _refused_and_unchanged(attempt, "BadVersionNumber"), attempt


def test_a_root_signed_by_one_of_its_three_keys_is_refused(tmp_path):
    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True))
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    root_path = repo.metadata_dir / "1.root.json"
    root = Metadata.from_file(str(root_path))
    first = next(iter(root.signatures))
    root.signatures = {first: root.signatures[first]}  # the attacker holds one root key
    root.to_file(str(root_path), serializer=JSONSerializer())
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(tmp_path / "car", root_path.read_bytes())
        car = ModelUpdater(tmp_path / "car", f"{server.url}/metadata/", f"{server.url}/targets/")
        result = car.update("segnet.onnx")
    assert result["result"] == "rejected" and "root was signed by 1/2" in result["reason"], result
    assert result["active"] is None  # nothing was installed

"""Key rotation end to end (issue 20): new targets and online keys and a new root key, named by a new root
that the root threshold signs; a vehicle provisioned with the first root follows the chain and keeps
updating, and the retired online key can no longer sign anything it accepts."""

from __future__ import annotations

import json

from cloud_reasoner.ota.publish import publish_model
from cloud_reasoner.ota.repository import Keys, Repository
from cloud_reasoner.ota.server import RepositoryServer
from cloud_reasoner.ota.updater import ModelUpdater

from .conftest import MODEL


def test_rotated_keys_keep_a_vehicle_updating_and_retire_the_old_ones(tmp_path, other_model):
    keys_dir = tmp_path / "keys"
    keys = Keys.generate(keys_dir)
    repo = Repository.init(tmp_path / "repo", Keys.load(keys_dir, offline=True))
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(tmp_path / "car", repo.root_bytes())  # trusts root v1, for good
        car = ModelUpdater(tmp_path / "car", f"{server.url}/metadata/", f"{server.url}/targets/")
        assert car.update("segnet.onnx")["result"] == "installed"
        car.mark_good()
        old = Keys.load(keys_dir, offline=True)

        new = repo.rotate_keys(keys_dir, roles=("targets", "online"), root_key=3)
        root = repo.load("root").signed
        assert root.version == 2
        assert root.roles["timestamp"].keyids == [new.online.public_key.keyid]
        assert old.root[2].public_key.keyid not in root.roles["root"].keyids
        assert sorted(p.name for p in (keys_dir / "online").glob("*.retired-*")) == [
            "online.pem.retired-root-v2", "targets.pem.retired-root-v2"
        ]  # fmt: skip
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in keys_dir.rglob("*.pem"))

        publish_model(repo, Keys.load(keys_dir), other_model, "segnet.onnx", "8")
        result = car.update("segnet.onnx")
        assert result["result"] == "installed" and result["active"]["version"] == "8", result
        assert json.loads((car.metadata_dir / "root.json").read_text())["signed"]["version"] == 2
        car.mark_good()

        repo.refresh_timestamp(old)  # whoever kept the retired online key
        result = car.update("segnet.onnx")
        assert result["result"] == "rejected" and "UnsignedMetadata" in result["reason"], result
        assert car.status()["active"]["version"] == "8"

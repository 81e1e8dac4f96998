"""Shared by the OTA tests: a second real model (the shipped one with changed weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

MODEL = Path(__file__).resolve().parents[2] / "perception" / "models" / "segnet.onnx"


@pytest.fixture(scope="session")
def other_model(tmp_path_factory) -> Path:
    """The shipped model with its classifier weights changed: loads and runs, computes something else."""
    import onnx  # the train extra, which `make install` always installs
    from onnx import numpy_helper

    model = onnx.load(str(MODEL))
    for i, t in enumerate(model.graph.initializer):
        if t.name == "net.classifier.weight":
            w = numpy_helper.to_array(t)
            w = w + np.random.default_rng(0).normal(0.0, 0.5 * float(np.abs(w).mean()), w.shape).astype(
                w.dtype
            )
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, t.name))
    path = tmp_path_factory.mktemp("models") / "segnet-other.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def proven_fleet_model(tmp_path):
    """A served repository whose segnet.onnx (v7, the shipped model) a vehicle has installed and proven.
    Yields (repo, keys, the vehicle's updater); the server runs until the test ends."""
    from cloud_reasoner.ota.publish import publish_model
    from cloud_reasoner.ota.repository import Keys, Repository
    from cloud_reasoner.ota.server import RepositoryServer
    from cloud_reasoner.ota.updater import ModelUpdater

    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True))
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(tmp_path / "car", repo.root_bytes())
        car = ModelUpdater(tmp_path / "car", f"{server.url}/metadata/", f"{server.url}/targets/")
        assert car.update("segnet.onnx")["result"] == "installed"
        car.mark_good()
        yield repo, keys, car

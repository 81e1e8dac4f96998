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

"""The ONNX export reproduces the pretrained numpy policy of the installed pybullet package."""

from __future__ import annotations

import ast

import numpy as np
import onnx
import pytest

from contracts.errors import ModelFileError
from planning.locomotion import ACT_DIM, OBS_DIM, LocomotionPolicy
from planning.locomotion_export import export, find_policy_source, read_policy_source


def _arrays_read_here() -> dict[str, np.ndarray]:
    """The six weight arrays, parsed independently of planning.locomotion_export."""
    tree = ast.parse(find_policy_source().read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "").startswith("weights_"):
            out[node.targets[0].id] = np.array(ast.literal_eval(node.value.args[0]), dtype=np.float64)
    return out


def _numpy_mlp(a: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    x = np.maximum(x @ a["weights_dense1_w"] + a["weights_dense1_b"], 0)
    x = np.maximum(x @ a["weights_dense2_w"] + a["weights_dense2_b"], 0)
    return x @ a["weights_final_w"] + a["weights_final_b"]


def test_onnx_equals_numpy_mlp(policy: LocomotionPolicy):
    a = _arrays_read_here()
    assert sorted(a) == sorted(f"weights_{n}_{k}" for n in ("dense1", "dense2", "final") for k in "wb")
    rng = np.random.default_rng(0)
    # observation-like inputs (the environment's values are mostly within ±1)
    obs = rng.uniform(-1.0, 1.0, size=(500, OBS_DIM)).astype(np.float32)
    ref = _numpy_mlp(a, obs.astype(np.float64))
    single = np.stack([policy.act(o) for o in obs[:50]])
    batch = policy.act(obs)
    assert batch.shape == (500, ACT_DIM) and single.shape == (50, ACT_DIM)
    np.testing.assert_allclose(batch, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(single, ref[:50], rtol=0, atol=1e-5)
    # over the whole clipped range the float32 graph stays within float32 rounding of the output size
    wide = rng.uniform(-5.0, 5.0, size=(500, OBS_DIM)).astype(np.float32)
    ref_wide = _numpy_mlp(a, wide.astype(np.float64))
    assert np.abs(policy.act(wide) - ref_wide).max() <= 1e-6 * np.abs(ref_wide).max() + 1e-5


def test_export_writes_a_checked_model(tmp_path):
    out = export(tmp_path / "sub" / "loco.onnx")
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["source_sha256"] == read_policy_source().source_sha256
    pol = LocomotionPolicy(out)
    x = np.linspace(-1, 1, OBS_DIM, dtype=np.float32)
    np.testing.assert_allclose(pol.act(x), read_policy_source().forward(x), atol=1e-5)


def _patched_source(tmp_path, old: str, new: str):
    text = find_policy_source().read_text()
    assert old in text
    path = tmp_path / "policy.py"
    path.write_text(text.replace(old, new, 1))
    return path


def test_export_rejects_a_changed_network(tmp_path):
    # an activation on the output layer would make the graph wrong: refuse
    src = _patched_source(
        tmp_path,
        "x = np.dot(x, weights_final_w) + weights_final_b",
        "x = relu(np.dot(x, weights_final_w) + weights_final_b)",
    )
    with pytest.raises(ValueError, match="structure"):
        read_policy_source(src)
    src = _patched_source(tmp_path, "weights_final_b = np.array(", "weights_other_b = np.array(")
    with pytest.raises(ValueError, match="weights_final_b"):
        read_policy_source(src)


def test_missing_or_corrupt_model_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        LocomotionPolicy(tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        LocomotionPolicy(corrupt)


def test_act_rejects_bad_observations(policy: LocomotionPolicy):
    with pytest.raises(ValueError, match="shape"):
        policy.act(np.zeros(43))
    bad = np.zeros(OBS_DIM)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        policy.act(bad)

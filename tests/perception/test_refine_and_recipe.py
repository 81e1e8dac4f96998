"""Growing a trained network a refinement head, and the recipe chain a fine-tuned model's card names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perception.train import load_init_state
from perception.train import main as train_main
from sim import datagen

torch = pytest.importorskip("torch")


def test_refine_head_starts_as_a_no_op_on_a_trained_network():
    from perception.model import SegNetLite

    torch.manual_seed(0)
    base = SegNetLite(width=4).eval()
    grown = SegNetLite(width=4, refine=4).eval()
    load_init_state(grown, base.state_dict())
    x = torch.randn(1, 3, 24, 32)
    with torch.no_grad():
        np.testing.assert_allclose(grown(x).numpy(), base(x).numpy(), atol=1e-6)
    # but it is trainable capacity: its parameters get gradients
    grown.train()
    grown(x).sum().backward()
    assert grown.refine[0].pointwise[0].weight.grad is not None


def test_init_weights_of_another_width_are_rejected():
    from perception.model import SegNetLite

    with pytest.raises(ValueError, match="do not fit"):
        load_init_state(SegNetLite(width=4), SegNetLite(width=8).state_dict())
    with pytest.raises(ValueError, match="refine"):
        SegNetLite(width=4, refine=-1)


def test_train_main_chains_its_recipe_through_init(tmp_path, monkeypatch, synthetic_frames):
    def render(seed, frames, profile="car"):
        return synthetic_frames(frames, seed + (0 if profile == "car" else 100))

    monkeypatch.setattr(datagen, "render_scene", render)
    common = ["--data", str(tmp_path / "d"), "--seeds", "10:12", "--eval-seeds", "0:2"]
    common += [
        "--frames-per-seed",
        "2",
        "--eval-frames-per-seed",
        "2",
        "--humanoid-eval-frames-per-seed",
        "1",
    ]
    common += ["--epochs", "1", "--batch-size", "4", "--width", "4", "--threads", "1", "--no-progress"]
    stage1 = [*common, "--out", str(tmp_path / "s1" / "m.onnx"), "--save-weights", str(tmp_path / "w1.pt")]
    assert train_main(stage1) == 0
    stage2 = [*common, "--refine", "4", "--init", str(tmp_path / "w1.pt"), "--also-eval-seeds", "2:4"]
    stage2 += ["--out", str(tmp_path / "s2" / "m.onnx"), "--save-weights", str(tmp_path / "w2.pt")]
    assert train_main(stage2) == 0
    meta = json.loads((tmp_path / "s2" / "m.json").read_text())
    assert len(meta["reproduce"]) == 2
    assert "--save-weights" in meta["reproduce"][0] and "--init" in meta["reproduce"][1]
    assert meta["refine"] == 4 and meta["profile"] == "train"
    assert len(meta["extra_metrics"]) == 2  # seeds 2:4 (car) and the humanoid view
    card = (tmp_path / "s2" / "MODEL_CARD.md").read_text()
    assert "Run in order" in card and "Humanoid head camera" in card and "Held-out car seeds 2:4" in card
    with pytest.raises(SystemExit):  # a second held-out range may not overlap training
        train_main([*common, "--also-eval-seeds", "11:13", "--out", str(tmp_path / "s3" / "m.onnx")])

import json

import numpy as np
import pytest

from perception import dataset
from perception.classes import NAMES
from perception.evaluate import confusion_matrix, evaluate, evaluate_arrays, iou_from_confusion
from perception.pipeline import Perceiver
from perception.train import class_weights, train_model
from perception.train import main as train_main
from perception.types import LightState, PerceptionOutput
from sim import datagen


def test_shard_round_trip(tmp_path, synthetic_frames):
    rgb, labels = synthetic_frames(5, seed=1)
    dataset.write_shard(tmp_path / "shard_00001_00002.npz", rgb, labels, np.array([1, 1, 1, 2, 2]))
    r, lab, s = dataset.load(tmp_path)
    np.testing.assert_array_equal(r, rgb)
    np.testing.assert_array_equal(lab, labels)
    assert s.tolist() == [1, 1, 1, 2, 2]
    r2, _, s2 = dataset.load(tmp_path, seeds=[2])
    assert len(r2) == 2 and set(s2.tolist()) == {2}
    with pytest.raises(ValueError, match="no frames"):
        dataset.load(tmp_path, seeds=[7])
    with pytest.raises(FileNotFoundError, match="no shards"):
        dataset.load(tmp_path / "empty")


@pytest.fixture
def fake_sim(monkeypatch, synthetic_frames):
    calls = []

    def render(seed, frames, profile="car"):
        calls.append(seed)
        return synthetic_frames(frames, seed)

    monkeypatch.setattr(datagen, "render_scene", render)
    return calls


def test_generate_is_deterministic_and_reuses_shards(tmp_path, fake_sim):
    out = datagen.generate(tmp_path / "a", range(3), 2, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["frames_per_seed"] == 2
    assert sum(len(v) for v in manifest["shards"].values()) == 3
    r1, _l1, s1 = dataset.load(out)
    assert r1.shape == (6, 120, 160, 3) and s1.tolist() == [0, 0, 1, 1, 2, 2]
    n_calls = len(fake_sim)
    datagen.generate(tmp_path / "a", range(3), 2, progress=False)
    assert len(fake_sim) == n_calls  # cached
    datagen.generate(tmp_path / "b", range(3), 2, progress=False)
    r2, _l2, _ = dataset.load(tmp_path / "b")
    np.testing.assert_array_equal(r1, r2)
    with pytest.raises(ValueError, match="duplicates"):
        datagen.generate(tmp_path / "c", [1, 1], 2, progress=False)


def test_iou_accounting():
    label = np.array([[0, 1], [1, 2]], np.uint8)
    pred = np.array([[0, 1], [2, 2]], np.uint8)
    out = iou_from_confusion(confusion_matrix(pred, label))
    assert out["per_class_iou"]["background"] == 1.0
    assert out["per_class_iou"]["road"] == pytest.approx(0.5)
    assert out["per_class_iou"]["lane_marking"] == pytest.approx(0.5)
    assert out["per_class_iou"]["vehicle"] is None  # absent from both: excluded from the mean
    assert out["miou"] == pytest.approx((1.0 + 0.5 + 0.5) / 3)


def test_evaluate_returns_keys(tiny_model, fake_sim):
    _, path = tiny_model
    out = evaluate([0, 1], model_path=path, frames_per_seed=2)
    for key in ("miou", "per_class_iou", "latency_ms", "frames", "seeds"):
        assert key in out
    assert out["frames"] == 4 and out["seeds"] == [0, 1]
    assert set(out["per_class_iou"]) == set(NAMES)
    assert out["latency_ms"]["p50"] > 0 and out["latency_ms"]["p99"] >= out["latency_ms"]["p50"]


def test_one_step_training_smoke(synthetic_frames):
    rgb, labels = synthetic_frames(4, seed=2)
    _net, hist = train_model(
        rgb, labels, epochs=1, batch_size=4, width=4, threads=1, progress=False, max_steps=1
    )
    assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0])
    w = class_weights(labels)
    assert w[2] > w[1]  # rare lane marking weighs more than road


def test_train_main_rejects_overlapping_seeds():
    with pytest.raises(SystemExit):
        train_main(["--seeds", "0:30", "--eval-seeds", "10:20"])


def test_pipeline_outputs(tiny_model, make_camera, synthetic_frames):
    _, path = tiny_model
    cam = make_camera()
    perceiver = Perceiver(cam, model_path=path)
    rgb, _ = synthetic_frames(1, seed=4)
    out = perceiver.process(123, rgb[0])
    assert isinstance(out, PerceptionOutput)
    assert out.stamp_ns == 123 and 0.0 < out.confidence <= 1.0 and out.latency_ms > 0
    assert out.grid.classes.shape == (80, 160)
    assert out.traffic_light.state in tuple(LightState)


def test_pipeline_rejects_a_frame_that_is_not_this_cameras(tiny_model, make_camera, synthetic_frames):
    """An image of another size or type is FrameRejected("size"), not an error deep in onnxruntime."""
    from contracts.messages import FrameRejected

    perceiver = Perceiver(make_camera(), model_path=tiny_model[1])
    rgb, _ = synthetic_frames(1, seed=4)
    for bad in (rgb[0][::2, ::2], rgb[0].astype(np.float32), rgb[0][..., :2]):
        with pytest.raises(FrameRejected) as err:
            perceiver.process(1, bad)
        assert err.value.reason == "size"
    assert perceiver.process(2, rgb[0]).stamp_ns == 2  # and it goes on


def test_pipeline_rejects_camera_model_mismatch(tiny_model, make_camera):
    from dataclasses import replace

    with pytest.raises(ValueError, match="model expects"):
        Perceiver(replace(make_camera(), width=320), model_path=tiny_model[1])


def test_evaluate_arrays_rejects_mismatch(tiny_model, synthetic_frames):
    rgb, labels = synthetic_frames(2, seed=0)
    with pytest.raises(ValueError, match="matching"):
        evaluate_arrays(rgb, labels[:1], model_path=tiny_model[1])


def test_render_scene_from_sim_is_deterministic():
    pytest.importorskip("sim.engine")
    from perception.classes import NUM_CLASSES

    rgb1, lab1 = datagen.render_scene(2, 2)
    rgb2, lab2 = datagen.render_scene(2, 2)
    assert rgb1.shape == (2, 120, 160, 3) and rgb1.dtype == np.uint8
    assert lab1.shape == (2, 120, 160) and lab1.max() < NUM_CLASSES
    np.testing.assert_array_equal(rgb1, rgb2)
    np.testing.assert_array_equal(lab1, lab2)
    assert not np.array_equal(datagen.render_scene(3, 1)[0][0], rgb1[0])


def test_model_card_is_written(tmp_path):
    from perception.train import write_model_card

    per_class = dict.fromkeys(NAMES, 0.5)
    per_class["tl_yellow"] = None
    meta = {
        "width": 16,
        "classes": NAMES,
        "input": {"height": 120, "width": 160},
        "size_bytes": 120000,
        "train_seeds": "1000:1400",
        "frames_per_seed": 8,
        "train_frames": 3200,
        "eval_seeds": "0:20",
        "eval_frames_per_seed": 8,
        "command": "fleetpilot train perception --epochs 1",
        "epochs": 1,
        "timing_s": {"data": 1.0, "train": 2.0},
        "metrics": {
            "miou": 0.5,
            "per_class_iou": per_class,
            "pixel_accuracy": 0.9,
            "frames": 160,
            "latency_ms": {"p50": 2.0, "p99": 3.0},
        },
    }
    write_model_card(meta, tmp_path / "MODEL_CARD.md")
    text = (tmp_path / "MODEL_CARD.md").read_text()
    assert "1000:1400" in text and "fleetpilot train perception --epochs 1" in text
    assert "| tl_yellow | n/a (absent) |" in text

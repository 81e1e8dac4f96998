import numpy as np
import pytest

from cloud_reasoner.fleet.blobs import digest_of
from cloud_reasoner.fleet.jobs import (
    EVALUATE_MODEL,
    SEGMENT_STATS,
    JobSpec,
    ModelCache,
    Stopped,
    execute,
    make_shard,
)
from cloud_reasoner.fleet.validation import parse_result, results_agree
from perception.dataset import CAMERA_HEIGHT, CAMERA_WIDTH
from perception.inference import DEFAULT_MODEL_PATH, SegmentationModel


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(6, CAMERA_HEIGHT, CAMERA_WIDTH, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def models():
    return ModelCache(threads=1)


def test_segment_stats_is_deterministic_and_resumable(frames, models):
    shard = make_shard(frames)
    blobs = {digest_of(shard): shard}
    spec = JobSpec("j1", SEGMENT_STATS, digest_of(shard), {"low_confidence_threshold": 0.99})
    full = execute(spec, blobs.__getitem__, models=models)
    doc = parse_result(full)
    assert doc["frames"] == 6 and len(doc["class_fraction"]) == 6
    assert all(abs(sum(f) - 1.0) < 1e-3 for f in doc["class_fraction"])
    assert doc["low_confidence_frames"] == [i for i, c in enumerate(doc["mean_confidence"]) if c < 0.99]
    calls = {"n": 0}

    def stop_after_three():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Stopped) as stopped:
        execute(spec, blobs.__getitem__, models=models, should_stop=stop_after_three)
    resumed = execute(spec, blobs.__getitem__, models=models, checkpoint=stopped.value.checkpoint)
    assert resumed == full  # same bytes, hence the same digest


def test_evaluate_model_against_its_own_predictions_is_perfect(frames, models):
    model = SegmentationModel(threads=1)
    labels = np.stack([model.predict(f)[0] for f in frames])
    shard = make_shard(frames, labels)
    onnx = DEFAULT_MODEL_PATH.read_bytes()
    blobs = {digest_of(shard): shard, digest_of(onnx): onnx}
    spec = JobSpec("e1", EVALUATE_MODEL, digest_of(shard), {"model_digest": digest_of(onnx)})
    doc = parse_result(execute(spec, blobs.__getitem__, models=models))
    assert doc["miou"] == pytest.approx(1.0) and doc["pixel_accuracy"] == pytest.approx(1.0)
    wrong = make_shard(frames, (labels + 1) % 10)
    blobs[digest_of(wrong)] = wrong
    bad = parse_result(
        execute(JobSpec("e2", EVALUATE_MODEL, digest_of(wrong), spec.params), blobs.__getitem__)
    )
    assert bad["miou"] < 0.5 and not results_agree(doc, bad)


def test_corrupt_shard_is_rejected(frames, models):
    shard = make_shard(frames)
    with pytest.raises(ValueError, match="hash to"):
        execute(JobSpec("j", SEGMENT_STATS, digest_of(shard)), lambda d: shard[:-1] + b"x", models=models)

"""Shadow mode (perception/shadow.py): a candidate on the same frames, never holding up the caller."""

from __future__ import annotations

import time

import numpy as np
import pytest

from perception.classes import NUM_CLASSES, Cls
from perception.inference import DEFAULT_MODEL_PATH, SegmentationModel
from perception.shadow import ShadowRunner, class_iou


def test_class_iou_per_class_and_nan_where_neither_has_it():
    a = np.array([[0, 0, 1, 1]], np.uint8)
    b = np.array([[0, 1, 1, 1]], np.uint8)
    iou = class_iou(a, b)
    assert iou[0] == 0.5 and iou[1] == 2 / 3 and np.isnan(iou[2:]).all() and len(iou) == NUM_CLASSES


def _wait_for(runner: ShadowRunner, frames: int) -> None:
    deadline = time.monotonic() + 10
    while runner.summary()["shadow_frames"] < frames and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_same_model_in_shadow_agrees_and_a_busy_shadow_drops_instead_of_waiting():
    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    active = SegmentationModel().predict(rgb)[0]
    runner = ShadowRunner(DEFAULT_MODEL_PATH)
    try:
        assert runner.submit(rgb, active)
        _wait_for(runner, 1)
        s = runner.summary()
        assert s["shadow_frames"] == 1 and s["shadow_disagreement"] == 0.0
        assert all(v == 1.0 for v in s["shadow_class_iou"].values())
        t0 = time.perf_counter()
        accepted = [runner.submit(rgb, active) for _ in range(50)]  # faster than it can run them
        assert time.perf_counter() - t0 < 0.05  # the caller never waits for the shadow
        assert accepted[0] and not all(accepted)
        assert runner.summary()["shadow_frames_dropped"] == accepted.count(False)
    finally:
        runner.close()


def test_a_candidate_that_differs_is_measured_as_different():
    rgb = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    active = SegmentationModel().predict(rgb)[0]
    wrong = np.where(active == Cls.ROAD, Cls.SIDEWALK, active).astype(np.uint8)  # what a mix-up would give
    runner = ShadowRunner(DEFAULT_MODEL_PATH)
    try:
        runner.submit(rgb, wrong)
        _wait_for(runner, 1)
        s = runner.summary()
        assert s["shadow_disagreement"] == pytest.approx(
            np.count_nonzero(active == Cls.ROAD) / active.size, abs=1e-5
        )
    finally:
        runner.close()

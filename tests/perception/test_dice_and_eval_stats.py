"""Soft-Dice training term and the evaluation's resolution statistics."""

from __future__ import annotations

import numpy as np
import pytest

from perception.classes import NUM_CLASSES
from perception.evaluate import half_resolution_oracle, object_pixel_stats
from perception.train import soft_dice_loss

torch = pytest.importorskip("torch")


def _logits_for(labels: np.ndarray, scale: float) -> torch.Tensor:
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]  # N,H,W,C
    return torch.from_numpy(onehot * scale).permute(0, 3, 1, 2)


def test_soft_dice_is_small_for_confident_correct_and_large_for_wrong():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, NUM_CLASSES, (2, 8, 8))
    target = torch.from_numpy(labels).long()
    right = float(soft_dice_loss(_logits_for(labels, 20.0), target))
    wrong = float(soft_dice_loss(_logits_for((labels + 1) % NUM_CLASSES, 20.0), target))
    assert right < 0.01
    assert wrong > 0.9


def test_soft_dice_weighs_a_tiny_class_like_a_big_one():
    labels = np.zeros((1, 16, 16), np.int64)
    labels[0, 0, 0] = 5  # one pedestrian pixel
    target = torch.from_numpy(labels).long()
    missed = labels.copy()
    missed[0, 0, 0] = 0
    # missing 1 pixel of 256 costs ~0.25: the pedestrian's Dice drops to 0.5 (smoothing 1), mean of 2 classes
    loss = float(soft_dice_loss(_logits_for(missed, 20.0), target))
    assert 0.2 < loss < 0.3


def test_object_pixel_stats_counts_frames_and_median():
    labels = np.zeros((3, 10, 10), np.uint8)
    labels[0, :2, :2] = 5  # 4 px
    labels[1, :3, :4] = 5  # 12 px
    stats = object_pixel_stats(labels)
    assert stats["pedestrian"] == {"frames": 2, "median_px": 8.0}
    assert stats["vehicle"] == {"frames": 0, "median_px": 0.0}


def test_half_resolution_oracle_is_exact_on_2x2_blocks_and_loses_single_pixels():
    labels = np.zeros((1, 8, 8), np.uint8)
    labels[0, 2:4, 4:6] = 4  # aligned 2x2 block survives subsampling
    assert half_resolution_oracle(labels)["per_class_iou"]["vehicle"] == pytest.approx(1.0)
    labels[0, 5, 5] = 5  # an odd-pixel object vanishes
    assert half_resolution_oracle(labels)["per_class_iou"]["pedestrian"] == pytest.approx(0.0)

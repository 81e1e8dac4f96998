"""Golden inputs of a segmentation model: what the OTA publisher records next to a model and what a
vehicle checks before the model may drive (issue 20).

The inputs are synthetic and rebuilt from a seed (no image travels with the model): a sky-to-ground
gradient with a darker band where a road would be, plus noise, so the model produces several classes
rather than one. The expected output is each image's per-class pixel count; a model on the vehicle
passes when, for every image, at most `tolerance_ppm` pixels per million change class (the same model
under another onnxruntime build differs by a few boundary pixels; a different model by many).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.classes import NUM_CLASSES

GOLDEN_SEED = 0
GOLDEN_IMAGES = 4
# integers only: TUF signs canonical JSON, which has no floats
TOLERANCE_PPM = 2000  # 0.2 % of the pixels


def golden_images(height: int, width: int, seed: int = GOLDEN_SEED, count: int = GOLDEN_IMAGES) -> np.ndarray:
    """(count, H, W, 3) uint8, the same for the same arguments on every machine."""
    rng = np.random.default_rng([seed, 0x601D])
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    images = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        sky, ground = rng.uniform(120, 230, 3), rng.uniform(40, 140, 3)
        base = sky * (1.0 - rows) + ground * rows  # (H, 1, 3)
        horizon = int(height * rng.uniform(0.35, 0.55))
        left, right = sorted(rng.integers(0, width, 2))
        img = np.broadcast_to(base, (height, width, 3)).copy()
        img[horizon:, left : right + 1] *= 0.55  # a darker band: something road-like
        img += rng.normal(0.0, 6.0, img.shape)
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images


def class_counts(model, images: np.ndarray) -> list[list[int]]:
    return [np.bincount(model.predict(img)[0].ravel(), minlength=NUM_CLASSES).tolist() for img in images]


def golden_record(model_path: Path, *, seed: int = GOLDEN_SEED, count: int = GOLDEN_IMAGES) -> dict:
    """What the publisher writes into the target's custom metadata."""
    from perception.inference import SegmentationModel

    model = SegmentationModel(model_path)
    images = golden_images(model.height, model.width, seed, count)
    return {
        "seed": seed,
        "count": count,
        "input": {"name": model.input_name, "height": model.height, "width": model.width, "dtype": "uint8"},
        "class_counts": class_counts(model, images),
        "tolerance_ppm": TOLERANCE_PPM,
    }


def check_golden(model_path: Path, record: dict) -> str | None:
    """None when the model reproduces the record; otherwise why not, in one line."""
    from contracts.errors import ModelFileError
    from perception.inference import SegmentationModel

    try:
        model = SegmentationModel(model_path)
    except (ModelFileError, ValueError) as exc:
        return f"the model does not load: {exc}"
    want = record["input"]
    got = {"name": model.input_name, "height": model.height, "width": model.width, "dtype": "uint8"}
    if got != want:
        return f"input signature {got} differs from the published {want}"
    images = golden_images(model.height, model.width, int(record["seed"]), int(record["count"]))
    pixels = model.height * model.width
    for i, (counts, expected) in enumerate(
        zip(class_counts(model, images), record["class_counts"], strict=True)
    ):
        moved = int(np.abs(np.asarray(counts) - np.asarray(expected)).sum()) // 2
        if moved * 1_000_000 > int(record["tolerance_ppm"]) * pixels:
            tolerance = record["tolerance_ppm"]
            return f"golden image {i}: {moved} of {pixels} pixels changed class (tolerance {tolerance} ppm)"
    return None

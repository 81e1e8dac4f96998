"""Held-out evaluation: mIoU, per-class IoU and single-thread inference latency.

IoU is accumulated over the whole evaluation set (intersection and union summed over all frames,
then divided), the standard definition. A class absent from both the labels and the predictions of
the whole set has an undefined IoU: it is reported as null in ``per_class_iou`` and left out of the
mean (``classes_in_mean`` lists what the mean covers).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from perception import traffic_light
from perception.classes import NAMES, NUM_CLASSES
from perception.inference import SegmentationModel
from perception.types import LightState

DEFAULT_EVAL_FRAMES_PER_SEED = 8


def confusion_matrix(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """(C, C) int64, rows = label, cols = prediction."""
    idx = label.astype(np.int64).ravel() * NUM_CLASSES + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)


def iou_from_confusion(cm: np.ndarray) -> dict:
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    per_class = {}
    for c, name in enumerate(NAMES):
        per_class[name] = None if union[c] == 0 else float(inter[c] / union[c])
    present = [v for v in per_class.values() if v is not None]
    return {
        "miou": float(np.mean(present)) if present else float("nan"),
        "per_class_iou": per_class,
        "classes_in_mean": [n for n, v in per_class.items() if v is not None],
        "pixel_accuracy": float(inter.sum() / max(cm.sum(), 1)),
    }


def object_pixel_stats(labels: np.ndarray) -> dict:
    """Per object/light class: frames showing it and the median pixel count per such frame; the
    resolution ceiling of the small classes, reported next to their IoU."""
    flat = labels.reshape(len(labels), -1)
    out = {}
    for c in range(4, NUM_CLASSES):  # vehicle .. tl_green
        counts = (flat == c).sum(axis=1)
        counts = counts[counts > 0]
        median = float(np.median(counts)) if len(counts) else 0.0
        out[NAMES[c]] = {"frames": len(counts), "median_px": median}
    return out


def half_resolution_oracle(labels: np.ndarray) -> dict:
    """IoU of a predictor that is exact at half resolution (labels subsampled 2x, upsampled nearest):
    what one pixel of boundary error costs small objects, i.e. a practical ceiling for a small net."""
    coarse = labels[:, ::2, ::2].repeat(2, axis=1).repeat(2, axis=2)[:, : labels.shape[1], : labels.shape[2]]
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for pred, label in zip(coarse, labels, strict=True):
        cm += confusion_matrix(pred, label)
    return iou_from_confusion(cm)


def evaluate_arrays(
    rgb: np.ndarray, labels: np.ndarray, *, model_path: Path | str | None = None, threads: int = 1
) -> dict:
    """Metrics of the model on given frames. Latency = model.predict() only, `threads` threads."""
    if len(rgb) == 0 or rgb.shape[:3] != labels.shape:
        raise ValueError(f"need matching non-empty frames, got rgb {rgb.shape}, labels {labels.shape}")
    model = SegmentationModel(model_path, threads=threads)
    model.predict(rgb[0])  # warm-up: first run allocates
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    times = []
    light_hits = light_frames = 0
    for image, label in zip(rgb, labels, strict=True):
        t = time.perf_counter()
        pred, conf = model.predict(image)
        times.append((time.perf_counter() - t) * 1e3)
        cm += confusion_matrix(pred, label)
        # What planning consumes: the light state, with ground truth from the labels themselves.
        truth = traffic_light.estimate(label, np.ones(label.shape, np.float32)).state
        if truth != LightState.NONE:
            light_frames += 1
            light_hits += traffic_light.estimate(pred, conf, rgb=image).state == truth
    out = iou_from_confusion(cm)
    out["traffic_light_state"] = {"frames_with_light": light_frames, "correct": int(light_hits)}
    out["latency_ms"] = {
        "p50": float(np.percentile(times, 50)),
        "p99": float(np.percentile(times, 99)),
        "threads": threads,
    }
    out["frames"] = len(rgb)
    out["confusion"] = cm.tolist()
    return out


def evaluate(
    seeds,
    *,
    model_path: Path | str | None = None,
    threads: int = 1,
    frames_per_seed: int = DEFAULT_EVAL_FRAMES_PER_SEED,
    data_dir: Path | None = None,
    progress: bool = False,
    profile: str = "car",
) -> dict:
    """Render (or reuse, when `data_dir` is given) eval frames for `seeds` with the dataset
    generator's sampling `profile` (sim/datagen.py) and score the model on them."""
    from perception import dataset
    from sim import datagen

    seeds = [int(s) for s in seeds]
    if data_dir is not None:
        datagen.generate(Path(data_dir), seeds, frames_per_seed, progress=progress, profile=profile)
        rgb, labels, _ = dataset.load(Path(data_dir), seeds)
    else:
        parts = [datagen.render_scene(s, frames_per_seed, profile=profile) for s in seeds]
        rgb = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    out = evaluate_arrays(rgb, labels, model_path=model_path, threads=threads)
    out["seeds"] = seeds
    out["frames_per_seed"] = frames_per_seed
    out["profile"] = profile
    return out


def main(argv: list[str] | None = None) -> int:
    from perception.train import parse_seed_range

    p = argparse.ArgumentParser(prog="fleetpilot eval perception", description=__doc__)
    p.add_argument("--seeds", type=parse_seed_range, required=True, help="A:B, B exclusive")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--frames-per-seed", type=int, default=DEFAULT_EVAL_FRAMES_PER_SEED)
    p.add_argument("--data", type=Path, default=None, help="cache rendered frames here")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    result = evaluate(
        args.seeds,
        model_path=args.model,
        threads=args.threads,
        frames_per_seed=args.frames_per_seed,
        data_dir=args.data,
    )
    result.pop("confusion", None)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

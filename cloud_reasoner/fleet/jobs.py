"""The real job types and their executor.

1. ``segment_stats`` (batch inference, edge-case mining): run the perception segmentation model over
   a shard of recorded frames; per frame the fraction of pixels of each class and the mean max-softmax
   confidence; frames whose mean confidence is below a threshold are listed as low-confidence (the
   frames worth labelling next).
2. ``evaluate_model``: run a candidate model (a blob) over a labelled shard; mIoU, per-class IoU and
   pixel accuracy (perception.evaluate's definitions).

Shards are ``.npz`` blobs with ``rgb`` (N,H,W,3) uint8 and, for evaluation, ``labels`` (N,H,W) uint8.
Results and checkpoints are canonical JSON (sorted keys, floats rounded) so that identical work gives
identical bytes, hence identical digests. Execution goes frame by frame so it can stop between frames
(preemption) and resume from a checkpoint.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloud_reasoner.fleet.blobs import digest_of, verify

SEGMENT_STATS = "segment_stats"
EVALUATE_MODEL = "evaluate_model"
JOB_KINDS = (SEGMENT_STATS, EVALUATE_MODEL)
DEFAULT_LOW_CONFIDENCE = 0.97  # about the 10 % least confident frames of the held-out set
FLOAT_DIGITS = 6


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    kind: str
    input_digest: str
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {self.kind!r}; known: {', '.join(JOB_KINDS)}")


def canonical_json(obj: dict) -> bytes:
    """Deterministic bytes: sorted keys, no spaces, floats rounded to FLOAT_DIGITS."""

    def fix(v):
        if isinstance(v, float):
            return round(v, FLOAT_DIGITS)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [fix(x) for x in v]
        if isinstance(v, np.generic):
            return fix(v.item())
        return v

    return json.dumps(fix(obj), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def make_shard(rgb: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """Shard bytes: a deflated npz (rendered frames shrink about tenfold, well under the RPC size
    limit), deterministic for the same arrays (fixed zip entry dates, zlib), so the same digest."""
    if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must be (N, H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    arrays = {"rgb": np.ascontiguousarray(rgb)}
    if labels is not None:
        if labels.shape != rgb.shape[:3] or labels.dtype != np.uint8:
            raise ValueError(
                f"labels must be (N, H, W) uint8 matching rgb, got {labels.shape} {labels.dtype}"
            )
        arrays["labels"] = np.ascontiguousarray(labels)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_shard(data: bytes, need_labels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            rgb = z["rgb"]
            labels = z["labels"] if "labels" in z.files else None
    except Exception as e:  # a shard is untrusted input: say what is wrong with it
        raise ValueError(f"not a readable shard (.npz with 'rgb'): {e}") from e
    if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3 or len(rgb) == 0:
        raise ValueError(f"shard rgb must be non-empty (N, H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if need_labels and (labels is None or labels.shape != rgb.shape[:3]):
        raise ValueError("evaluate_model needs a shard with 'labels' (N, H, W) matching 'rgb'")
    return rgb, labels


class ModelCache:
    """ONNX sessions by model digest (one onnxruntime thread each); the shipped model when no digest."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._models: dict[str | None, object] = {}
        self._dir = Path(tempfile.mkdtemp(prefix="fleet-models-"))

    def get(self, model_digest: str | None, fetch: Callable[[str], bytes]):
        from perception.inference import SegmentationModel

        if model_digest not in self._models:
            path = None
            if model_digest:
                data = fetch(model_digest)
                verify(data, model_digest)
                path = self._dir / (model_digest.split(":")[1] + ".onnx")
                path.write_bytes(data)
            self._models[model_digest] = SegmentationModel(path, threads=self.threads)
        return self._models[model_digest]


class Stopped(Exception):
    """Raised by `execute` when `should_stop()` turned true; carries the last checkpoint bytes."""

    def __init__(self, checkpoint: bytes) -> None:
        super().__init__("job stopped at a checkpoint")
        self.checkpoint = checkpoint


def execute(
    spec: JobSpec,
    fetch: Callable[[str], bytes],
    *,
    models: ModelCache | None = None,
    checkpoint: bytes | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_checkpoint: Callable[[bytes, float], None] | None = None,
    checkpoint_every: int = 8,
) -> bytes:
    """Run `spec` and return the canonical result bytes. `fetch(digest) -> bytes` gets blobs (verified
    here). Checks `should_stop()` before every frame; on stop raises Stopped with a checkpoint from
    which a later call resumes (the result is the same as an uninterrupted run)."""
    models = models or ModelCache()
    shard = fetch(spec.input_digest)
    verify(shard, spec.input_digest)
    rgb, labels = load_shard(shard, need_labels=spec.kind == EVALUATE_MODEL)
    model = models.get(spec.params.get("model_digest"), fetch)
    state = _initial_state(spec, len(rgb)) if checkpoint is None else _load_checkpoint(spec, checkpoint)
    n = len(rgb)
    while state["next_frame"] < n:
        if should_stop():
            raise Stopped(_checkpoint_bytes(spec, state))
        i = state["next_frame"]
        classes, confidence = model.predict(rgb[i])
        _accumulate(spec, state, classes, confidence, None if labels is None else labels[i])
        state["next_frame"] = i + 1
        if on_checkpoint is not None and (i + 1) % checkpoint_every == 0 and i + 1 < n:
            on_checkpoint(_checkpoint_bytes(spec, state), (i + 1) / n)
    return canonical_json(_finish(spec, state))


def _initial_state(spec: JobSpec, n: int) -> dict:
    from perception.classes import NUM_CLASSES

    if spec.kind == SEGMENT_STATS:
        return {"next_frame": 0, "frames": n, "class_fraction": [], "mean_confidence": []}
    return {"next_frame": 0, "frames": n, "confusion": [[0] * NUM_CLASSES for _ in range(NUM_CLASSES)]}


def _checkpoint_bytes(spec: JobSpec, state: dict) -> bytes:
    return canonical_json({"job_id": spec.job_id, "kind": spec.kind, "state": state})


def _load_checkpoint(spec: JobSpec, data: bytes) -> dict:
    try:
        doc = json.loads(data)
        ok = doc["job_id"] == spec.job_id and doc["kind"] == spec.kind
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"unreadable checkpoint for job {spec.job_id}: {e}") from e
    if not ok:
        raise ValueError(f"checkpoint belongs to job {doc.get('job_id')!r}, not {spec.job_id!r}")
    return doc["state"]


def _accumulate(spec: JobSpec, state: dict, classes, confidence, labels) -> None:
    from perception.classes import NUM_CLASSES
    from perception.evaluate import confusion_matrix

    if spec.kind == SEGMENT_STATS:
        counts = np.bincount(classes.ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
        state["class_fraction"].append([round(float(c), FLOAT_DIGITS) for c in counts / classes.size])
        state["mean_confidence"].append(round(float(confidence.mean()), FLOAT_DIGITS))
    else:
        cm = np.asarray(state["confusion"], np.int64) + confusion_matrix(classes, labels)
        state["confusion"] = cm.tolist()


def _finish(spec: JobSpec, state: dict) -> dict:
    from perception.evaluate import iou_from_confusion

    if spec.kind == SEGMENT_STATS:
        threshold = float(spec.params.get("low_confidence_threshold", DEFAULT_LOW_CONFIDENCE))
        low = [i for i, c in enumerate(state["mean_confidence"]) if c < threshold]
        return {
            "kind": SEGMENT_STATS,
            "frames": state["frames"],
            "class_fraction": state["class_fraction"],
            "mean_confidence": state["mean_confidence"],
            "low_confidence_threshold": threshold,
            "low_confidence_frames": low,
        }
    metrics = iou_from_confusion(np.asarray(state["confusion"], np.int64))
    return {
        "kind": EVALUATE_MODEL,
        "frames": state["frames"],
        "miou": metrics["miou"],
        "pixel_accuracy": metrics["pixel_accuracy"],
        "per_class_iou": metrics["per_class_iou"],
    }


def blob_index(*blobs: bytes) -> dict[str, bytes]:
    """{digest: bytes}, handy for a local `fetch`."""
    return {digest_of(b): b for b in blobs}

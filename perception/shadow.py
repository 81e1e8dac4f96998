"""Shadow mode: a candidate model runs on the same camera frames as the active one, off the control path.

The perception node hands each frame (its image and the active model's class map) to submit(), which
never waits: a frame that arrives while the candidate is still busy with the previous one is dropped and
counted, so the control loop never queues behind the shadow. The candidate runs in a thread of its own
at the lowest CPU priority (nice 19, as fleet jobs), one onnxruntime thread; onnxruntime releases the GIL
while it computes. What it finds is telemetry, never a command: per-class IoU between the two outputs and
the share of pixels whose class differs, aggregated over the frames it saw.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import numpy as np

from perception.classes import NUM_CLASSES


def class_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-class IoU between two class maps; NaN for a class neither has."""
    ious = np.full(NUM_CLASSES, np.nan)
    for c in range(NUM_CLASSES):
        in_a, in_b = a == c, b == c
        union = np.count_nonzero(in_a | in_b)
        if union:
            ious[c] = np.count_nonzero(in_a & in_b) / union
    return ious


class ShadowRunner:
    def __init__(self, model_path: Path | str, *, threads: int = 1, nice: int = 19) -> None:
        from perception.inference import SegmentationModel

        self.model = SegmentationModel(model_path, threads=threads)
        self.nice = nice
        self.frames = self.dropped = 0
        self._disagreement_sum = 0.0
        self._iou_sum = np.zeros(NUM_CLASSES)
        self._iou_n = np.zeros(NUM_CLASSES)
        self._lock = threading.Lock()
        self._pending: tuple[np.ndarray, np.ndarray] | None = None
        self._wake = threading.Condition(self._lock)
        self._busy = False
        self._stop = False
        self._thread = threading.Thread(target=self._work, name="shadow-model", daemon=True)
        self._thread.start()

    def submit(self, rgb: np.ndarray, active_classes: np.ndarray) -> bool:
        """Hand over one frame; False when the candidate is still busy (the frame is dropped)."""
        with self._lock:
            if self._busy or self._pending is not None:
                self.dropped += 1
                return False
            self._pending = (rgb, active_classes)
            self._wake.notify()
            return True

    def _work(self) -> None:
        with contextlib.suppress(OSError):  # a thread's own nice value (Linux: per thread id)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        while True:
            with self._lock:
                while self._pending is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                rgb, active = self._pending
                self._pending, self._busy = None, True
            classes, _confidence = self.model.predict(rgb)
            iou = class_iou(classes, active)
            with self._lock:
                self.frames += 1
                self._disagreement_sum += float(np.count_nonzero(classes != active)) / classes.size
                seen = ~np.isnan(iou)
                self._iou_sum[seen] += iou[seen]
                self._iou_n[seen] += 1
                self._busy = False

    def counters(self) -> dict:
        """The per-frame part of the telemetry (the perception status): no per-class table."""
        with self._lock:
            n = self.frames
            return {
                "shadow_frames": n,
                "shadow_frames_dropped": self.dropped,
                "shadow_disagreement": round(self._disagreement_sum / n, 5) if n else 0.0,
            }

    def summary(self) -> dict:
        """Telemetry: frames compared, frames dropped, mean pixel disagreement, mean IoU per class."""
        from perception.classes import NAMES

        with self._lock:
            per_class = {
                NAMES[c]: round(float(self._iou_sum[c] / self._iou_n[c]), 4)
                for c in range(NUM_CLASSES)
                if self._iou_n[c]
            }
        return {"shadow_model_sha256": self.model.sha256, **self.counters(), "shadow_class_iou": per_class}

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=5)

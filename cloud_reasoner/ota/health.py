"""The health window after a model update (vehicle side; greenboot's health checks, RAUC's mark-good).

A new model starts unproven. For its first `frames` camera frames the perception node feeds each frame's
result here; the window then says "good" (the updater marks the slot good: later starts no longer count
toward a rollback) or "bad" with the reason (the updater rolls back, and the node swaps back to the
previous model before the next frame). A frame the planner would not trust (mean confidence under the
planner's own threshold, planning.params.PlannerParams.frame_confidence_min) or a dropped frame counts
against the model; too many of them, or a low mean, fails it. Pure Python: tested without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HealthCriteria:
    frames: int = 100  # the window, in camera frames (5 s at 20 Hz)
    untrusted_below: float = 0.3  # a frame's mean confidence under this: the planner would not use it
    max_untrusted_fraction: float = 0.1
    min_mean_confidence: float = 0.5
    max_dropped_fraction: float = 0.05
    # a per-frame error where one is known (`ota simulate`: pixel error against the simulator's labels,
    # standing in for a real vehicle's interventions); the window's mean must stay under this
    max_mean_error: float = 0.25

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"the health window needs at least one frame, got {self.frames}")


class HealthWindow:
    """observe() per frame → None while the window is open, then ("good" | "bad", reason) once."""

    def __init__(self, criteria: HealthCriteria | None = None) -> None:
        self.criteria = criteria or HealthCriteria()
        self.seen = self.untrusted = self.dropped = 0
        self.confidence_sum = 0.0
        self.errors: list[float] = []
        self.verdict: tuple[str, str] | None = None

    def observe(
        self, confidence: float, *, dropped: bool = False, error: float | None = None
    ) -> tuple[str, str] | None:
        if self.verdict is not None:
            return None  # said once
        c = self.criteria
        self.seen += 1
        if dropped:
            self.dropped += 1
        else:
            self.confidence_sum += float(confidence)
            self.untrusted += float(confidence) < c.untrusted_below
            if error is not None:
                self.errors.append(float(error))
        if self.seen < c.frames:
            return None
        used = self.seen - self.dropped
        mean = self.confidence_sum / used if used else 0.0
        if self.dropped > c.max_dropped_fraction * self.seen:
            self.verdict = ("bad", f"{self.dropped} of {self.seen} frames dropped")
        elif self.untrusted > c.max_untrusted_fraction * self.seen:
            self.verdict = (
                "bad",
                f"{self.untrusted} of {self.seen} frames under confidence {c.untrusted_below}",
            )
        elif mean < c.min_mean_confidence:
            self.verdict = ("bad", f"mean confidence {mean:.3f} under {c.min_mean_confidence}")
        elif self.errors and sum(self.errors) / len(self.errors) > c.max_mean_error:
            error = sum(self.errors) / len(self.errors)
            self.verdict = ("bad", f"mean error {error:.3f} over {c.max_mean_error}")
        else:
            self.verdict = ("good", f"{self.seen} frames, mean confidence {mean:.3f}")
        return self.verdict


class ModelSupervisor:
    """Which model perception runs, across an update's health window: the perception node and the direct
    loop hold one each and feed it every frame.

    At construction it boots the OTA updater (cloud_reasoner/ota/updater.py, `model_to_load`). A model
    not yet proven opens a health window; its verdict marks the slot good, or rolls it back and hands
    the caller the model to swap to (the previous slot, or `model_path` / the shipped one)."""

    def __init__(
        self, ota_dir: str | Path | None, model_path: str | None, criteria: HealthCriteria | None = None
    ):
        from cloud_reasoner.ota.updater import model_to_load

        self.ota_dir = Path(ota_dir) if ota_dir else None
        self.model_path = model_path or None
        chosen = model_to_load(self.ota_dir, self.model_path)
        self.path, self.slot, self.version = chosen["path"], chosen["slot"], chosen["version"]
        self.rolled_back_at_start = chosen["rolled_back"]
        self.window = None if chosen["proven"] else HealthWindow(criteria)
        self.verdicts: list[tuple[str, str]] = []

    def observe(self, confidence: float, *, dropped: bool = False, error: float | None = None) -> dict | None:
        """One frame's result. None, or after a failed window the swap: {path, slot, version, reason}."""
        from cloud_reasoner.ota.updater import ModelUpdater

        if self.window is None:
            return None
        verdict = self.window.observe(confidence, dropped=dropped, error=error)
        if verdict is None:
            return None
        self.window = None
        self.verdicts.append(verdict)
        updater = ModelUpdater.local(self.ota_dir)
        if verdict[0] == "good":
            updater.mark_good()
            return None
        active = updater.rollback(f"health window: {verdict[1]}")["active"]
        if active is None:
            self.path, self.slot, self.version = self.model_path, None, None
        else:
            self.path = str(updater.slot_path(active["slot"], active["name"]))
            self.slot, self.version = active["slot"], active["version"]
        return {"path": self.path, "slot": self.slot, "version": self.version, "reason": verdict[1]}

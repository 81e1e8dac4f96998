"""One camera frame in, one PerceptionOutput out: segmentation → BEV grid + traffic light."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from contracts.messages import CameraModel, FrameRejected
from perception import traffic_light
from perception.bev import DEFAULT_RESOLUTION, DEFAULT_X_RANGE, DEFAULT_Y_RANGE, BevProjector, grid_layout
from perception.inference import SegmentationModel
from perception.objects import ObjectExtractor
from perception.specks import DEFAULT_MIN_OBJECT_PIXELS, suppress_specks
from perception.types import BevGrid, LightState, PerceptionOutput, TrafficLightObservation


class Perceiver:
    def __init__(
        self,
        camera: CameraModel,
        *,
        model_path: Path | str | None = None,
        threads: int = 1,
        bev: dict | None = None,
        min_light_pixels: int = traffic_light.DEFAULT_MIN_PIXELS,
        min_object_pixels: int = DEFAULT_MIN_OBJECT_PIXELS,
        objects: bool = False,
    ) -> None:
        """objects: also list the object blobs (perception/objects.py) in PerceptionOutput.objects."""
        self.camera = camera
        self.model = SegmentationModel(model_path, threads=threads)
        if (self.model.height, self.model.width) != (camera.height, camera.width):
            raise ValueError(
                f"camera is {camera.width}x{camera.height} but the model expects "
                f"{self.model.width}x{self.model.height}; configure the camera to match or retrain"
            )
        self.bev = BevProjector(camera, **(bev or {}))
        self.min_light_pixels = min_light_pixels
        if min_object_pixels < 0:
            raise ValueError(f"min_object_pixels must be >= 0, got {min_object_pixels}")
        self.min_object_pixels = min_object_pixels
        self.objects = ObjectExtractor(camera) if objects else None
        self.last_classes: np.ndarray | None = None  # for debugging overlays
        self.last_confidence: np.ndarray | None = None

    def process(self, stamp_ns: int, rgb: np.ndarray) -> PerceptionOutput:
        """Raises contracts.messages.FrameRejected("size") for an image that is not this camera's."""
        want = (self.camera.height, self.camera.width, 3)
        if rgb.shape != want or rgb.dtype != np.uint8:
            raise FrameRejected("size", f"image is {rgb.shape} {rgb.dtype}, the camera gives {want} uint8")
        start = time.perf_counter()
        classes, confidence = self.model.predict(rgb)
        classes = suppress_specks(classes, self.min_object_pixels)
        grid = self.bev.project(classes)
        light = traffic_light.estimate(
            classes, confidence, self.camera, rgb=rgb, min_pixels=self.min_light_pixels
        )
        self.last_classes, self.last_confidence = classes, confidence
        objects = tuple(self.objects.extract(classes, rgb)) if self.objects is not None else ()
        latency_ms = (time.perf_counter() - start) * 1e3
        return PerceptionOutput(
            stamp_ns=int(stamp_ns),
            grid=grid,
            traffic_light=light,
            confidence=float(confidence.mean()),
            latency_ms=latency_ms,
            objects=objects,
        )


def dropped_output(stamp_ns: int, reason: str, bev: dict | None = None) -> PerceptionOutput:
    """What perception says about a frame it could not use (FrameRejected.reason): nothing is known
    (an all-UNKNOWN grid on the Perceiver's layout, `bev` as its keyword arguments), confidence 0, no
    light, no objects. Needs no Perceiver: the very first frames may be the bad ones."""
    bev = bev or {}
    rows, cols, ox, oy = grid_layout(
        tuple(bev.get("x_range", DEFAULT_X_RANGE)),
        tuple(bev.get("y_range", DEFAULT_Y_RANGE)),
        float(bev.get("resolution", DEFAULT_RESOLUTION)),
    )
    return PerceptionOutput(
        stamp_ns=int(stamp_ns),
        grid=BevGrid.unknown(rows, cols, float(bev.get("resolution", DEFAULT_RESOLUTION)), ox, oy),
        traffic_light=TrafficLightObservation(LightState.NONE, 0.0),
        confidence=0.0,
        dropped=reason,
    )

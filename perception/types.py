"""What perception hands to planning. One frame in, one PerceptionOutput out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class LightState(IntEnum):
    NONE = 0  # no traffic light in view
    RED = 1
    YELLOW = 2
    GREEN = 3


@dataclass(frozen=True)
class BevGrid:
    """A bird's-eye-view grid in base_link, laid out like nav_msgs/OccupancyGrid: row-major,
    columns along +x, rows along +y, (origin_x, origin_y) is the outer corner of cell (0, 0).

    classes: (rows, cols) uint8 perception.classes.Cls per cell; cells the camera cannot see hold
    UNKNOWN (255).
    """

    classes: np.ndarray
    resolution: float  # metres per cell
    origin_x: float
    origin_y: float

    UNKNOWN = 255

    @classmethod
    def unknown(cls, rows: int, cols: int, resolution: float, origin_x: float, origin_y: float) -> BevGrid:
        """A grid of which nothing is known (what a dropped frame tells the planner)."""
        return cls(np.full((rows, cols), cls.UNKNOWN, dtype=np.uint8), resolution, origin_x, origin_y)

    @property
    def rows(self) -> int:
        return int(self.classes.shape[0])

    @property
    def cols(self) -> int:
        return int(self.classes.shape[1])

    def cell_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y (base_link, metres) of every cell centre, each (rows, cols)."""
        xs = self.origin_x + (np.arange(self.cols) + 0.5) * self.resolution
        ys = self.origin_y + (np.arange(self.rows) + 0.5) * self.resolution
        return np.meshgrid(xs, ys)


@dataclass(frozen=True)
class TrafficLightObservation:
    state: LightState
    confidence: float  # 0..1
    # bearing of the light's centroid in the image, radians, positive left; NaN when none
    bearing: float = float("nan")


@dataclass(frozen=True)
class PerceptionOutput:
    stamp_ns: int
    grid: BevGrid
    traffic_light: TrafficLightObservation
    confidence: float  # per-frame confidence, 0..1 (mean max-softmax over the image)
    latency_ms: float = 0.0
    # perception.objects.DetectedObject per object blob (base_link), when the Perceiver extracts them:
    # what a task in words ("walk to the red box") and a System 2 query refer to
    objects: tuple = ()
    # "" for a frame perception saw; else the FrameRejected reason of a frame it could not use. Such an
    # output carries an all-UNKNOWN grid and confidence 0: the planner holds its last plan, then stops.
    dropped: str = ""


def model_fields(sha256: str, slot: str = "", version: str = "") -> dict[str, str]:
    """Which segmentation model a run saw with: the perception status's keys and the scenario JSON's
    (the node and the direct loop report the same). slot/version: the OTA slot it came from, '' for a
    model given by path or the shipped one."""
    return {
        "perception_model_sha256": sha256,
        "perception_model_slot": slot,
        "perception_model_version": version,
    }

"""Traffic-light state from the segmentation output: a pixel vote among the TL_* classes.

The sim labels the whole signal head by the lamp that is lit, so the network paints the head
TL_RED / TL_YELLOW / TL_GREEN. We count those pixels; the winner is the state if enough pixels voted.
Confidence combines how sure the network was about those pixels (mean max-softmax) with how
one-sided the vote was (margin), so a head split half red / half yellow reports low confidence.
"""

from __future__ import annotations

import math

import numpy as np

from perception.bev import camera_axes_in_base
from perception.classes import Cls
from perception.types import LightState, TrafficLightObservation
from sim.types import CameraModel

_CLASS_TO_STATE = {
    Cls.TL_RED: LightState.RED,
    Cls.TL_YELLOW: LightState.YELLOW,
    Cls.TL_GREEN: LightState.GREEN,
}
_TL_IDS = np.array([int(c) for c in _CLASS_TO_STATE], dtype=np.int64)

# A head at 40 m is ~4 px wide at 160×120 with a 60° FOV; fewer pixels than this is usually noise.
DEFAULT_MIN_PIXELS = 4


def bearing_of_pixel(u: float, v: float, camera: CameraModel) -> float:
    """Azimuth (rad, positive left, REP-103) in base_link of the ray through pixel (u, v)."""
    forward, left, up = camera_axes_in_base(camera.pitch)
    ray = forward - ((u - camera.cx) / camera.fx) * left - ((v - camera.cy) / camera.fy) * up
    return math.atan2(ray[1], ray[0])


def estimate(
    classes: np.ndarray,
    confidence: np.ndarray,
    camera: CameraModel | None = None,
    *,
    min_pixels: int = DEFAULT_MIN_PIXELS,
) -> TrafficLightObservation:
    """classes (H,W) uint8, confidence (H,W) float → TrafficLightObservation.

    bearing is NaN when no light is seen or no camera is given.
    """
    if classes.shape != confidence.shape or classes.ndim != 2:
        raise ValueError(
            f"classes and confidence must be the same (H, W) shape, got {classes.shape}, {confidence.shape}"
        )
    if min_pixels < 1:
        raise ValueError(f"min_pixels must be >= 1, got {min_pixels}")
    counts = np.bincount(classes.ravel(), minlength=256)[_TL_IDS]
    total = int(counts.sum())
    if total < min_pixels:
        return TrafficLightObservation(state=LightState.NONE, confidence=_none_confidence(total, min_pixels))

    order = np.argsort(counts)[::-1]
    best, second = int(counts[order[0]]), int(counts[order[1]])
    winner = Cls(int(_TL_IDS[order[0]]))
    mask = classes == winner
    mean_conf = float(confidence[mask].mean())
    margin = (best - second) / total
    bearing = float("nan")
    if camera is not None:
        if classes.shape != (camera.height, camera.width):
            raise ValueError(
                f"classes {classes.shape} do not match the camera ({camera.height}, {camera.width})"
            )
        vs, us = np.nonzero(mask)
        bearing = bearing_of_pixel(float(us.mean()), float(vs.mean()), camera)
    return TrafficLightObservation(
        state=_CLASS_TO_STATE[winner],
        confidence=float(np.clip(mean_conf * margin, 0.0, 1.0)),
        bearing=bearing,
    )


def _none_confidence(total: int, min_pixels: int) -> float:
    # "No light" is most certain when no TL pixel at all was seen, less so just under the threshold.
    return float(1.0 - total / min_pixels)

"""Traffic-light state from the segmentation output: a pixel vote among the TL_* classes.

The sim labels the whole signal head by the lamp that is lit, so the network paints the head
TL_RED / TL_YELLOW / TL_GREEN. We count those pixels; the winner is the state if enough pixels voted.
Confidence combines how sure the network was about those pixels (mean max-softmax) with how
one-sided the vote was (margin), so a head split half red / half yellow reports low confidence.

At 160×120 the lit lamp is 1–2 px beyond ~15 m, and the network often finds the head but not which
lamp is lit (held-out: red heads painted green in 4 of 9 frames). When the image is given, the state
is therefore voted by the *colour* of saturated, bright pixels in and around the detected head
(chromaticity nearest to the red / yellow / green lamp colours); the class vote is the fallback, with
its confidence halved.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from contracts.messages import CameraModel
from perception.bev import camera_axes_in_base
from perception.classes import Cls
from perception.types import LightState, TrafficLightObservation

_CLASS_TO_STATE = {
    Cls.TL_RED: LightState.RED,
    Cls.TL_YELLOW: LightState.YELLOW,
    Cls.TL_GREEN: LightState.GREEN,
}
_TL_IDS = np.array([int(c) for c in _CLASS_TO_STATE], dtype=np.int64)

_STATES = (LightState.RED, LightState.YELLOW, LightState.GREEN)
# Lit-lamp colours (sim/appearance.py LAMP_LIT), as chromaticity so lighting brightness cancels out.
_LAMP_RGB = np.array([[1.0, 0.1, 0.05], [1.0, 0.8, 0.05], [0.1, 1.0, 0.3]])
_LAMP_CHROMA = _LAMP_RGB / _LAMP_RGB.sum(axis=1, keepdims=True)
MIN_SATURATION = 0.45  # (max - min) / max: lamps are vivid; housings, poles, asphalt are grey
MIN_BRIGHTNESS = 60  # of 255
MAX_CHROMA_DISTANCE = 0.2
FALLBACK_CONFIDENCE_FACTOR = 0.5

# A head at 40 m is ~4 px wide at 160×120 with a 60° FOV; fewer pixels than this is usually noise.
DEFAULT_MIN_PIXELS = 4


def bearing_of_pixel(u: float, v: float, camera: CameraModel) -> float:
    """Azimuth (rad, positive left, REP-103) in base_link of the ray through pixel (u, v)."""
    forward, left, up = camera_axes_in_base(camera.pitch)
    ray = forward - ((u - camera.cx) / camera.fx) * left - ((v - camera.cy) / camera.fy) * up
    return math.atan2(ray[1], ray[0])


def lamp_colour_votes(rgb: np.ndarray, head_mask: np.ndarray) -> np.ndarray:
    """Votes (red, yellow, green) of lamp-coloured pixels within one pixel of `head_mask`."""
    near = cv2.dilate(head_mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    px = rgb[near].astype(np.float32)
    if len(px) == 0:
        return np.zeros(3, np.int64)
    hi, lo = px.max(axis=1), px.min(axis=1)
    saturation = (hi - lo) / np.maximum(hi, 1.0)
    chroma = px / np.maximum(px.sum(axis=1, keepdims=True), 1.0)
    dist = np.linalg.norm(chroma[:, None, :] - _LAMP_CHROMA[None], axis=2)
    lamp = (saturation > MIN_SATURATION) & (hi > MIN_BRIGHTNESS) & (dist.min(axis=1) < MAX_CHROMA_DISTANCE)
    return np.bincount(dist.argmin(axis=1)[lamp], minlength=3)


def estimate(
    classes: np.ndarray,
    confidence: np.ndarray,
    camera: CameraModel | None = None,
    *,
    rgb: np.ndarray | None = None,
    min_pixels: int = DEFAULT_MIN_PIXELS,
) -> TrafficLightObservation:
    """classes (H,W) uint8, confidence (H,W) float [, rgb (H,W,3) uint8] → TrafficLightObservation.

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

    head = np.isin(classes, _TL_IDS)
    mean_conf = float(confidence[head].mean())
    votes = counts
    factor = 1.0
    if rgb is not None:
        if rgb.shape != (*classes.shape, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be {(*classes.shape, 3)} uint8, got {rgb.shape} {rgb.dtype}")
        colour = lamp_colour_votes(rgb, head)
        if colour.sum() > 0:
            votes = colour
        else:
            factor = FALLBACK_CONFIDENCE_FACTOR
    order = np.argsort(votes)[::-1]
    best, second = int(votes[order[0]]), int(votes[order[1]])
    state = _STATES[int(order[0])]
    margin = (best - second) / int(votes.sum())
    bearing = float("nan")
    if camera is not None:
        if classes.shape != (camera.height, camera.width):
            raise ValueError(
                f"classes {classes.shape} do not match the camera ({camera.height}, {camera.width})"
            )
        vs, us = np.nonzero(head)
        bearing = bearing_of_pixel(float(us.mean()), float(vs.mean()), camera)
    return TrafficLightObservation(
        state=state,
        confidence=float(np.clip(mean_conf * margin * factor, 0.0, 1.0)),
        bearing=bearing,
    )


def _none_confidence(total: int, min_pixels: int) -> float:
    # "No light" is most certain when no TL pixel at all was seen, less so just under the threshold.
    return float(1.0 - total / min_pixels)

"""Isolated object pixels: a blob of a few pixels labelled vehicle, pedestrian or obstacle is noise.

Why: the BEV turns every object pixel into cells the planner must respect, and a speck that stays put
(a bright crosswalk stripe read as a pedestrian while the car waits in front of it) holds the car
forever. An object worth stopping for covers more pixels: a 1.7 m pedestrian at 30 m is about 8 × 2
pixels of the 160×120, 60° camera, a 0.5 m cone at 40 m about 3 × 3. Each blob of an object class
smaller than `min_pixels` (8-connected) takes the most common other class on the one-pixel ring
around it.
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.classes import OBSTACLE_CLASSES, Cls

DEFAULT_MIN_OBJECT_PIXELS = 4


def suppress_specks(
    classes: np.ndarray, min_pixels: int = DEFAULT_MIN_OBJECT_PIXELS, object_classes=OBSTACLE_CLASSES
) -> np.ndarray:
    """classes (H, W) uint8 → the same with object blobs under `min_pixels` relabelled (a copy only
    when something changed)."""
    if min_pixels <= 1:
        return classes
    out = classes
    h, w = classes.shape
    for c in object_classes:
        mask = (classes == c).astype(np.uint8)
        if not mask.any():
            continue
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        small = np.nonzero(stats[1:, cv2.CC_STAT_AREA] < min_pixels)[0] + 1
        if small.size == 0:
            continue
        if out is classes:
            out = classes.copy()
        for k in small:
            x, y, bw, bh = (int(v) for v in stats[k, :4])
            y0, y1, x0, x1 = max(y - 1, 0), min(y + bh + 1, h), max(x - 1, 0), min(x + bw + 1, w)
            patch = classes[y0:y1, x0:x1]
            blob = labels[y0:y1, x0:x1] == k
            ring = patch[~blob & (patch != c)]
            fill = int(np.bincount(ring).argmax()) if ring.size else int(Cls.BACKGROUND)
            out[y0:y1, x0:x1][blob] = fill
    return out

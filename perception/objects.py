"""Objects from one segmented image: what "walk to the red box" and a System 2 query refer to.

The BEV grid says *where* something occupies the ground but not *which thing* it is. Here every
8-connected blob of an object class (vehicle, pedestrian, obstacle) becomes one `DetectedObject`:

* its place: the blob's lowest pixel is where it meets the ground (or, for a vehicle, its sill, the
  same contact heights as the BEV uses), intersected with the flat ground through that pixel's lower
  edge, then pulled back towards the camera by (z - h) / z for contact height h;
* its width: the blob's pixel width at that range (pinhole: metres = range x pixels / fx);
* its colour: the median RGB of its pixels that stand out from the ground just below it, named by
  hue, saturation and value (`colour_name`).

A segmentation blob spills onto the ground around an object, and on untextured ground the model now
and then marks a patch of plain ground as an object. Neither is something a person could point at and
name, so the colour ignores blob pixels that look like the ground under the blob, and a blob with fewer
than `min_pixels` pixels left is not listed. (It stays in the BEV grid: that is the safe side. This
list only names things.)

Blobs smaller than `min_pixels` are dropped (too small to name or place), and so are blobs whose
lowest pixel lies above the horizon or on the image's bottom row: either way the ground contact is not
in view (an object cut off by the bottom edge, or the robot's own arm swinging into the picture, would
be placed by a pixel that is not where it stands). Pure numpy/OpenCV: no ROS here.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np

from contracts.messages import CameraModel
from perception.bev import DEFAULT_CONTACT_HEIGHTS, ground_points
from perception.classes import OBSTACLE_CLASSES, Cls

DEFAULT_MIN_PIXELS = 12
# A blob pixel "looks like the ground" when no channel differs from the ground's median colour by more
# than this (0..255). The yard's grass and its green box differ by ~55 in red; shading within one
# ground surface across a few rows stays under ~10.
GROUND_LIKE_MAX_DIFF = 24
GROUND_STRIP_ROWS = 3  # rows below the blob sampled for the ground's colour

# Hue sectors (degrees, upper bounds) for saturated colours; red wraps around 360.
_HUES = (
    (15.0, "red"),
    (45.0, "orange"),
    (70.0, "yellow"),
    (165.0, "green"),
    (255.0, "blue"),
    (330.0, "purple"),
    (360.0, "red"),
)


@dataclass(frozen=True)
class DetectedObject:
    label: str  # "vehicle", "pedestrian" or "obstacle" (perception.classes names)
    x: float  # base_link, m: the contact point nearest the camera
    y: float
    width: float  # m, lateral extent at that range
    colour: str  # colour_name of the median pixel
    pixels: int
    bearing: float  # rad, positive left (REP-103)


def colour_name(rgb) -> str:
    """A basic colour word for an RGB triple (0..255): black, grey, white, brown, or a hue name.

    Flat-shaded renders and real cameras darken the sides of an object; thresholds on value and
    saturation leave room for that (a red box in shade is still red, not brown)."""
    r, g, b = (float(c) / 255.0 for c in rgb)
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    if v < 0.18:
        return "black"
    if s < 0.22:
        return "white" if v > 0.8 else "grey"
    hue = h * 360.0
    if 15.0 <= hue < 45.0 and v < 0.6:
        return "brown"  # dark orange
    return next(name for upper, name in _HUES if hue < upper)


class ObjectExtractor:
    def __init__(
        self,
        camera: CameraModel,
        *,
        min_pixels: int = DEFAULT_MIN_PIXELS,
        contact_heights: dict | None = None,
    ) -> None:
        if min_pixels < 1:
            raise ValueError(f"min_pixels must be >= 1, got {min_pixels}")
        self.camera = camera
        self.min_pixels = int(min_pixels)
        heights = dict(DEFAULT_CONTACT_HEIGHTS)
        heights.update({Cls(int(k)): float(v) for k, v in (contact_heights or {}).items()})
        self._scale = {c: (camera.z - h) / camera.z for c, h in heights.items()}
        # lower pixel edge: a far blob's lowest pixel spans metres of ground; its near edge is the
        # conservative place (as the BEV's contact points)
        self._gx, self._gy, self._hits = ground_points(camera, 0.5)

    def extract(self, classes: np.ndarray, rgb: np.ndarray) -> list[DetectedObject]:
        cam = self.camera
        if classes.shape != (cam.height, cam.width) or rgb.shape != (cam.height, cam.width, 3):
            raise ValueError(
                f"expected classes ({cam.height}, {cam.width}) and rgb ({cam.height}, {cam.width}, 3), "
                f"got {classes.shape} and {rgb.shape}"
            )
        out: list[DetectedObject] = []
        for cls in OBSTACLE_CLASSES:
            mask = (classes == int(cls)).astype(np.uint8)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            for i in range(1, n):
                area = int(stats[i, cv2.CC_STAT_AREA])
                if area < self.min_pixels:
                    continue
                left, top = int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP])
                w, h = int(stats[i, cv2.CC_STAT_WIDTH]), int(stats[i, cv2.CC_STAT_HEIGHT])
                box = labels[top : top + h, left : left + w] == i
                v = top + h - 1
                if v >= cam.height - 1:
                    continue  # cut off by the bottom edge: its ground contact is out of view
                cols = np.nonzero(box[-1])[0] + left
                u = int(cols[len(cols) // 2])
                if not self._hits[v, u]:
                    continue  # its base is above the horizon: no ground contact to place it by
                k = self._scale.get(cls, 1.0)
                x = cam.x + k * (float(self._gx[v, u]) - cam.x)
                y = cam.y + k * (float(self._gy[v, u]) - cam.y)
                rng = math.hypot(x - cam.x, y - cam.y)
                pixels = rgb[top : top + h, left : left + w][box]
                ground = self._ground_colour(classes, rgb, v, left, w)
                if ground is not None:
                    differs = np.abs(pixels.astype(np.int16) - ground).max(axis=1) > GROUND_LIKE_MAX_DIFF
                    pixels = pixels[differs]
                    if len(pixels) < self.min_pixels:
                        continue  # nothing in it stands out from the ground: not a thing to name
                median = np.median(pixels, axis=0)
                out.append(
                    DetectedObject(
                        label=cls.name.lower(),
                        x=x,
                        y=y,
                        width=rng * w / cam.fx,
                        colour=colour_name(median),
                        pixels=area,
                        bearing=math.atan2(y - cam.y, x - cam.x),
                    )
                )
        out.sort(key=lambda o: math.hypot(o.x, o.y))
        return out

    @staticmethod
    def _ground_colour(classes: np.ndarray, rgb: np.ndarray, v: int, left: int, w: int):
        """Median RGB (int16) of the non-object pixels in the few rows just below a blob whose lowest row
        is v, over its columns; None if there are none (the blob stands on another object's pixels)."""
        rows = slice(v + 1, min(classes.shape[0], v + 1 + GROUND_STRIP_ROWS))
        cols = slice(left, left + w)
        strip = classes[rows, cols]
        free = ~np.isin(strip, [int(c) for c in OBSTACLE_CLASSES])
        if not free.any():
            return None
        return np.median(rgb[rows, cols][free], axis=0).astype(np.int16)

"""Bird's-eye view from one segmented image under the flat-ground assumption (z = 0 in base_link).

Everything geometric is precomputed once per camera in two lookup tables:

* inverse LUT, cell → pixel: every grid cell centre is projected into the image (inverse perspective
  mapping). Each visible cell reads the class of one pixel, so the grid has no holes far away, where
  one pixel covers many cells.
* forward LUT, pixel → cell: every pixel below the horizon is intersected with the ground. Used to
  drop obstacle *contact points* and thin lane markings into the grid, which cell sampling could miss.

Obstacles violate the flat-ground assumption: their pixels, projected, land *behind* the object. So
per image column we find, for each obstacle blob, its lowest pixel (where it touches the ground). The
cell of that contact point, and cells up to ``obstacle_depth`` metres behind it along the same
column, are occupied; cells further behind that still see the blob are occluded → UNKNOWN.
Priority: obstacle > lane marking > other ground classes.

Pixel convention: integer pixel coordinates are pixel centres (OpenCV); u to the right, v down.
"""

from __future__ import annotations

import numpy as np

from perception.classes import GROUND_CLASSES, NUM_CLASSES, OBSTACLE_CLASSES, TRAFFIC_LIGHT_CLASSES, Cls
from perception.types import BevGrid
from sim.types import CameraModel


def camera_axes_in_base(pitch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (forward, left, up) of the camera expressed in base_link; pitch > 0 looks down."""
    c, s = np.cos(pitch), np.sin(pitch)
    forward = np.array([c, 0.0, -s])
    left = np.array([0.0, 1.0, 0.0])
    up = np.array([s, 0.0, c])
    return forward, left, up


def pixel_rays(camera: CameraModel, v_offset: float = 0.0) -> np.ndarray:
    """(H, W, 3) ray directions in base_link (not normalised; forward component of the optical axis = 1)."""
    u = np.arange(camera.width, dtype=np.float64)
    v = np.arange(camera.height, dtype=np.float64) + v_offset
    uu, vv = np.meshgrid(u, v)
    x_opt = (uu - camera.cx) / camera.fx  # right
    y_opt = (vv - camera.cy) / camera.fy  # down
    forward, left, up = camera_axes_in_base(camera.pitch)
    return forward[None, None] + (-x_opt)[..., None] * left + (-y_opt)[..., None] * up


def ground_points(camera: CameraModel, v_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: (x, y) where its ray meets z = 0 in base_link, and a mask of pixels that do (below
    the horizon, in front of the camera). v_offset = +0.5 uses the lower pixel edge, not the centre."""
    if camera.z <= 0.0:
        raise ValueError(f"camera must be above the ground (z > 0) to project onto it, got z={camera.z}")
    rays = pixel_rays(camera, v_offset)
    hits = rays[..., 2] < -1e-9
    t = np.where(hits, -camera.z / np.where(hits, rays[..., 2], -1.0), np.nan)
    gx = camera.x + t * rays[..., 0]
    gy = camera.y + t * rays[..., 1]
    return gx, gy, hits


class BevProjector:
    def __init__(
        self,
        camera: CameraModel,
        *,
        x_range: tuple[float, float] = (0.0, 40.0),
        y_range: tuple[float, float] = (-10.0, 10.0),
        resolution: float = 0.25,
        obstacle_depth: float = 1.0,
    ) -> None:
        if resolution <= 0.0:
            raise ValueError(f"resolution must be > 0, got {resolution}")
        if not (x_range[1] > x_range[0] and y_range[1] > y_range[0]):
            raise ValueError(f"ranges must be (min, max) with max > min, got x={x_range}, y={y_range}")
        self.camera = camera
        self.resolution = float(resolution)
        self.origin_x, self.origin_y = float(x_range[0]), float(y_range[0])
        self.cols = round((x_range[1] - x_range[0]) / resolution)
        self.rows = round((y_range[1] - y_range[0]) / resolution)
        self.obstacle_depth = float(obstacle_depth)
        self._build_inverse_lut()
        self._build_forward_lut()
        # Class → value written into the grid for sampled pixels: traffic-light heads hang in the air,
        # so their flat-ground projection means nothing → UNKNOWN.
        self._sample_lut = np.arange(256, dtype=np.uint8)
        for c in TRAFFIC_LIGHT_CLASSES:
            self._sample_lut[int(c)] = BevGrid.UNKNOWN
        self._is_obstacle = np.zeros(256, dtype=bool)
        self._is_obstacle[[int(c) for c in OBSTACLE_CLASSES]] = True

    # --- precomputation -----------------------------------------------------------------------------

    def _build_inverse_lut(self) -> None:
        cam = self.camera
        xs = self.origin_x + (np.arange(self.cols) + 0.5) * self.resolution
        ys = self.origin_y + (np.arange(self.rows) + 0.5) * self.resolution
        gx, gy = np.meshgrid(xs, ys)  # (rows, cols)
        p = np.stack([gx - cam.x, gy - cam.y, np.full_like(gx, -cam.z)], axis=-1)
        forward, left, up = camera_axes_in_base(cam.pitch)
        depth = p @ forward
        in_front = depth > cam.near
        safe_depth = np.where(in_front, depth, 1.0)
        u = np.rint(cam.cx + cam.fx * (-(p @ left)) / safe_depth)
        v = np.rint(cam.cy + cam.fy * (-(p @ up)) / safe_depth)
        visible = in_front & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        self._cell_visible = visible.ravel()
        self._cell_pixel = np.where(visible, v * cam.width + u, 0).astype(np.int64).ravel()
        self._cell_column = np.where(visible, u, 0).astype(np.int64).ravel()
        # Ground range of each cell along the camera's forward direction, compared with the contact
        # point's range to decide "obstacle body" versus "occluded".
        self._cell_range = np.hypot(gx - cam.x, gy - cam.y).ravel()

    def _build_forward_lut(self) -> None:
        self._pixel_cell, _ = self._ground_lut(0.0)
        # Obstacle contacts use the pixel's lower edge: the base lies somewhere inside the lowest blob
        # pixel, whose footprint far away spans metres; its near edge is the conservative answer.
        self._contact_cell, self._pixel_range = self._ground_lut(0.5)

    def _ground_lut(self, v_offset: float) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel: flat grid cell index (-1 outside) and ground range (+inf above the horizon)."""
        gx, gy, hits = ground_points(self.camera, v_offset)
        col = np.floor((gx - self.origin_x) / self.resolution)
        row = np.floor((gy - self.origin_y) / self.resolution)
        inside = hits & (col >= 0) & (col < self.cols) & (row >= 0) & (row < self.rows)
        cell = np.where(inside, row * self.cols + col, -1).astype(np.int64).ravel()
        ground_range = np.where(hits, np.hypot(gx - self.camera.x, gy - self.camera.y), np.inf).ravel()
        return cell, ground_range

    # --- per frame ----------------------------------------------------------------------------------

    def project(self, classes: np.ndarray) -> BevGrid:
        cam = self.camera
        if classes.shape != (cam.height, cam.width):
            raise ValueError(f"classes must be ({cam.height}, {cam.width}), got {classes.shape}")
        if classes.dtype != np.uint8:
            raise TypeError(f"classes must be uint8, got {classes.dtype}")
        flat = classes.ravel()

        grid = np.full(self.rows * self.cols, BevGrid.UNKNOWN, dtype=np.uint8)
        sampled = flat[self._cell_pixel]
        grid[self._cell_visible] = self._sample_lut[sampled[self._cell_visible]]

        # Obstacle blobs: the contact row of the blob each pixel belongs to, per column.
        obstacle = self._is_obstacle[classes]
        contact_range = self._contact_range(obstacle)  # (H*W,) inf where not an obstacle
        cell_obstacle = self._cell_visible & self._is_obstacle[sampled]
        body = cell_obstacle & (self._cell_range <= contact_range[self._cell_pixel] + self.obstacle_depth)
        grid[cell_obstacle & ~body] = BevGrid.UNKNOWN  # seen through the blob: occluded

        # Thin lane markings: scatter every marking pixel so none is lost between sampled cells.
        marking = (flat == Cls.LANE_MARKING) & (self._pixel_cell >= 0)
        marking_cells = self._pixel_cell[marking]
        marking_cells = marking_cells[~self._is_obstacle[grid[marking_cells]]]
        grid[marking_cells] = Cls.LANE_MARKING

        # Contact points last: obstacles win over everything.
        contact = obstacle.ravel() & self._is_contact_pixel(obstacle) & (self._contact_cell >= 0)
        grid[self._contact_cell[contact]] = flat[contact]
        return BevGrid(
            classes=grid.reshape(self.rows, self.cols),
            resolution=self.resolution,
            origin_x=self.origin_x,
            origin_y=self.origin_y,
        )

    @staticmethod
    def _is_contact_pixel(obstacle: np.ndarray) -> np.ndarray:
        """Lowest pixel of each vertical obstacle run: obstacle here, not obstacle just below."""
        below = np.zeros_like(obstacle)
        below[:-1] = obstacle[1:]
        return (obstacle & ~below).ravel()

    def _contact_range(self, obstacle: np.ndarray) -> np.ndarray:
        """For each obstacle pixel, the ground range of its run's lowest pixel; inf elsewhere."""
        h, w = obstacle.shape
        is_contact = self._is_contact_pixel(obstacle).reshape(h, w)
        rows = np.arange(h)[:, None]
        contact_row = np.where(is_contact, rows, h)
        # The run bottom for a pixel in row v is the first contact row at or below v.
        first_below = np.minimum.accumulate(contact_row[::-1], axis=0)[::-1]
        bottom = np.minimum(first_below, h - 1)
        ranges = self._pixel_range.reshape(h, w)[bottom, np.arange(w)[None, :]]
        return np.where(obstacle, ranges, np.inf).ravel()


def class_histogram(grid: BevGrid) -> dict[str, int]:
    """Cells per class name plus 'unknown' — handy in tests and logs."""
    counts = np.bincount(grid.classes.ravel(), minlength=256)
    out = {Cls(c).name.lower(): int(counts[c]) for c in range(NUM_CLASSES)}
    out["unknown"] = int(counts[BevGrid.UNKNOWN])
    return out


__all__ = ["GROUND_CLASSES", "BevProjector", "class_histogram", "ground_points", "pixel_rays"]

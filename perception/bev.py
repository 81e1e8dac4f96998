"""Bird's-eye view from one segmented image under the flat-ground assumption (z = 0 in base_link).

Everything geometric is precomputed once per camera in two lookup tables:

* inverse LUT, cell → pixel: every grid cell centre is projected into the image (inverse perspective
  mapping). Each visible cell reads the class of one pixel, so the grid has no holes far away, where
  one pixel covers many cells.
* forward LUT, pixel → cell: every pixel below the horizon is intersected with the ground. Used to
  drop obstacle *contact points* and thin lane markings into the grid, which cell sampling could miss.

Obstacles violate the flat-ground assumption: their pixels, projected, land *behind* the object. So
per image column we find, for each obstacle blob, its lowest pixel (where it touches the ground,
or for vehicles their sill, ``contact_heights``; a run that ends in mid-air takes it from the blob
beside it, ``_contact_pixels``). The cell of that contact point and the cells up to
``obstacle_depth`` metres behind it along the viewing ray are occupied; cells whose pixel shows the
blob beyond that are occluded → UNKNOWN. Priority: obstacle > lane marking > other ground classes.

Pixel convention: integer pixel coordinates are pixel centres (OpenCV); u to the right, v down.
"""

from __future__ import annotations

import numpy as np

from contracts.messages import CameraModel
from perception.classes import GROUND_CLASSES, NUM_CLASSES, OBSTACLE_CLASSES, TRAFFIC_LIGHT_CLASSES, Cls
from perception.types import BevGrid


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


# Height above the ground of the lowest visible point of each obstacle class. A car body's lowest
# edge is its sill (0.25 m in the sim, similar on real cars seen from the front), not the ground: its
# ray meets the ground z/(z - h) times further away, which would place the car metres too far.
DEFAULT_CONTACT_HEIGHTS = {Cls.VEHICLE: 0.25, Cls.PEDESTRIAN: 0.0, Cls.OBSTACLE: 0.0}


DEFAULT_X_RANGE = (0.0, 40.0)  # m ahead of base_link
DEFAULT_Y_RANGE = (-10.0, 10.0)  # m, right (−) to left (+)
DEFAULT_RESOLUTION = 0.25  # m per cell


def grid_layout(
    x_range: tuple[float, float] = DEFAULT_X_RANGE,
    y_range: tuple[float, float] = DEFAULT_Y_RANGE,
    resolution: float = DEFAULT_RESOLUTION,
) -> tuple[int, int, float, float]:
    """(rows, cols, origin_x, origin_y) of the BEV grid over these ranges (BevGrid's layout)."""
    if resolution <= 0.0:
        raise ValueError(f"resolution must be > 0, got {resolution}")
    if not (x_range[1] > x_range[0] and y_range[1] > y_range[0]):
        raise ValueError(f"ranges must be (min, max) with max > min, got x={x_range}, y={y_range}")
    cols = round((x_range[1] - x_range[0]) / resolution)
    rows = round((y_range[1] - y_range[0]) / resolution)
    return rows, cols, float(x_range[0]), float(y_range[0])


class BevProjector:
    def __init__(
        self,
        camera: CameraModel,
        *,
        x_range: tuple[float, float] = DEFAULT_X_RANGE,
        y_range: tuple[float, float] = DEFAULT_Y_RANGE,
        resolution: float = DEFAULT_RESOLUTION,
        obstacle_depth: float = 1.0,
        contact_heights: dict | None = None,
    ) -> None:
        self.rows, self.cols, self.origin_x, self.origin_y = grid_layout(x_range, y_range, resolution)
        if camera.z <= 0.0:
            raise ValueError(f"camera must be above the ground (z > 0) to project onto it, got z={camera.z}")
        if obstacle_depth < 0.0:
            raise ValueError(f"obstacle_depth must be >= 0, got {obstacle_depth}")
        self.camera = camera
        self.resolution = float(resolution)
        self.obstacle_depth = float(obstacle_depth)
        heights = dict(DEFAULT_CONTACT_HEIGHTS)
        heights.update({Cls(int(k)): float(v) for k, v in (contact_heights or {}).items()})
        # Per class: factor that pulls a ground hit back towards the camera onto the contact point.
        self._contact_scale = np.ones(256)
        for c, h in heights.items():
            if not 0.0 <= h < camera.z:
                raise ValueError(f"contact height of {c.name} must be in [0, camera z), got {h}")
            self._contact_scale[int(c)] = (camera.z - h) / camera.z
        self._build_inverse_lut()
        self._build_forward_lut()
        # Class → value written into the grid for sampled pixels. Traffic-light heads hang in the air
        # and obstacle pixels show the object's side, not the ground cell behind it, so both → UNKNOWN
        # (obstacle footprints are added from their contact points below).
        self._sample_lut = np.arange(256, dtype=np.uint8)
        self._is_obstacle = np.zeros(256, dtype=bool)
        for c in (*TRAFFIC_LIGHT_CLASSES, *OBSTACLE_CLASSES):
            self._sample_lut[int(c)] = BevGrid.UNKNOWN
        self._is_obstacle[[int(c) for c in OBSTACLE_CLASSES]] = True
        steps = max(1, int(np.ceil(self.obstacle_depth / (0.5 * self.resolution))))
        self._depth_steps = np.linspace(0.0, self.obstacle_depth, steps + 1)

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

    def _build_forward_lut(self) -> None:
        gx, gy, hits = ground_points(self.camera, 0.0)
        self._pixel_cell = self._cells_of(gx.ravel(), gy.ravel(), hits.ravel())
        # Obstacle contacts use the pixel's lower edge: the base lies somewhere inside the lowest blob
        # pixel, whose footprint far away spans metres; its near edge is the conservative answer.
        ex, ey, ehits = ground_points(self.camera, 0.5)
        self._edge_x, self._edge_y, self._edge_hits = ex.ravel(), ey.ravel(), ehits.ravel()

    def _cells_of(self, x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Flat cell index of points (x, y), -1 where invalid or outside the grid."""
        col = np.floor((np.where(valid, x, -1e9) - self.origin_x) / self.resolution)
        row = np.floor((np.where(valid, y, -1e9) - self.origin_y) / self.resolution)
        inside = valid & (col >= 0) & (col < self.cols) & (row >= 0) & (row < self.rows)
        return np.where(inside, row * self.cols + col, -1).astype(np.int64)

    # --- per frame ----------------------------------------------------------------------------------

    def project(self, classes: np.ndarray) -> BevGrid:
        cam = self.camera
        if classes.shape != (cam.height, cam.width):
            raise ValueError(f"classes must be ({cam.height}, {cam.width}), got {classes.shape}")
        if classes.dtype != np.uint8:
            raise TypeError(f"classes must be uint8, got {classes.dtype}")
        flat = classes.ravel()

        # 1. Ground: every visible cell reads its pixel.
        grid = np.full(self.rows * self.cols, BevGrid.UNKNOWN, dtype=np.uint8)
        grid[self._cell_visible] = self._sample_lut[flat[self._cell_pixel[self._cell_visible]]]

        # 2. Thin lane markings: scatter every marking pixel so none is lost between sampled cells.
        marking = (flat == Cls.LANE_MARKING) & (self._pixel_cell >= 0)
        grid[self._pixel_cell[marking]] = Cls.LANE_MARKING

        # 3. Obstacles last (they win): from each blob's contact point, `obstacle_depth` metres of
        # footprint along the viewing ray.
        obstacle = self._is_obstacle[classes]
        seen, contact = self._contact_pixels(obstacle)
        keep = self._edge_hits[contact]
        seen, contact = seen[keep], contact[keep]
        if contact.size:
            cls = flat[seen]
            scale = self._contact_scale[cls]
            dx = (self._edge_x[contact] - cam.x) * scale
            dy = (self._edge_y[contact] - cam.y) * scale
            dist = np.maximum(np.hypot(dx, dy), 1e-9)
            ux, uy = dx / dist, dy / dist
            px = cam.x + dx[:, None] + ux[:, None] * self._depth_steps[None, :]
            py = cam.y + dy[:, None] + uy[:, None] * self._depth_steps[None, :]
            cells = self._cells_of(px.ravel(), py.ravel(), np.ones(px.size, bool))
            keep = cells >= 0
            grid[cells[keep]] = np.repeat(cls, len(self._depth_steps))[keep]
        return BevGrid(
            classes=grid.reshape(self.rows, self.cols),
            resolution=self.resolution,
            origin_x=self.origin_x,
            origin_y=self.origin_y,
        )

    @staticmethod
    def _contact_pixels(obstacle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per image column, the lowest pixel of each vertical obstacle run, and the flat index of the
        pixel whose ray gives its ground contact (both flat indices, same length).

        Usually the two are the same pixel. But a run can end in mid-air: a silhouette edge that is
        not quite vertical in the image (world verticals lean under a pitched camera; rasterising
        steps them one column over) leaves the top of an object alone in a column, with the road far
        behind it below. Its own ray meets the ground metres beyond the object (car_construction_zone
        seed 156: a cone at 18 m put an obstacle at 37 m in the oncoming lane). When the blob goes on
        downwards in a neighbouring column, the run's contact is taken from the bottom of that run
        instead: one step nearer, which on a genuinely sloped ground line is a pixel row of extra
        margin."""
        h, w = obstacle.shape
        rows = np.arange(h)[:, None]
        # Bottom row of the run each pixel belongs to: the next free row below it, minus one.
        next_free = np.where(obstacle, h, rows)
        run_bottom = np.minimum.accumulate(next_free[::-1], axis=0)[::-1] - 1
        below = np.zeros_like(obstacle)
        below[:-1] = obstacle[1:]
        v, u = np.nonzero(obstacle & ~below)
        contact_row = v.copy()
        inner = v + 1 < h
        for du in (-1, 1):
            n = u + du
            ok = inner & (n >= 0) & (n < w)
            vv, nn = v[ok] + 1, n[ok]
            lower = np.where(obstacle[vv, nn], run_bottom[vv, nn], -1)
            contact_row[ok] = np.maximum(contact_row[ok], lower)
        return v * w + u, contact_row * w + u


def class_histogram(grid: BevGrid) -> dict[str, int]:
    """Cells per class name plus 'unknown' — handy in tests and logs."""
    counts = np.bincount(grid.classes.ravel(), minlength=256)
    out = {Cls(c).name.lower(): int(counts[c]) for c in range(NUM_CLASSES)}
    out["unknown"] = int(counts[BevGrid.UNKNOWN])
    return out


__all__ = ["GROUND_CLASSES", "BevProjector", "class_histogram", "ground_points", "pixel_rays"]

"""From the BEV grid to obstacle points in the odom frame, and footprint collision tests against them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.classes import OBSTACLE_CLASSES, Cls
from perception.types import BevGrid
from planning.types import EgoState, Embodiment

OBSTACLE_LUT = np.zeros(256, dtype=bool)
OBSTACLE_LUT[[int(c) for c in OBSTACLE_CLASSES]] = True


def base_to_odom(ego: EgoState, bx: np.ndarray, by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(ego.yaw), np.sin(ego.yaw)
    return ego.x + c * bx - s * by, ego.y + s * bx + c * by


def odom_to_base(ego: EgoState, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = np.asarray(x) - ego.x, np.asarray(y) - ego.y
    c, s = np.cos(ego.yaw), np.sin(ego.yaw)
    return c * dx + s * dy, -s * dx + c * dy


def validate_grid(grid: BevGrid) -> None:
    if grid.classes.ndim != 2 or grid.classes.dtype != np.uint8:
        raise ValueError(
            f"BevGrid.classes must be a 2-D uint8 array, got {grid.classes.dtype} {grid.classes.shape}"
        )
    if not grid.resolution > 0:
        raise ValueError(f"BevGrid.resolution must be positive, got {grid.resolution}")


def grid_obstacles(grid: BevGrid, ego: EgoState) -> tuple[np.ndarray, np.ndarray]:
    """Occupied cells (vehicle, pedestrian, obstacle) → (M, 2) odom centres and (M,) classes."""
    rows, cols = np.nonzero(OBSTACLE_LUT[grid.classes])
    bx = grid.origin_x + (cols + 0.5) * grid.resolution
    by = grid.origin_y + (rows + 0.5) * grid.resolution
    x, y = base_to_odom(ego, bx, by)
    return np.stack([x, y], axis=1), grid.classes[rows, cols].astype(np.uint8)


def lookup_cells(grid: BevGrid, ego: EgoState, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Class at odom points; points outside the grid read as UNKNOWN."""
    bx, by = odom_to_base(ego, x, y)
    col = np.floor((bx - grid.origin_x) / grid.resolution).astype(int)
    row = np.floor((by - grid.origin_y) / grid.resolution).astype(int)
    inside = (col >= 0) & (col < grid.cols) & (row >= 0) & (row < grid.rows)
    out = np.full(np.shape(x), BevGrid.UNKNOWN, dtype=np.uint8)
    out[inside] = grid.classes[row[inside], col[inside]]
    return out


class ObstacleMemory:
    """Obstacle cells remembered for a few seconds after they leave the camera's view.

    The camera sees only ahead, so an obstacle being overtaken disappears from the grid while it is
    still beside the ego; without memory the planner would cut back into it.
    """

    def __init__(self, memory_s: float, keep_ahead_x: float):
        self.memory_s = memory_s
        # Only cells that fell out of view beside or behind the ego (base_link x below this) are kept;
        # cells ahead that turned UNKNOWN are occluded and will be seen again, and keeping them would
        # keep ghosts (a misplaced far object) alive for seconds.
        self.keep_ahead_x = keep_ahead_x
        self.xy = np.zeros((0, 2))
        self.cls = np.zeros(0, dtype=np.uint8)
        self.seen_ns = np.zeros(0, dtype=np.int64)

    def update(self, grid: BevGrid, ego: EgoState, stamp_ns: int) -> tuple[np.ndarray, np.ndarray]:
        xy_now, cls_now = grid_obstacles(grid, ego)
        if len(self.xy):
            # Keep old cells only where the grid cannot see now (unknown / outside) and not too old;
            # where the grid sees, it is the truth (the object moved or was never there).
            unseen = lookup_cells(grid, ego, self.xy[:, 0], self.xy[:, 1]) == BevGrid.UNKNOWN
            unseen &= odom_to_base(ego, self.xy[:, 0], self.xy[:, 1])[0] < self.keep_ahead_x
            fresh = (stamp_ns - self.seen_ns) <= int(self.memory_s * 1e9)
            keep = unseen & fresh & (self.cls != int(Cls.PEDESTRIAN))  # pedestrians move: do not keep
            xy = np.concatenate([xy_now, self.xy[keep]])
            cls = np.concatenate([cls_now, self.cls[keep]])
            seen = np.concatenate([np.full(len(xy_now), stamp_ns, dtype=np.int64), self.seen_ns[keep]])
        else:
            xy, cls, seen = xy_now, cls_now, np.full(len(xy_now), stamp_ns, dtype=np.int64)
        # Deduplicate on a grid so memory cannot grow without bound; newest entry first wins.
        if len(xy):
            key = np.round(xy / max(grid.resolution, 1e-3)).astype(np.int64)
            _, first = np.unique(key, axis=0, return_index=True)
            xy, cls, seen = xy[first], cls[first], seen[first]
        self.xy, self.cls, self.seen_ns = xy, cls, seen
        return xy, cls


@dataclass(frozen=True)
class Footprint:
    """The embodiment's rectangle, base_link-relative, with a margin."""

    center_offset: float  # base_link → rectangle centre along x
    half_length: float
    half_width: float

    @classmethod
    def of(cls, emb: Embodiment, margin: float = 0.0) -> Footprint:
        return cls(emb.rear_to_center, 0.5 * emb.length + margin, 0.5 * emb.width + margin)

    @property
    def front(self) -> float:
        """base_link → front edge along x."""
        return self.center_offset + self.half_length


def footprint_clearance(
    fp: Footprint, x: np.ndarray, y: np.ndarray, yaw: np.ndarray, pts: np.ndarray
) -> np.ndarray:
    """Distance (m) from each pose's footprint rectangle to the nearest point; 0 when a point is inside.

    x, y, yaw: (N,) poses; pts: (M, 2). Returns (N,), +inf when there are no points. Vectorised over
    N × M, so callers pre-filter points to the neighbourhood of the poses.
    """
    n = len(x)
    if len(pts) == 0 or n == 0:
        return np.full(n, np.inf)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    dx = pts[None, :, 0] - np.asarray(x)[:, None]
    dy = pts[None, :, 1] - np.asarray(y)[:, None]
    lx = c * dx + s * dy - fp.center_offset
    ly = -s * dx + c * dy
    ex = np.maximum(np.abs(lx) - fp.half_length, 0.0)
    ey = np.maximum(np.abs(ly) - fp.half_width, 0.0)
    return np.sqrt(ex * ex + ey * ey).min(axis=1)


def points_near(pts: np.ndarray, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of points within the poses' bounding box grown by radius (cheap pre-filter)."""
    if len(pts) == 0 or len(x) == 0:
        return np.zeros(len(pts), dtype=bool)
    return (
        (pts[:, 0] >= np.min(x) - radius)
        & (pts[:, 0] <= np.max(x) + radius)
        & (pts[:, 1] >= np.min(y) - radius)
        & (pts[:, 1] <= np.max(y) + radius)
    )

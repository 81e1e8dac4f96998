"""Route-relative coordinates: s (arc length along the centre line) and d (lateral, positive left)."""

from __future__ import annotations

import numpy as np


class RouteFrame:
    """s_offset: the arc length of centerline[0] when it is a window of a longer route."""

    def __init__(self, centerline: np.ndarray, s_offset: float = 0.0):
        pts = np.asarray(centerline, dtype=float)
        seg = np.diff(pts, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self.points = pts
        self.seg_start = pts[:-1]
        self.seg_dir = seg / seg_len[:, None]
        self.seg_len = seg_len
        self.s_start = s_offset + np.concatenate([[0.0], np.cumsum(seg_len)])[:-1]
        self.length = s_offset + float(seg_len.sum())

    def to_sd(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project (M, 2) points onto the nearest segment; the end segments extend past the route ends."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if len(xy) == 0:
            return np.zeros(0), np.zeros(0)
        # (M, S) arrays per coordinate: cheaper than (M, S, 2) with einsum
        dx, dy = self.seg_dir[:, 0], self.seg_dir[:, 1]
        rx = xy[:, 0:1] - self.seg_start[None, :, 0]
        ry = xy[:, 1:2] - self.seg_start[None, :, 1]
        along = rx * dx + ry * dy
        clipped = np.clip(along, 0.0, self.seg_len)
        # the end segments extend to infinity so nothing beyond the route end is misplaced
        clipped[:, 0] = np.minimum(along[:, 0], self.seg_len[0])
        clipped[:, -1] = np.maximum(along[:, -1], 0.0)
        ex, ey = rx - clipped * dx, ry - clipped * dy
        best = np.argmin(ex * ex + ey * ey, axis=1)
        idx = np.arange(len(xy))
        s = self.s_start[best] + clipped[idx, best]
        d = ry[idx, best] * dx[best] - rx[idx, best] * dy[best]  # cross product: positive left
        return s, d

    def to_xy(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=float)
        d = np.asarray(d, dtype=float)
        i = np.clip(np.searchsorted(self.s_start, s, side="right") - 1, 0, len(self.seg_len) - 1)
        along = s - self.s_start[i]
        base = self.seg_start[i] + along[:, None] * self.seg_dir[i]
        left = np.stack([-self.seg_dir[i, 1], self.seg_dir[i, 0]], axis=1)
        return base + d[:, None] * left

    def heading(self, s: float) -> float:
        i = int(np.clip(np.searchsorted(self.s_start, s, side="right") - 1, 0, len(self.seg_len) - 1))
        return float(np.arctan2(self.seg_dir[i, 1], self.seg_dir[i, 0]))

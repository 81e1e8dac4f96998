"""Frenet frame on the route centre line: arc length s and lateral offset d (positive left)."""

from __future__ import annotations

import numpy as np

from planning.types import RouteMap


def wrap_angle(a: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


class Route:
    """A polyline centre line with arc length, heading and curvature, queried vectorised."""

    def __init__(self, route: RouteMap):
        pts = np.asarray(route.centerline, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
            raise ValueError("route centerline must be (N, 2) with N >= 2")
        seg = np.diff(pts, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        keep = np.concatenate([[True], seg_len > 1e-6])  # drop duplicate points: they have no heading
        pts = pts[keep]
        if len(pts) < 2:
            raise ValueError("route centerline has fewer than two distinct points")
        self.map = route
        self.points = pts
        seg = np.diff(pts, axis=0)
        self.seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self.s_nodes = np.concatenate([[0.0], np.cumsum(self.seg_len)])
        self.length = float(self.s_nodes[-1])
        self.seg_dir = seg / self.seg_len[:, None]
        self.seg_yaw = np.arctan2(seg[:, 1], seg[:, 0])
        # heading_at's interpolation table, built once: it is queried several times per frame
        self._seg_mids = 0.5 * (self.s_nodes[:-1] + self.s_nodes[1:])
        self._seg_yaw_unwrapped = np.unwrap(self.seg_yaw)
        # Curvature at nodes from the heading change over the neighbouring segments; smoothed a little
        # because map polylines have ~1 m spacing and kinks would otherwise look like sharp turns.
        dyaw = wrap_angle(np.diff(self.seg_yaw))
        ds = 0.5 * (self.seg_len[:-1] + self.seg_len[1:])
        k_inner = dyaw / ds
        k = np.concatenate(
            [[k_inner[0] if len(k_inner) else 0.0], k_inner, [k_inner[-1] if len(k_inner) else 0.0]]
        )
        if len(k) >= 5:
            k = np.convolve(np.pad(k, 2, mode="edge"), np.ones(5) / 5.0, mode="valid")
        self.node_curvature = k
        self.goal_s = self.length if route.goal_s is None else float(np.clip(route.goal_s, 0.0, self.length))

    # --- queries -----------------------------------------------------------------------------------
    def project(
        self, xy: np.ndarray, s_min: float | None = None, s_max: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(M, 2) points → (s, d) on the nearest segment; restrict to [s_min, s_max] to avoid
        snapping onto a far part of a looping route."""
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        lo = 0 if s_min is None else max(0, int(np.searchsorted(self.s_nodes, s_min, side="right")) - 1)
        hi = (
            len(self.seg_len)
            if s_max is None
            else min(len(self.seg_len), int(np.searchsorted(self.s_nodes, s_max, side="left")) + 1)
        )
        # a window wholly past the end (an ego far beyond the goal) still searches the last segment
        lo = min(lo, len(self.seg_len) - 1)
        hi = max(hi, lo + 1)
        a = self.points[lo:hi]  # (K, 2) segment starts
        u = self.seg_dir[lo:hi]
        L = self.seg_len[lo:hi]
        rel = xy[:, None, :] - a[None, :, :]  # (M, K, 2)
        along = np.einsum("mkj,kj->mk", rel, u)
        # Extend the first and last segments so points before the start / past the end get s < 0 / > length.
        along_c = along.copy()
        along_c[:, 1:] = np.maximum(along_c[:, 1:], 0.0)
        along_c[:, :-1] = np.minimum(along_c[:, :-1], L[None, :-1])
        if lo > 0:
            along_c[:, 0] = np.maximum(along_c[:, 0], 0.0)
        if hi < len(self.seg_len):
            along_c[:, -1] = np.minimum(along_c[:, -1], L[-1])
        foot = a[None] + along_c[..., None] * u[None]
        dist2 = np.sum((xy[:, None, :] - foot) ** 2, axis=2)
        k = np.argmin(dist2, axis=1)
        m = np.arange(len(xy))
        s = self.s_nodes[lo + k] + along_c[m, k]
        cross = u[k, 0] * rel[m, k, 1] - u[k, 1] * rel[m, k, 0]
        return s, cross

    def _segment_index(self, s: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.s_nodes, s, side="right") - 1, 0, len(self.seg_len) - 1)

    def pose_at(
        self, s: np.ndarray | float, d: np.ndarray | float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y, yaw of the point at arc length s offset laterally by d; s beyond the ends extrapolates
        along the end segments."""
        s = np.asarray(s, dtype=float)
        d = np.asarray(d, dtype=float)
        i = self._segment_index(s)
        along = s - self.s_nodes[i]
        base = self.points[i] + along[..., None] * self.seg_dir[i]
        # Offset along the normal of the interpolated heading, not the segment's, so offset paths
        # stay continuous at polyline corners.
        yaw = self.heading_at(s)
        p = base + d[..., None] * np.stack([-np.sin(yaw), np.cos(yaw)], axis=-1)
        return p[..., 0], p[..., 1], yaw

    def heading_at(self, s: np.ndarray | float) -> np.ndarray:
        """Heading interpolated between segment headings (so paths built on it are smooth)."""
        return wrap_angle(np.interp(np.asarray(s, dtype=float), self._seg_mids, self._seg_yaw_unwrapped))

    def curvature_at(self, s: np.ndarray | float) -> np.ndarray:
        return np.interp(np.asarray(s, dtype=float), self.s_nodes, self.node_curvature)

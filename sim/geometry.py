"""Planar polylines with arc length: the backbone of roads, lanes, routes and actor paths.

Everything is 2-D in the world (= odom) frame; z is handled by whoever builds bodies.
"""

from __future__ import annotations

import math

import numpy as np


def wrap_angle(a: float) -> float:
    """Wrap to [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi


class Polyline:
    """A 2-D polyline parameterised by arc length s. Sampling beyond either end extrapolates along the
    end segment, so actors may drive off the ends smoothly (e.g. a lead vehicle past the goal)."""

    def __init__(self, points: np.ndarray):
        pts = np.asarray(points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
            raise ValueError(f"a polyline needs an (N>=2, 2) array of points, got shape {pts.shape}")
        seg = np.diff(pts, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        if np.any(seg_len <= 1e-9):
            raise ValueError("polyline has repeated consecutive points")
        self.points = pts
        self._seg = seg
        self._seg_len = seg_len
        self.s = np.concatenate(([0.0], np.cumsum(seg_len)))
        self.length = float(self.s[-1])
        self._heading = np.arctan2(seg[:, 1], seg[:, 0])

    def _segment_index(self, s: float) -> int:
        i = int(np.searchsorted(self.s, s, side="right")) - 1
        return min(max(i, 0), len(self._seg) - 1)

    def heading(self, s: float) -> float:
        return float(self._heading[self._segment_index(s)])

    def sample(self, s: float) -> tuple[float, float, float]:
        """(x, y, heading) at arc length s."""
        i = self._segment_index(s)
        t = (s - self.s[i]) / self._seg_len[i]
        x, y = self.points[i] + t * self._seg[i]
        return float(x), float(y), float(self._heading[i])

    def offset_point(self, s: float, lateral: float) -> tuple[float, float]:
        """Point at arc length s shifted `lateral` metres to the left (REP-103: +y is left)."""
        x, y, h = self.sample(s)
        return x - lateral * math.sin(h), y + lateral * math.cos(h)

    def project(self, x: float, y: float) -> tuple[float, float]:
        """(s, lateral) of the closest point; lateral > 0 means the point is left of the line.
        Beyond the ends, s extends linearly (negative before the start, > length after the end)."""
        p = np.array([x, y])
        rel = p - self.points[:-1]
        t = np.einsum("ij,ij->i", rel, self._seg) / self._seg_len**2
        # the first and last segments extend to infinity so that s keeps growing past the ends
        t_lo = np.zeros_like(t)
        t_hi = np.ones_like(t)
        t_lo[0] = -np.inf
        t_hi[-1] = np.inf
        t = np.clip(t, t_lo, t_hi)
        closest = self.points[:-1] + t[:, None] * self._seg
        d2 = np.sum((closest - p) ** 2, axis=1)
        i = int(np.argmin(d2))
        s = float(self.s[i] + t[i] * self._seg_len[i])
        cross = self._seg[i, 0] * rel[i, 1] - self._seg[i, 1] * rel[i, 0]
        lateral = math.copysign(math.sqrt(float(d2[i])), cross) if cross != 0 else 0.0
        return s, lateral

    def offset(self, lateral: float, spacing: float = 1.0) -> Polyline:
        """A parallel polyline `lateral` metres to the left, resampled at about `spacing` metres."""
        n = max(2, round(self.length / spacing) + 1)
        pts = [self.offset_point(s, lateral) for s in np.linspace(0.0, self.length, n)]
        return Polyline(np.array(pts))


def polyline_from_curvature(
    start_xy: tuple[float, float], start_heading: float, pieces: list[tuple[float, float]], step: float = 1.0
) -> Polyline:
    """Integrate a piecewise-constant curvature profile [(length, curvature), ...] into a polyline with
    points every `step` metres (exact arcs: each step turns by curvature*step about its midpoint)."""
    x, y = start_xy
    h = start_heading
    pts = [(x, y)]
    for length, kappa in pieces:
        n = max(1, round(length / step))
        ds = length / n
        for _ in range(n):
            mid = h + 0.5 * kappa * ds
            x += ds * math.cos(mid)
            y += ds * math.sin(mid)
            h += kappa * ds
            pts.append((x, y))
    return Polyline(np.array(pts))


def straight_pieces(polyline: Polyline, s0: float, s1: float, max_turn: float = 0.06, max_len: float = 20.0):
    """Split [s0, s1] into pieces along which the heading changes by < max_turn rad, so that curved
    roads are built from few boxes (each box costs 12 triangles in the renderer)."""
    pieces = []
    a = s0
    while a < s1 - 1e-6:
        h0 = polyline.heading(a)
        b = a
        while True:
            nb = min(b + 1.0, s1, a + max_len)
            if nb <= b + 1e-9:
                break
            if abs(wrap_angle(polyline.heading(nb - 1e-6) - h0)) > max_turn and b > a:
                break
            b = nb
        pieces.append((a, b))
        a = b
    return pieces

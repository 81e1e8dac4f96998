"""Pedestrian clusters tracked over frames, so a pedestrian walking towards the lane is yielded to before
it steps in (a 1.3 m/s walker covers the yield margin in about a second, too late to stop from 10 m/s)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


def cluster_points(pts: np.ndarray, link: float) -> list[np.ndarray]:
    """Single-linkage clusters (index arrays) of (M, 2) points; link = max gap inside a cluster."""
    n = len(pts)
    if n == 0:
        return []
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    d2 = np.sum((pts[:, None, :] - pts[None, :, :]) ** 2, axis=2)
    for i, j in zip(*np.nonzero(np.triu(d2 <= link * link, k=1)), strict=True):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[rj] = ri
    roots = np.array([find(i) for i in range(n)])
    return [np.nonzero(roots == r)[0] for r in np.unique(roots)]


@dataclass
class _Track:
    history: deque = field(default_factory=deque)  # (stamp_ns, centroid (2,))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))


class PedestrianTracker:
    """Nearest-centroid association between frames; velocity from a least-squares fit over a window."""

    def __init__(
        self, window_s: float = 0.6, gate: float = 1.5, min_speed: float = 0.4, max_speed: float = 3.0
    ):
        self.window_ns = int(window_s * 1e9)
        self.gate = gate
        self.min_speed = min_speed
        self.max_speed = max_speed
        self.tracks: list[_Track] = []

    def update(self, stamp_ns: int, ped_pts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Returns (points, velocity) per pedestrian cluster this frame; velocity is 0 until known."""
        clusters = cluster_points(ped_pts, link=0.8)
        centroids = [ped_pts[idx].mean(axis=0) for idx in clusters]
        new_tracks: list[_Track] = []
        free = list(range(len(self.tracks)))
        out = []
        for idx, c in zip(clusters, centroids, strict=True):
            best, best_d = None, self.gate
            for k in free:
                d = float(np.hypot(*(self.tracks[k].history[-1][1] - c)))
                if d < best_d:
                    best, best_d = k, d
            track = _Track() if best is None else self.tracks[best]
            if best is not None:
                free.remove(best)
            track.history.append((stamp_ns, c))
            while len(track.history) > 2 and stamp_ns - track.history[0][0] > self.window_ns:
                track.history.popleft()
            track.velocity = self._fit(track)
            new_tracks.append(track)
            out.append((ped_pts[idx], track.velocity.copy()))
        self.tracks = new_tracks
        return out

    def _fit(self, track: _Track) -> np.ndarray:
        if len(track.history) < 4:
            return np.zeros(2)
        t = np.array([h[0] for h in track.history], dtype=float) * 1e-9
        p = np.array([h[1] for h in track.history])
        t -= t.mean()
        v = (t[:, None] * (p - p.mean(axis=0))).sum(axis=0) / max(float(np.dot(t, t)), 1e-12)
        speed = float(np.hypot(*v))
        if speed < self.min_speed:
            return np.zeros(2)  # standing (or grid jitter): no prediction
        return v * min(1.0, self.max_speed / speed)


def predicted_points(
    tracks: list[tuple[np.ndarray, np.ndarray]], horizon_s: float, step_s: float = 0.25
) -> np.ndarray:
    """Current pedestrian cells plus where they would be over the horizon at constant velocity."""
    chunks = [np.zeros((0, 2))]
    taus = np.arange(0.0, horizon_s + 1e-9, step_s)
    for pts, v in tracks:
        if not np.any(v):
            chunks.append(pts)
            continue
        chunks.append((pts[None, :, :] + taus[:, None, None] * v[None, None, :]).reshape(-1, 2))
    return np.concatenate(chunks)

"""Road users followed over frames: BEV blobs → detections in odom → constant-velocity Kalman tracks.

One BEV grid says where vehicle and pedestrian cells are, not whether they move. The checks that decide
a pass over the oncoming lane (System 1's, planning/system2.py, and System 2's, the cloud's deliberative
backend) need exactly that: a road user of unknown speed there means wait, and a static one read as a
road user (a parked car, or a patch the segmentation mislabels) would keep the car waiting forever.

Per frame:
1. **Detect.** Every 8-connected blob of VEHICLE or PEDESTRIAN cells (at least `min_cells`) is one
   detection: the centroid of its cells and their extent, placed in odom with the frame's ego pose.
2. **Predict** every track to the frame's stamp: constant velocity, white-noise acceleration of
   `accel_std` (the textbook CV model: Bar-Shalom, Li, Kirubarajan, *Estimation with Applications to
   Tracking and Navigation*, 6.3.2).
3. **Associate** with the Hungarian method (scipy.optimize.linear_sum_assignment) on the distance from
   each predicted position to each detection; pairs of different class, or farther apart than the gate
   (`gate_m` plus what the track's speed uncertainty allows over the elapsed time), are not allowed.
4. **Update** matched tracks (Kalman update on the position); an unmatched detection starts a new
   track; an unmatched track counts a miss and is dropped after `max_misses` frames in a row.

A track is *confirmed* after `min_hits` associations. Its velocity is *known* once the filter's
velocity standard deviation is under `known_velocity_std` (about 1.5 s of frames at 10 Hz with the
defaults): only then may a check use it, and a road user whose speed is not known stays one of unknown
speed (the safe side). It is *static* when even two standard deviations faster than estimated it would
stay under `static_speed_mps`. Pure numpy + scipy: no ROS,
no simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from contracts.messages import TrackedObject
from perception.classes import Cls
from perception.types import BevGrid

TRACKED_CLASSES = (Cls.VEHICLE, Cls.PEDESTRIAN)
_FORBIDDEN = 1e6  # assignment cost of a pair that may not match


@dataclass(frozen=True)
class Detection:
    """One BEV blob of a road-user class, in odom."""

    label: str  # perception.classes name
    x: float
    y: float
    length: float  # extent along the ego's heading, m
    width: float  # across it
    yaw: float  # the ego's heading (the extent's axes)
    cells: int


def bev_detections(
    grid: BevGrid, ego_x: float, ego_y: float, ego_yaw: float, min_cells: int = 1
) -> list[Detection]:
    """The road-user blobs of a BEV grid (base_link at the ego pose) as detections in odom."""
    c, s = math.cos(ego_yaw), math.sin(ego_yaw)
    out = []
    for cls in TRACKED_CLASSES:
        mask = (grid.classes == int(cls)).astype(np.uint8)
        if not mask.any():
            continue
        # cv2 gives each blob's cell count, bounding box and centroid (in cells): no per-blob pass
        n, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, n):
            cells = int(stats[i, cv2.CC_STAT_AREA])
            if cells < min_cells:
                continue
            mx = grid.origin_x + (float(centroids[i, 0]) + 0.5) * grid.resolution
            my = grid.origin_y + (float(centroids[i, 1]) + 0.5) * grid.resolution
            out.append(
                Detection(
                    label=cls.name.lower(),
                    x=ego_x + c * mx - s * my,
                    y=ego_y + s * mx + c * my,
                    length=int(stats[i, cv2.CC_STAT_WIDTH]) * grid.resolution,  # columns run along +x
                    width=int(stats[i, cv2.CC_STAT_HEIGHT]) * grid.resolution,
                    yaw=ego_yaw,
                    cells=cells,
                )
            )
    return out


@dataclass
class _Track:
    track_id: int
    label: str
    state: np.ndarray  # (4,) x, y, vx, vy
    cov: np.ndarray  # (4, 4)
    length: float
    width: float
    yaw: float
    first_ns: int
    last_ns: int
    hits: int = 1
    misses: int = 0


class ObjectTracker:
    def __init__(
        self,
        *,
        gate_m: float = 1.5,
        meas_std_m: float = 0.4,
        accel_std: float = 0.5,
        init_speed_std: float = 8.0,
        min_hits: int = 3,
        max_misses: int = 5,
        known_velocity_std: float = 0.25,
        static_speed_mps: float = 0.5,
        min_cells: int = 1,
    ) -> None:
        if gate_m <= 0 or meas_std_m <= 0 or accel_std < 0 or init_speed_std <= 0:
            raise ValueError("gate_m, meas_std_m and init_speed_std must be > 0, accel_std >= 0")
        if min_hits < 1 or max_misses < 1 or min_cells < 1:
            raise ValueError("min_hits, max_misses and min_cells must be >= 1")
        self.gate_m, self.meas_var = gate_m, meas_std_m**2
        self.accel_var, self.init_speed_var = accel_std**2, init_speed_std**2
        self.min_hits, self.max_misses, self.min_cells = min_hits, max_misses, min_cells
        self.known_velocity_std, self.static_speed_mps = known_velocity_std, static_speed_mps
        self.tracks: list[_Track] = []
        self._next_id = 1
        self._last_ns: int | None = None

    # --- per frame ----------------------------------------------------------------------------------
    def update_from_grid(
        self, stamp_ns: int, grid: BevGrid, ego_x: float, ego_y: float, ego_yaw: float
    ) -> None:
        self.update(stamp_ns, bev_detections(grid, ego_x, ego_y, ego_yaw, self.min_cells))

    def update(self, stamp_ns: int, detections: list[Detection]) -> None:
        if self._last_ns is not None and stamp_ns <= self._last_ns:
            raise ValueError(f"tracker: stamps must increase ({stamp_ns} after {self._last_ns})")
        for t in self.tracks:
            self._predict(t, (stamp_ns - t.last_ns) * 1e-9)
        matches = self._associate(detections)
        matched_tracks = set()
        for ti, di in matches:
            t, d = self.tracks[ti], detections[di]
            self._correct(t, np.array([d.x, d.y]))
            t.length, t.width, t.yaw = d.length, d.width, d.yaw
            t.hits, t.misses, t.last_ns = t.hits + 1, 0, stamp_ns
            matched_tracks.add(ti)
        for i, t in enumerate(self.tracks):
            if i not in matched_tracks:
                t.misses += 1
        self.tracks = [t for t in self.tracks if t.misses < self.max_misses]
        for di in sorted(set(range(len(detections))) - {di for _, di in matches}):
            d = detections[di]
            cov = np.diag([self.meas_var, self.meas_var, self.init_speed_var, self.init_speed_var])
            state = np.array([d.x, d.y, 0.0, 0.0])
            self.tracks.append(
                _Track(self._next_id, d.label, state, cov, d.length, d.width, d.yaw, stamp_ns, stamp_ns)
            )
            self._next_id += 1
        self._last_ns = stamp_ns

    # --- what the checks read -----------------------------------------------------------------------
    def confirmed(self) -> list[TrackedObject]:
        return [self._public(t) for t in self.tracks if t.hits >= self.min_hits]

    def known_velocity(self) -> list[TrackedObject]:
        """Confirmed tracks whose velocity the filter knows to `known_velocity_std`: the ones a check may
        take the speed of (the rest remain road users of unknown speed)."""
        return [o for o in self.confirmed() if o.velocity_std <= self.known_velocity_std]

    def static(self) -> list[TrackedObject]:
        """Known-velocity tracks that stand still: even two standard deviations faster than estimated
        they stay under `static_speed_mps`."""
        return [o for o in self.known_velocity() if o.speed + 2.0 * o.velocity_std < self.static_speed_mps]

    # --- the filter ---------------------------------------------------------------------------------
    def _predict(self, t: _Track, dt: float) -> None:
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt
        g = np.array([[0.5 * dt * dt, 0.0], [0.0, 0.5 * dt * dt], [dt, 0.0], [0.0, dt]])
        t.state = f @ t.state
        t.cov = f @ t.cov @ f.T + self.accel_var * (g @ g.T)

    def _correct(self, t: _Track, z: np.ndarray) -> None:
        s = t.cov[:2, :2] + self.meas_var * np.eye(2)  # H = [I 0]
        k = t.cov[:, :2] @ np.linalg.inv(s)
        t.state = t.state + k @ (z - t.state[:2])
        t.cov = (np.eye(4) - k @ np.eye(2, 4)) @ t.cov
        t.cov = 0.5 * (t.cov + t.cov.T)  # keep it symmetric against rounding

    def _associate(self, detections: list[Detection]) -> list[tuple[int, int]]:
        if not self.tracks or not detections:
            return []
        pred = np.array([t.state[:2] for t in self.tracks])
        meas = np.array([[d.x, d.y] for d in detections])
        dist = np.hypot(pred[:, None, 0] - meas[None, :, 0], pred[:, None, 1] - meas[None, :, 1])
        # the gate grows with the position uncertainty of the prediction (a young track's speed is unknown)
        pos_std = np.sqrt([max(np.linalg.eigvalsh(t.cov[:2, :2]).max(), 0.0) for t in self.tracks])
        gate = self.gate_m + 2.0 * pos_std
        same = np.array([[t.label == d.label for d in detections] for t in self.tracks])
        allowed = same & (dist <= gate[:, None])
        cost = np.where(allowed, dist, _FORBIDDEN)
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]

    def _public(self, t: _Track) -> TrackedObject:
        return TrackedObject(
            track_id=t.track_id,
            label=t.label,
            x=float(t.state[0]),
            y=float(t.state[1]),
            vx=float(t.state[2]),
            vy=float(t.state[3]),
            covariance=tuple(float(v) for v in t.cov.ravel()),
            length=t.length,
            width=t.width,
            yaw=t.yaw,
            hits=t.hits,
            age_s=(t.last_ns - t.first_ns) * 1e-9,
        )

"""A fingerprint of what a lockstep run did: SHA-256 over every control period's stamp, the driven
poses and the commands the bodies held.

Why: a refactoring must not change what a scenario does. Metrics such as success or route completion
hide small changes; this digest does not: one bit of one pose in one period changes it. Two runs of
the same scenario and seed (direct or through the ROS 2 graph) are compared by `trajectory_sha256`
in the scenario JSON. Only periods up to and including the one that ended the run count, so how long
a runner keeps stepping after the end does not change the digest.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import numpy as np


class TrajectoryDigest:
    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.periods = 0

    def add(self, stamp_ns: int, *parts: Sequence[float]) -> None:
        """One control period: its end stamp, then each body's pose and held command (float64 bits)."""
        self._sha.update(struct.pack("<q", int(stamp_ns)))
        for part in parts:
            a = np.asarray(part, dtype="<f8").ravel()
            self._sha.update(struct.pack("<I", a.size))  # length prefix: (1,2)+(3,) ≠ (1,)+(2,3)
            self._sha.update(a.tobytes())
        self.periods += 1

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

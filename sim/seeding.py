"""Deterministic random streams from any Python int seed (negative, huge)."""

from __future__ import annotations

import numpy as np

# Named streams so that adding draws to one (e.g. odometry noise) never shifts another (layout).
STREAM_LAYOUT = 1
STREAM_APPEARANCE = 2
STREAM_ODOM_NOISE = 3


def seed_entropy(seed: int) -> int:
    """Map any int to a distinct non-negative int (zig-zag), as SeedSequence needs entropy >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    return 2 * seed if seed >= 0 else -2 * seed - 1


def rng_for(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed_entropy(seed), spawn_key=(stream,)))

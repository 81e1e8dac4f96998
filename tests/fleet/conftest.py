"""Shared fixtures of the fleet tests: a fresh SQLite store, small shards, synthetic results."""

from __future__ import annotations

import numpy as np
import pytest

from cloud_reasoner.fleet.blobs import digest_of
from cloud_reasoner.fleet.jobs import SEGMENT_STATS, JobSpec, canonical_json
from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState
from cloud_reasoner.fleet.store import SqliteFleetStore, StoreConfig

OPTED_IN = OptInPolicy(opted_in=True, only_while_charging=False, min_state_of_charge=0.2)
PARKED = VehicleState(parked=True, charging=True, state_of_charge=0.8, temperature_c=25.0, local_hour=2.0)


def fake_result(seed: int, frames: int = 4, wrong: bool = False) -> bytes:
    """A segment_stats-shaped result determined by `seed`; `wrong` moves the class fractions."""
    rng = np.random.default_rng(seed)
    fractions = rng.dirichlet(np.ones(10), size=frames)
    if wrong:
        fractions = np.roll(fractions, 1, axis=1)
    conf = rng.uniform(0.9, 1.0, size=frames)
    doc = {
        "kind": SEGMENT_STATS,
        "frames": frames,
        "class_fraction": fractions.tolist(),
        "mean_confidence": conf.tolist(),
        "low_confidence_threshold": 0.97,
        "low_confidence_frames": [i for i, c in enumerate(conf) if c < 0.97],
    }
    return canonical_json(doc)


@pytest.fixture
def store(tmp_path):
    s = SqliteFleetStore(tmp_path / "fleet.sqlite", StoreConfig(trust_after=3, spot_check_probability=0.0))
    yield s
    s.close()


def add_jobs(store: SqliteFleetStore, n: int, now_ns: int = 0) -> list[str]:
    shard = b"shard-bytes"
    digest = digest_of(shard)
    store.put_blob(shard, digest)
    ids = [f"job-{i:04d}" for i in range(n)]
    store.add_jobs([(JobSpec(j, SEGMENT_STATS, digest, {}), 1.0) for j in ids], now_ns)
    return ids


def register(store: SqliteFleetStore, *names: str) -> None:
    for name in names:
        store.register_vehicle(name, f"owner-{name}", OPTED_IN, 30.0, 0)

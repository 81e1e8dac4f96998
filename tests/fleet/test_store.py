import sqlite3

import pytest

from cloud_reasoner.fleet.blobs import BlobError, digest_of
from cloud_reasoner.fleet.policy import Reason
from cloud_reasoner.fleet.store import (
    SCHEMA_VERSION,
    FailedPrecondition,
    PermissionDenied,
    ResultItem,
    SqliteFleetStore,
    StoreConfig,
)

from .conftest import PARKED, add_jobs, fake_result, register

TTL = 10**9


def item(lease, seed, wrong=False, compute_s=1.0) -> ResultItem:
    data = fake_result(seed, wrong=wrong)
    return ResultItem(lease.lease_id, data, digest_of(data), compute_s)


def seed_of(lease) -> int:
    return int(lease.job.job_id.split("-")[1])


def test_schema_version_and_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    s = SqliteFleetStore(path)
    assert s.schema_version() == SCHEMA_VERSION
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    s2 = SqliteFleetStore(path)  # migrations are not re-applied
    assert s2.schema_version() == SCHEMA_VERSION
    s2.close()


def test_quorum_of_two_validates_and_credits_once(store):
    register(store, "a", "b")
    add_jobs(store, 1)
    (la,), _ = store.lease("a", PARKED, 4, TTL, 1)
    (lb,), _ = store.lease("b", PARKED, 4, TTL, 1)
    assert la.job.job_id == lb.job.job_id
    assert store.lease("a", PARKED, 4, TTL, 1)[0] == []  # no second replica for the same vehicle
    assert store.submit("a", [item(la, 0)], 2)[0].status == "pending"
    assert store.submit("b", [item(lb, 0)], 3)[0].status == "valid"
    again = store.submit("b", [item(lb, 0)], 4)[0]
    assert again.duplicate and again.status == "valid"
    summary = store.summary()
    assert summary["jobs"]["validated"] == 1
    assert sum(o["results"] for o in summary["credits_by_owner"]) == 2
    assert summary["double_credited"] == 0


def test_credit_unique_constraint_is_in_the_schema(store):
    register(store, "a", "b")
    add_jobs(store, 1)
    (la,), _ = store.lease("a", PARKED, 1, TTL, 1)
    (lb,), _ = store.lease("b", PARKED, 1, TTL, 1)
    store.submit("a", [item(la, 0)], 2)
    store.submit("b", [item(lb, 0)], 2)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store._db.execute(
            "INSERT INTO credits (job_id, vehicle_id, owner, lease_id, compute_s, energy_j, granted_ns)"
            " VALUES (?, 'a', 'x', ?, 1, 1, 1)",
            (la.job.job_id, la.lease_id),
        )


def test_disagreement_reissues_and_majority_wins(store):
    register(store, "honest1", "liar", "honest2")
    add_jobs(store, 1)
    (l1,), _ = store.lease("honest1", PARKED, 1, TTL, 1)
    (l2,), _ = store.lease("liar", PARKED, 1, TTL, 1)
    assert store.lease("honest2", PARKED, 1, TTL, 1)[0] == []  # both replicas out
    store.submit("honest1", [item(l1, 0)], 2)
    assert store.submit("liar", [item(l2, 0, wrong=True)], 2)[0].status == "pending"
    (l3,), _ = store.lease("honest2", PARKED, 1, TTL, 3)  # disagreement opened a third replica
    store.submit("honest2", [item(l3, 0)], 4)
    rows = dict(store._db.execute("SELECT vehicle_id, outcome FROM leases").fetchall())
    assert rows == {"honest1": "valid", "liar": "invalid", "honest2": "valid"}
    credited = {v for _, v, _ in store.credited_results()}
    assert credited == {"honest1", "honest2"}
    (invalid,) = store._db.execute("SELECT invalid_results FROM vehicles WHERE vehicle_id='liar'").fetchone()
    assert invalid == 1


def test_adaptive_replication_trusts_after_consecutive_valid(store):
    register(store, "a", "b")
    ids = add_jobs(store, 10)
    # 3 jobs (trust_after=3) validated with quorum 2 make both vehicles trusted
    for _ in range(3):
        (la,), _ = store.lease("a", PARKED, 1, TTL, 1)
        (lb,), _ = store.lease("b", PARKED, 1, TTL, 1)
        store.submit("a", [item(la, seed_of(la))], 2)
        store.submit("b", [item(lb, seed_of(lb))], 2)
    leases, _ = store.lease("a", PARKED, 2, TTL, 5)
    assert [lease.job.job_id for lease in leases] == ids[3:5]
    out = store.submit("a", [item(lease, seed_of(lease)) for lease in leases], 6)
    assert [o.status for o in out] == ["valid", "valid"]  # trusted alone: quorum 1
    assert store.summary()["validated_by_quorum"] == {"2": 3, "1": 2}


def test_trusted_vehicle_still_spot_checked(tmp_path):
    s = SqliteFleetStore(tmp_path / "s.sqlite", StoreConfig(trust_after=0, spot_check_probability=0.3))
    register(s, "a")
    add_jobs(s, 200)
    leases, _ = s.lease("a", PARKED, 64, TTL, 1)
    leases += s.lease("a", PARKED, 64, TTL, 1)[0]
    quorums = [q for (q,) in s._db.execute("SELECT quorum FROM jobs WHERE quorum IS NOT NULL")]
    share = quorums.count(2) / len(quorums)
    assert 0.15 < share < 0.45, share
    s.close()


def test_expired_lease_is_reissued_and_late_result_not_credited(store):
    register(store, "slow", "b", "c")
    add_jobs(store, 1)
    (ls,), _ = store.lease("slow", PARKED, 1, TTL, 0)
    store.lease("b", PARKED, 1, TTL, 0)
    assert store.expire_leases(TTL + 1) == 2
    assert store.submit("slow", [item(ls, 0)], TTL + 2)[0].status == "late"
    (lc,), _ = store.lease("c", PARKED, 1, TTL, TTL + 3)
    (lb2,), _ = store.lease("b", PARKED, 1, TTL, TTL + 3)
    store.submit("c", [item(lc, 0)], TTL + 4)
    store.submit("b", [item(lb2, 0)], TTL + 4)
    assert {v for _, v, _ in store.credited_results()} == {"b", "c"}
    assert store.summary()["reissues"] == 2


def test_submission_past_deadline_before_sweep_is_late(store):
    register(store, "a")
    add_jobs(store, 1)
    (la,), _ = store.lease("a", PARKED, 1, TTL, 0)
    assert store.submit("a", [item(la, 0)], TTL + 1)[0].status == "late"
    assert store.summary()["jobs"]["open"] == 1


def test_other_vehicles_lease_and_corrupt_blob_rejected(store):
    register(store, "a", "b")
    add_jobs(store, 1)
    (la,), _ = store.lease("a", PARKED, 1, TTL, 0)
    with pytest.raises(PermissionDenied):
        store.submit("b", [item(la, 0)], 1)
    with pytest.raises(PermissionDenied):
        store.release("b", la.lease_id, None, 1)
    data = fake_result(0)
    with pytest.raises(BlobError):
        store.submit("a", [ResultItem(la.lease_id, data + b" ", digest_of(data), 1.0)], 1)
    with pytest.raises(FailedPrecondition, match="different result"):
        store.submit("a", [item(la, 0)], 1)
        store.submit("a", [item(la, 1)], 1)


def test_release_keeps_own_checkpoint_for_resume(store):
    register(store, "a", "b")
    add_jobs(store, 1)
    (la,), _ = store.lease("a", PARKED, 1, TTL, 0)
    cp = b"checkpoint"
    store.put_blob(cp, digest_of(cp))
    assert store.report_progress("a", la.lease_id, digest_of(cp), 0.5, 1)
    assert store.release("a", la.lease_id, None, 2)
    (la2,), _ = store.lease("a", PARKED, 1, TTL, 3)
    assert la2.checkpoint_digest == digest_of(cp)
    (lb,), _ = store.lease("b", PARKED, 1, TTL, 3)
    assert lb.checkpoint_digest is None  # never resume from another vehicle's (untrusted) state


def test_ineligible_vehicle_gets_nothing(store):
    from dataclasses import replace

    register(store, "a")
    add_jobs(store, 1)
    leases, reason = store.lease("a", replace(PARKED, parked=False), 1, TTL, 0)
    assert leases == [] and reason is Reason.DRIVING
    with pytest.raises(FailedPrecondition, match="not registered"):
        store.lease("ghost", PARKED, 1, TTL, 0)


def test_silent_vehicle_leases_reissued_before_deadline(store):
    register(store, "gone", "alive")
    add_jobs(store, 2)
    store.lease("gone", PARKED, 1, 100 * TTL, 0)
    (la,), _ = store.lease("alive", PARKED, 1, 100 * TTL, 5)
    assert store.expire_leases(10) == 0
    assert store.expire_leases(10, silent_since_ns=3) == 1  # only the vehicle not seen since t=3
    assert store.submit("alive", [item(la, 0)], 11)[0].status == "pending"


def test_migration_from_v1_keeps_data(tmp_path):
    import cloud_reasoner.fleet.store as store_mod

    path = tmp_path / "old.sqlite"
    old = dict(store_mod._MIGRATIONS)
    try:
        for version in range(2, max(old) + 1):
            store_mod._MIGRATIONS.pop(version)
        store_mod.SCHEMA_VERSION = 1
        v1 = SqliteFleetStore(path)
        register(v1, "a")
        add_jobs(v1, 3)
        v1.close()
    finally:
        store_mod._MIGRATIONS.clear()
        store_mod._MIGRATIONS.update(old)
        store_mod.SCHEMA_VERSION = max(old)
    v2 = SqliteFleetStore(path)
    assert v2.schema_version() == max(old) == 3
    names = {n for (n,) in v2._db.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    assert {"leases_vehicle_checkpoints", "leases_vehicle", "blob_uploads"} <= names
    assert v2.summary()["jobs"]["open"] == 3
    assert len(v2.lease("a", PARKED, 3, TTL, 1)[0]) == 3
    v2.close()

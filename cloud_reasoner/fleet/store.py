"""The fleet job store: vehicles, jobs, leases (work-unit replicas), results, credits, blobs.

`FleetStore` is the interface the servicer uses; `SqliteFleetStore` is the embedded implementation.
Everything the servicer does in one RPC is one transaction (`BEGIN IMMEDIATE` … `COMMIT`), so a crash
(kill -9) leaves either all or none of it. SQL stays in this module and is plain SQL-92 plus partial
indexes and RETURNING, which PostgreSQL also has, so a PostgreSQL backend for several server replicas
is a second class with the same methods (it would use `SELECT … FOR UPDATE SKIP LOCKED` in `lease`).

SQLite settings: WAL (readers never block the one writer) and ``synchronous=NORMAL``. In WAL mode
NORMAL never corrupts the database and loses nothing on a *process* crash (kill -9: committed pages
are in the OS page cache); on a power cut it may lose the last few commits, which rolls back whole
RPCs: a lease or a result the vehicle was told about is forgotten, its lease then expires and the job
is re-issued — nothing is lost or credited twice. FULL would fsync every commit (about a millisecond
each here) and cap throughput far below the target; use ``synchronous="FULL"`` where the power-loss
window matters more.

Validation (BOINC): a job's quorum is decided when its first replica is leased: 1 if the vehicle is
trusted (≥ `trust_after` consecutive valid results) and not picked for a random spot check, else
`replication` (2). Results wait until `quorum` of them agree within the tolerance; the agreeing ones
are valid and credited, the others invalid (tracked per vehicle; trust is lost at once). Disagreement
or a missing replica opens another slot. Credits are inserted under UNIQUE(job_id, vehicle_id), so no
code path can grant a (job, vehicle) twice; a vehicle also has at most one result per job (a partial
unique index), so it cannot vote twice in a quorum.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cloud_reasoner.fleet.blobs import check_digest_format, digest_of, verify
from cloud_reasoner.fleet.jobs import JobSpec
from cloud_reasoner.fleet.policy import OptInPolicy, Reason, VehicleState, eligibility
from cloud_reasoner.fleet.validation import (
    DEFAULT_TOLERANCE,
    MalformedResult,
    find_quorum,
    parse_result,
    results_agree,
)

SCHEMA_VERSION = 3


class StoreError(Exception):
    """Base of the domain errors the servicer maps onto gRPC status codes."""


class NotFound(StoreError):
    pass


class PermissionDenied(StoreError):
    pass


class InvalidArgument(StoreError):
    pass


class FailedPrecondition(StoreError):
    pass


class QuotaExceeded(StoreError):
    pass


@dataclass(frozen=True)
class StoreConfig:
    replication: int = 2  # replicas of a job leased to untrusted vehicles (and min quorum)
    trust_after: int = 10  # consecutive valid results after which a vehicle is trusted
    spot_check_probability: float = 0.1  # a trusted vehicle's job is still replicated this often
    max_results_per_job: int = 8  # give up (state 'failed') after this many results without quorum
    tolerance: float = DEFAULT_TOLERANCE
    credit_cap_factor: float = 3.0  # credited seconds ≤ factor × the job's estimated seconds
    spot_check_seed: int = 0  # keyed hash → the random spot checks are reproducible and restart-proof
    synchronous: str = "NORMAL"
    # bytes of blobs (checkpoints) one vehicle may have stored; admin-side blobs (job inputs) are not
    # counted. Blobs are not garbage-collected yet, so this bounds what one vehicle can ever upload.
    blob_quota_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.replication < 2:
            raise ValueError("replication must be >= 2: one untrusted result proves nothing")
        if not 0.0 <= self.spot_check_probability <= 1.0:
            raise ValueError("spot_check_probability must be in [0, 1]")
        if self.blob_quota_bytes < 0:
            raise ValueError("blob_quota_bytes must be >= 0")
        if self.synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")


@dataclass(frozen=True)
class Lease:
    lease_id: int
    job: JobSpec
    deadline_ns: int
    checkpoint_digest: str | None  # this vehicle's own checkpoint of this job, if it was preempted


@dataclass(frozen=True)
class SubmitOutcome:
    lease_id: int
    status: str  # one of SUBMIT_STATUSES
    duplicate: bool = False


SUBMIT_STATUSES = ("pending", "valid", "invalid", "late", "released")


@dataclass(frozen=True)
class ResultItem:
    lease_id: int
    result: bytes
    result_digest: str
    compute_s: float


class FleetStore(Protocol):
    """What the servicer needs; SQLite today, PostgreSQL later."""

    def add_token(self, vehicle_id: str) -> str: ...
    def vehicle_for_token(self, token: str) -> str | None: ...
    def register_vehicle(
        self, vehicle_id: str, owner: str, policy: OptInPolicy, power_w: float, now_ns: int
    ) -> None: ...
    def heartbeat(self, vehicle_id: str, state: VehicleState, now_ns: int) -> Reason: ...
    def put_blob(self, data: bytes, digest: str, vehicle_id: str | None = None) -> None: ...
    def get_blob(self, digest: str, vehicle_id: str | None = None) -> bytes | None: ...
    def add_jobs(self, jobs: Iterable[tuple[JobSpec, float]], now_ns: int) -> int: ...
    def lease(
        self, vehicle_id: str, state: VehicleState, max_units: int, ttl_ns: int, now_ns: int
    ) -> tuple[list[Lease], Reason]: ...
    def report_progress(
        self, vehicle_id: str, lease_id: int, checkpoint_digest: str, progress: float, now_ns: int
    ) -> bool: ...
    def submit(self, vehicle_id: str, items: Sequence[ResultItem], now_ns: int) -> list[SubmitOutcome]: ...
    def release(self, vehicle_id: str, lease_id: int, checkpoint_digest: str | None, now_ns: int) -> bool: ...
    def release_many(
        self, vehicle_id: str, releases: Sequence[tuple[int, str | None]], now_ns: int
    ) -> list[int]: ...
    def inactive_leases(self, vehicle_id: str, lease_ids: Sequence[int], now_ns: int) -> list[int]: ...
    def expire_leases(self, now_ns: int, silent_since_ns: int | None = None) -> int: ...
    def summary(self) -> dict: ...


_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE vehicles (
        vehicle_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        policy_json TEXT NOT NULL,
        power_w REAL NOT NULL,
        registered_ns INTEGER NOT NULL,
        last_seen_ns INTEGER,
        state_json TEXT,
        consecutive_valid INTEGER NOT NULL DEFAULT 0,
        valid_results INTEGER NOT NULL DEFAULT 0,
        invalid_results INTEGER NOT NULL DEFAULT 0
    );
    -- Stand-alone auth only (the System 2 server has its own credential store): sha256 of the token.
    CREATE TABLE tokens (token_sha256 TEXT PRIMARY KEY, vehicle_id TEXT NOT NULL);
    CREATE TABLE blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL);
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        input_digest TEXT NOT NULL REFERENCES blobs(digest),
        params_json TEXT NOT NULL,
        est_compute_s REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'validated', 'failed')),
        quorum INTEGER,
        open_slots INTEGER NOT NULL,
        results_received INTEGER NOT NULL DEFAULT 0,
        reissues INTEGER NOT NULL DEFAULT 0,
        canonical_digest TEXT,
        created_ns INTEGER NOT NULL,
        validated_ns INTEGER
    );
    CREATE INDEX jobs_open ON jobs(seq) WHERE state = 'open' AND open_slots > 0;
    CREATE TABLE leases (
        lease_id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        vehicle_id TEXT NOT NULL REFERENCES vehicles(vehicle_id),
        issued_ns INTEGER NOT NULL,
        deadline_ns INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'submitted', 'expired', 'released')),
        checkpoint_digest TEXT,
        progress REAL NOT NULL DEFAULT 0,
        result_digest TEXT,
        claimed_compute_s REAL,
        submitted_ns INTEGER,
        outcome TEXT CHECK (outcome IN ('pending', 'valid', 'invalid'))
    );
    CREATE INDEX leases_job_vehicle ON leases(job_id, vehicle_id);
    CREATE INDEX leases_active_deadline ON leases(deadline_ns) WHERE state = 'active';
    -- One result per vehicle per job: a vehicle cannot vote twice in a quorum.
    CREATE UNIQUE INDEX one_result_per_vehicle ON leases(job_id, vehicle_id) WHERE state = 'submitted';
    CREATE TABLE credits (
        credit_id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        vehicle_id TEXT NOT NULL REFERENCES vehicles(vehicle_id),
        owner TEXT NOT NULL,
        lease_id INTEGER NOT NULL REFERENCES leases(lease_id),
        compute_s REAL NOT NULL,
        energy_j REAL NOT NULL,
        granted_ns INTEGER NOT NULL,
        UNIQUE (job_id, vehicle_id)
    );
    """,
    # v2: find a vehicle's own resumable checkpoints with one indexed query per LeaseJob
    2: """
    CREATE INDEX leases_vehicle_checkpoints ON leases(vehicle_id, job_id)
        WHERE state = 'released' AND checkpoint_digest IS NOT NULL;
    """,
    # v3: who uploaded which blob (the per-vehicle quota), and a vehicle's leases by vehicle (what it
    # may read: the inputs of jobs it was given, its own checkpoints)
    3: """
    CREATE TABLE blob_uploads (
        vehicle_id TEXT NOT NULL,
        digest TEXT NOT NULL REFERENCES blobs(digest),
        size INTEGER NOT NULL CHECK (size >= 0),
        PRIMARY KEY (vehicle_id, digest)
    );
    CREATE INDEX leases_vehicle ON leases(vehicle_id, job_id);
    """,
}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SqliteFleetStore:
    """SQLite implementation of FleetStore. One connection, used from one thread at a time (a lock
    guards it so a sweeper thread may share it)."""

    def __init__(self, path: Path | str, config: StoreConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or StoreConfig()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={self.config.synchronous}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._token_cache: dict[str, str] = {}
        # Parsed results by digest (bounded): a result is parsed once, when it arrives.
        self._docs: OrderedDict[str, dict | None] = OrderedDict()
        self._owners: dict[str, tuple[str, float]] = {}  # vehicle → (owner, power_w) for credits
        self._decided: dict[int, str] = {}  # lease → outcome decided in the current transaction
        self.migrate()

    # --- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def schema_version(self) -> int:
        row = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
        ).fetchone()
        if row is None:
            return 0
        return int(self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)

    def migrate(self) -> None:
        """Apply the migrations newer than the database, each in its own transaction."""
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {current}, newer than this code ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._tx() as db:
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- vehicles and auth ----------------------------------------------------------------------

    def add_token(self, vehicle_id: str) -> str:
        """A new random token for `vehicle_id`, returned once; only its hash is stored."""
        _check_id(vehicle_id, "vehicle_id")
        token = secrets.token_urlsafe(24)
        with self._tx() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?)", (_token_hash(token), vehicle_id))
        return token

    def vehicle_for_token(self, token: str) -> str | None:
        h = _token_hash(token)
        hit = self._token_cache.get(h)
        if hit is None:
            with self._lock:
                row = self._db.execute("SELECT vehicle_id FROM tokens WHERE token_sha256=?", (h,)).fetchone()
            if row is None:
                return None
            hit = self._token_cache[h] = row[0]
        return hit

    def register_vehicle(
        self, vehicle_id: str, owner: str, policy: OptInPolicy, power_w: float, now_ns: int
    ) -> None:
        """Create or update a vehicle's owner and policy; its record of results is kept."""
        _check_id(vehicle_id, "vehicle_id")
        _check_id(owner, "owner")
        if not 0.0 <= power_w <= 2000.0:
            raise InvalidArgument(f"compute_power_w must be in [0, 2000] W, got {power_w}")
        with self._tx() as db:
            db.execute(
                "INSERT INTO vehicles (vehicle_id, owner, policy_json, power_w, registered_ns)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (vehicle_id) DO UPDATE SET"
                " owner=excluded.owner, policy_json=excluded.policy_json, power_w=excluded.power_w",
                (vehicle_id, owner, json.dumps(policy.to_dict()), power_w, now_ns),
            )
        self._owners.pop(vehicle_id, None)

    def _vehicle_row(self, db: sqlite3.Connection, vehicle_id: str) -> tuple:
        row = db.execute(
            "SELECT policy_json, consecutive_valid FROM vehicles WHERE vehicle_id=?", (vehicle_id,)
        ).fetchone()
        if row is None:
            raise FailedPrecondition(f"vehicle {vehicle_id!r} is not registered: call Register first")
        return row

    def heartbeat(self, vehicle_id: str, state: VehicleState, now_ns: int) -> Reason:
        with self._tx() as db:
            policy_json, _ = self._vehicle_row(db, vehicle_id)
            self._record_state(db, vehicle_id, state, now_ns)
        return eligibility(OptInPolicy.from_dict(json.loads(policy_json)), state)

    @staticmethod
    def _record_state(db: sqlite3.Connection, vehicle_id: str, state: VehicleState, now_ns: int) -> None:
        state_json = json.dumps(
            {
                "parked": state.parked,
                "charging": state.charging,
                "soc": state.state_of_charge,
                "temperature_c": state.temperature_c,
                "local_hour": state.local_hour,
            }
        )
        db.execute(
            "UPDATE vehicles SET last_seen_ns=?, state_json=? WHERE vehicle_id=?",
            (now_ns, state_json, vehicle_id),
        )

    # --- blobs ----------------------------------------------------------------------------------

    def put_blob(self, data: bytes, digest: str, vehicle_id: str | None = None) -> None:
        """Store bytes under their digest; BlobError (→ INVALID_ARGUMENT) if they do not match it.
        A vehicle's upload counts against its quota (QuotaExceeded); vehicle_id None is the admin side."""
        verify(data, digest)
        with self._tx() as db:
            if vehicle_id is not None:
                known = db.execute(
                    "SELECT 1 FROM blob_uploads WHERE vehicle_id=? AND digest=?", (vehicle_id, digest)
                ).fetchone()
                if known is None:
                    (used,) = db.execute(
                        "SELECT COALESCE(SUM(size), 0) FROM blob_uploads WHERE vehicle_id=?", (vehicle_id,)
                    ).fetchone()
                    if used + len(data) > self.config.blob_quota_bytes:
                        raise QuotaExceeded(
                            f"vehicle {vehicle_id} stores {used} blob bytes; {len(data)} more exceed its "
                            f"quota of {self.config.blob_quota_bytes}"
                        )
            db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", (digest, len(data), data))
            if vehicle_id is not None:
                db.execute(
                    "INSERT OR IGNORE INTO blob_uploads VALUES (?, ?, ?)", (vehicle_id, digest, len(data))
                )

    def put_blobs(self, blobs: Iterable[bytes]) -> list[str]:
        """Store many blobs in one transaction (admin side: job inputs); returns their digests."""
        digests = []
        with self._tx() as db:
            for data in blobs:
                digest = digest_of(data)
                db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", (digest, len(data), data))
                digests.append(digest)
        return digests

    def add_tokens(self, vehicle_ids: Iterable[str]) -> dict[str, str]:
        """`add_token` for many vehicles in one transaction: {vehicle_id: token}."""
        out = {}
        with self._tx() as db:
            for vid in vehicle_ids:
                _check_id(vid, "vehicle_id")
                token = secrets.token_urlsafe(24)
                db.execute("INSERT INTO tokens VALUES (?, ?)", (_token_hash(token), vid))
                out[vid] = token
        return out

    def get_blob(self, digest: str, vehicle_id: str | None = None) -> bytes | None:
        """The blob's bytes, or None if there is none, or (for a vehicle) none it may read: a vehicle
        reads what it uploaded and the inputs, models and checkpoints of jobs it holds or held a lease
        on, never another vehicle's results or checkpoints. vehicle_id None is the admin side."""
        check_digest_format(digest)
        with self._lock:
            if vehicle_id is not None and not self._may_read(vehicle_id, digest):
                return None
            row = self._db.execute("SELECT data FROM blobs WHERE digest=?", (digest,)).fetchone()
        return None if row is None else bytes(row[0])

    def _may_read(self, vehicle_id: str, digest: str) -> bool:
        db = self._db
        if db.execute(
            "SELECT 1 FROM blob_uploads WHERE vehicle_id=? AND digest=?", (vehicle_id, digest)
        ).fetchone():
            return True
        return (
            db.execute(
                "SELECT 1 FROM leases l JOIN jobs j ON j.job_id = l.job_id WHERE l.vehicle_id=?"
                " AND (j.input_digest=? OR l.checkpoint_digest=?"
                " OR json_extract(j.params_json, '$.model_digest')=?) LIMIT 1",
                (vehicle_id, digest, digest, digest),
            ).fetchone()
            is not None
        )

    # --- jobs -----------------------------------------------------------------------------------

    def add_jobs(self, jobs: Iterable[tuple[JobSpec, float]], now_ns: int) -> int:
        """Queue (spec, estimated compute seconds) pairs; their input blobs must be stored. Returns
        how many were new (a job_id already known is left as it is)."""
        added = 0
        with self._tx() as db:
            for spec, est_s in jobs:
                _check_id(spec.job_id, "job_id")
                if db.execute("SELECT 1 FROM blobs WHERE digest=?", (spec.input_digest,)).fetchone() is None:
                    raise InvalidArgument(f"job {spec.job_id}: input blob {spec.input_digest} is not stored")
                cur = db.execute(
                    "INSERT OR IGNORE INTO jobs (job_id, kind, input_digest, params_json, est_compute_s,"
                    " state, quorum, open_slots, created_ns) VALUES (?, ?, ?, ?, ?, 'open', NULL, 1, ?)",
                    (spec.job_id, spec.kind, spec.input_digest, json.dumps(spec.params), est_s, now_ns),
                )
                added += cur.rowcount
        return added

    def _is_spot_checked(self, job_id: str, vehicle_id: str) -> bool:
        """A keyed hash as a seeded random draw: reproducible, independent of call order and restarts,
        unpredictable to vehicles that do not know the seed."""
        h = hashlib.sha256(f"{self.config.spot_check_seed}:{job_id}:{vehicle_id}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64 < self.config.spot_check_probability

    def lease(
        self, vehicle_id: str, state: VehicleState, max_units: int, ttl_ns: int, now_ns: int
    ) -> tuple[list[Lease], Reason]:
        """Up to `max_units` replicas of open jobs for this vehicle, one transaction. Nothing when the
        policy says the vehicle may not compute now (the reason is returned)."""
        if not 1 <= max_units <= 64:
            raise InvalidArgument(f"max_units must be in [1, 64], got {max_units}")
        if ttl_ns <= 0:
            raise InvalidArgument("lease ttl must be positive")
        out: list[Lease] = []
        with self._tx() as db:
            policy_json, consecutive = self._vehicle_row(db, vehicle_id)
            self._record_state(db, vehicle_id, state, now_ns)
            reason = eligibility(OptInPolicy.from_dict(json.loads(policy_json)), state)
            if reason is not Reason.ELIGIBLE:
                return [], reason
            trusted = consecutive >= self.config.trust_after
            rows = db.execute(
                "SELECT job_id, kind, input_digest, params_json, quorum FROM jobs j"
                " WHERE state='open' AND open_slots > 0 AND NOT EXISTS (SELECT 1 FROM leases l"
                "  WHERE l.job_id=j.job_id AND l.vehicle_id=? AND l.state IN ('active', 'submitted'))"
                " ORDER BY seq LIMIT ?",
                (vehicle_id, max_units),
            ).fetchall()
            deadline = now_ns + ttl_ns
            checkpoints = dict(
                db.execute(
                    "SELECT job_id, checkpoint_digest FROM leases WHERE vehicle_id=? AND state='released'"
                    " AND checkpoint_digest IS NOT NULL ORDER BY lease_id",  # the latest wins in dict()
                    (vehicle_id,),
                ).fetchall()
            )
            for job_id, kind, input_digest, params_json, quorum in rows:
                if quorum is None:  # first replica: adaptive replication decides the quorum
                    alone = trusted and not self._is_spot_checked(job_id, vehicle_id)
                    quorum = 1 if alone else self.config.replication
                    db.execute(
                        "UPDATE jobs SET quorum=?, open_slots=? WHERE job_id=?", (quorum, quorum - 1, job_id)
                    )
                else:
                    db.execute("UPDATE jobs SET open_slots=open_slots-1 WHERE job_id=?", (job_id,))
                cp = checkpoints.get(job_id)
                cur = db.execute(
                    "INSERT INTO leases (job_id, vehicle_id, issued_ns, deadline_ns, state,"
                    " checkpoint_digest) VALUES (?, ?, ?, ?, 'active', ?)",
                    (job_id, vehicle_id, now_ns, deadline, cp),
                )
                spec = JobSpec(job_id, kind, input_digest, json.loads(params_json))
                out.append(Lease(int(cur.lastrowid), spec, deadline, cp))
        return out, Reason.ELIGIBLE

    def _own_lease(self, db: sqlite3.Connection, vehicle_id: str, lease_id: int) -> tuple:
        row = db.execute(
            "SELECT job_id, vehicle_id, state, deadline_ns, result_digest, outcome FROM leases"
            " WHERE lease_id=?",
            (lease_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"lease {lease_id} does not exist")
        if row[1] != vehicle_id:
            raise PermissionDenied(f"lease {lease_id} belongs to another vehicle")
        return row

    def _own_leases(self, db: sqlite3.Connection, vehicle_id: str, lease_ids: list[int]) -> dict[int, tuple]:
        """`_own_lease` for many leases in one statement."""
        marks = ",".join("?" * len(lease_ids))
        rows = {
            r[0]: r[1:]
            for r in db.execute(
                "SELECT lease_id, job_id, vehicle_id, state, deadline_ns, result_digest, outcome FROM leases"
                f" WHERE lease_id IN ({marks})",
                lease_ids,
            )
        }
        for lease_id in lease_ids:
            if lease_id not in rows:
                raise NotFound(f"lease {lease_id} does not exist")
            if rows[lease_id][1] != vehicle_id:
                raise PermissionDenied(f"lease {lease_id} belongs to another vehicle")
        return rows

    def report_progress(
        self, vehicle_id: str, lease_id: int, checkpoint_digest: str, progress: float, now_ns: int
    ) -> bool:
        """Record a checkpoint (its blob must be stored). False if the lease is no longer active."""
        if not 0.0 <= progress <= 1.0:
            raise InvalidArgument(f"progress must be in [0, 1], got {progress}")
        with self._tx() as db:
            _, _, state, deadline, _, _ = self._own_lease(db, vehicle_id, lease_id)
            if checkpoint_digest:
                check_digest_format(checkpoint_digest)
                if db.execute("SELECT 1 FROM blobs WHERE digest=?", (checkpoint_digest,)).fetchone() is None:
                    raise InvalidArgument(f"checkpoint blob {checkpoint_digest} is not stored: PutBlob first")
            if state != "active" or now_ns > deadline:
                return False
            db.execute(
                "UPDATE leases SET checkpoint_digest=COALESCE(?, checkpoint_digest), progress=?"
                " WHERE lease_id=?",
                (checkpoint_digest or None, progress, lease_id),
            )
        return True

    def inactive_leases(self, vehicle_id: str, lease_ids: Sequence[int], now_ns: int) -> list[int]:
        """Those of `lease_ids` this vehicle should stop: not its own, not active, or past deadline."""
        if not lease_ids:
            return []
        with self._lock:
            marks = ",".join("?" * len(lease_ids))
            live = {
                lid
                for (lid,) in self._db.execute(
                    f"SELECT lease_id FROM leases WHERE lease_id IN ({marks}) AND vehicle_id=?"
                    " AND state='active' AND deadline_ns >= ?",
                    (*lease_ids, vehicle_id, now_ns),
                )
            }
        return [lid for lid in lease_ids if lid not in live]

    def release(self, vehicle_id: str, lease_id: int, checkpoint_digest: str | None, now_ns: int) -> bool:
        """Give a lease back (preemption). Its slot reopens at once. False if it was not active."""
        return self.release_many(vehicle_id, [(lease_id, checkpoint_digest)], now_ns) == [lease_id]

    def release_many(
        self, vehicle_id: str, releases: Sequence[tuple[int, str | None]], now_ns: int
    ) -> list[int]:
        """`release` for several leases in one transaction; returns those that were still active."""
        released = []
        with self._tx() as db:
            rows = self._own_leases(db, vehicle_id, [lease_id for lease_id, _ in releases])
            for lease_id, checkpoint_digest in releases:
                job_id, _, state, _, _, _ = rows[lease_id]
                if checkpoint_digest:
                    check_digest_format(checkpoint_digest)
                    if (
                        db.execute("SELECT 1 FROM blobs WHERE digest=?", (checkpoint_digest,)).fetchone()
                        is None
                    ):
                        raise InvalidArgument(
                            f"checkpoint blob {checkpoint_digest} is not stored: PutBlob first"
                        )
                if state != "active":
                    continue
                db.execute(
                    "UPDATE leases SET state='released', checkpoint_digest=COALESCE(?, checkpoint_digest)"
                    " WHERE lease_id=?",
                    (checkpoint_digest or None, lease_id),
                )
                self._reopen_slot(db, job_id)
                released.append(lease_id)
        return released

    def _reopen_slot(self, db: sqlite3.Connection, job_id: str) -> None:
        """A replica was lost (expired or released): hand it out again. A trusted-alone job whose only
        replica was lost re-decides its quorum with the next vehicle, which may be untrusted."""
        db.execute(
            "UPDATE jobs SET open_slots=open_slots+1, reissues=reissues+1,"
            " quorum=CASE WHEN quorum=1 THEN NULL ELSE quorum END"
            " WHERE job_id=? AND state='open'",
            (job_id,),
        )

    def expire_leases(self, now_ns: int, silent_since_ns: int | None = None) -> int:
        """Mark active leases past their deadline expired and re-issue their slots. With
        `silent_since_ns`, also the leases of vehicles not heard from since then (vanished vehicles are
        detected by their silence long before a job-sized deadline)."""
        with self._tx() as db:
            rows = db.execute(
                "UPDATE leases SET state='expired' WHERE state='active' AND deadline_ns < ? RETURNING job_id",
                (now_ns,),
            ).fetchall()
            if silent_since_ns is not None:
                rows += db.execute(
                    "UPDATE leases SET state='expired' WHERE state='active' AND vehicle_id IN"
                    " (SELECT vehicle_id FROM vehicles WHERE last_seen_ns < ?) RETURNING job_id",
                    (silent_since_ns,),
                ).fetchall()
            for (job_id,) in rows:
                self._reopen_slot(db, job_id)
        return len(rows)

    # --- results, validation, credits -----------------------------------------------------------

    def submit(self, vehicle_id: str, items: Sequence[ResultItem], now_ns: int) -> list[SubmitOutcome]:
        """Results for this vehicle's leases, all in one transaction. Blob digests are verified first
        (BlobError for any mismatch: nothing of the batch is stored). Idempotent: the same result for
        the same lease again gives the recorded outcome with duplicate=True and changes nothing."""
        for item in items:
            verify(item.result, item.result_digest)
            if not (0.0 <= item.compute_s < 1e6):
                raise InvalidArgument(f"compute_s must be in [0, 1e6), got {item.compute_s}")
        outcomes: list[SubmitOutcome] = []
        with self._tx() as db:
            db.execute("UPDATE vehicles SET last_seen_ns=? WHERE vehicle_id=?", (now_ns, vehicle_id))
            rows = self._own_leases(db, vehicle_id, [item.lease_id for item in items])
            touched: list[str] = []
            self._decided = {}
            for item in items:
                job_id, _, state, deadline, digest, outcome = rows[item.lease_id]
                if state == "submitted":
                    if digest != item.result_digest:
                        raise FailedPrecondition(
                            f"lease {item.lease_id} already has a different result ({digest})"
                        )
                    outcomes.append(SubmitOutcome(item.lease_id, outcome, duplicate=True))
                    continue
                if state == "expired" or (state == "active" and now_ns > deadline):
                    if state == "active":
                        db.execute("UPDATE leases SET state='expired' WHERE lease_id=?", (item.lease_id,))
                        self._reopen_slot(db, job_id)
                    outcomes.append(SubmitOutcome(item.lease_id, "late"))
                    continue
                if state == "released":
                    outcomes.append(SubmitOutcome(item.lease_id, "released"))
                    continue
                db.execute(
                    "INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)",
                    (item.result_digest, len(item.result), item.result),
                )
                self._remember(item.result_digest, item.result)
                db.execute(
                    "UPDATE leases SET state='submitted', result_digest=?, claimed_compute_s=?,"
                    " submitted_ns=?, outcome='pending' WHERE lease_id=?",
                    (item.result_digest, item.compute_s, now_ns, item.lease_id),
                )
                db.execute("UPDATE jobs SET results_received=results_received+1 WHERE job_id=?", (job_id,))
                touched.append(job_id)
                outcomes.append(SubmitOutcome(item.lease_id, "pending"))
            for job_id in dict.fromkeys(touched):
                self._validate(db, job_id, now_ns)
            # report what validation decided for the fresh results
            final = [
                SubmitOutcome(o.lease_id, self._decided.get(o.lease_id, o.status))
                if o.status == "pending" and not o.duplicate
                else o
                for o in outcomes
            ]
        return final

    def _blob_json(self, db: sqlite3.Connection, digest: str) -> dict | None:
        if digest in self._docs:
            return self._docs[digest]
        (data,) = db.execute("SELECT data FROM blobs WHERE digest=?", (digest,)).fetchone()
        return self._remember(digest, bytes(data))

    def _remember(self, digest: str, data: bytes) -> dict | None:
        try:
            doc = parse_result(data)
        except MalformedResult:
            doc = None
        self._docs[digest] = doc
        if len(self._docs) > 4096:
            self._docs.popitem(last=False)
        return doc

    def _validate(self, db: sqlite3.Connection, job_id: str, now_ns: int) -> None:
        state, quorum, canonical, est_s, received = db.execute(
            "SELECT state, quorum, canonical_digest, est_compute_s, results_received FROM jobs"
            " WHERE job_id=?",
            (job_id,),
        ).fetchone()
        pending = db.execute(
            "SELECT l.lease_id, l.vehicle_id, l.result_digest, l.claimed_compute_s, v.consecutive_valid"
            " FROM leases l JOIN vehicles v ON v.vehicle_id=l.vehicle_id"
            " WHERE l.job_id=? AND l.state='submitted' AND l.outcome='pending' ORDER BY l.lease_id",
            (job_id,),
        ).fetchall()
        if not pending:
            return
        tol = self.config.tolerance
        docs: dict[str, dict | None] = {}

        def doc(digest: str) -> dict | None:  # parse each distinct result once, and only if needed
            if digest not in docs:
                docs[digest] = self._blob_json(db, digest)
            return docs[digest]

        def agrees(digest: str, reference: str) -> bool:
            if digest == reference:  # identical bytes (canonical JSON): no need to parse
                return doc(digest) is not None
            a, b = doc(reference), doc(digest)
            return a is not None and b is not None and results_agree(a, b, tol)

        if state != "open":  # validated (or failed) already: judge late replicas against the canonical
            for lease_id, vid, digest, claimed, _ in pending:
                ok = canonical is not None and agrees(digest, canonical)
                self._judge(db, job_id, lease_id, vid, ok, claimed, est_s, now_ns)
            return
        if quorum == 1 and pending[0][4] < self.config.trust_after:
            # the vehicle lost its trust since the lease (an invalid result elsewhere): replicate
            quorum = self.config.replication
            db.execute("UPDATE jobs SET quorum=?, open_slots=open_slots+1 WHERE job_id=?", (quorum, job_id))
        quorum = quorum or self.config.replication
        digests = [p[2] for p in pending]
        top, votes = Counter(digests).most_common(1)[0]
        if votes >= quorum and doc(top) is not None:
            winner: str | None = top
        else:  # no identical majority: compare within the tolerance
            found = find_quorum([doc(d) for d in digests], quorum, tol)
            winner = None if found is None else digests[found]
        if winner is None:
            for lease_id, vid, digest, claimed, _ in pending:
                if doc(digest) is None:  # malformed: invalid now, whatever the others say
                    self._judge(db, job_id, lease_id, vid, False, claimed, est_s, now_ns)
            (active,) = db.execute(
                "SELECT COUNT(*) FROM leases WHERE job_id=? AND state='active'", (job_id,)
            ).fetchone()
            (open_slots,) = db.execute("SELECT open_slots FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if received >= self.config.max_results_per_job:
                db.execute("UPDATE jobs SET state='failed', open_slots=0 WHERE job_id=?", (job_id,))
            elif active + open_slots == 0:  # everything issued has answered and they disagree
                db.execute("UPDATE jobs SET open_slots=open_slots+1 WHERE job_id=?", (job_id,))
            return
        db.execute(
            "UPDATE jobs SET state='validated', canonical_digest=?, validated_ns=?, open_slots=0"
            " WHERE job_id=?",
            (winner, now_ns, job_id),
        )
        for lease_id, vid, digest, claimed, _ in pending:
            self._judge(db, job_id, lease_id, vid, agrees(digest, winner), claimed, est_s, now_ns)

    def _judge(
        self,
        db: sqlite3.Connection,
        job_id: str,
        lease_id: int,
        vehicle_id: str,
        valid: bool,
        claimed_s: float,
        est_s: float,
        now_ns: int,
    ) -> None:
        self._decided[lease_id] = "valid" if valid else "invalid"
        if not valid:
            db.execute("UPDATE leases SET outcome='invalid' WHERE lease_id=?", (lease_id,))
            db.execute(
                "UPDATE vehicles SET invalid_results=invalid_results+1, consecutive_valid=0"
                " WHERE vehicle_id=?",
                (vehicle_id,),
            )
            return
        db.execute("UPDATE leases SET outcome='valid' WHERE lease_id=?", (lease_id,))
        db.execute(
            "UPDATE vehicles SET valid_results=valid_results+1, consecutive_valid=consecutive_valid+1"
            " WHERE vehicle_id=?",
            (vehicle_id,),
        )
        if vehicle_id not in self._owners:
            self._owners[vehicle_id] = db.execute(
                "SELECT owner, power_w FROM vehicles WHERE vehicle_id=?", (vehicle_id,)
            ).fetchone()
        owner, power_w = self._owners[vehicle_id]
        # Claimed time is the vehicle's word: cap it by the job's estimate so nobody inflates credit.
        granted_s = min(float(claimed_s), self.config.credit_cap_factor * float(est_s))
        # Plain INSERT: UNIQUE(job_id, vehicle_id) makes a second grant an error, not a silent no-op.
        db.execute(
            "INSERT INTO credits (job_id, vehicle_id, owner, lease_id, compute_s, energy_j, granted_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job_id, vehicle_id, owner, lease_id, granted_s, granted_s * float(power_w), now_ns),
        )

    # --- reporting ------------------------------------------------------------------------------

    def summary(self) -> dict:
        """Jobs by state, vehicles, credits per owner, and the integrity counters."""
        with self._lock:
            db = self._db
            jobs = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
            leases = dict(db.execute("SELECT state, COUNT(*) FROM leases GROUP BY state").fetchall())
            outcomes = dict(
                db.execute(
                    "SELECT outcome, COUNT(*) FROM leases WHERE outcome IS NOT NULL GROUP BY outcome"
                ).fetchall()
            )
            n_vehicles, trusted, with_invalid = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(consecutive_valid >= ?), 0),"
                " COALESCE(SUM(invalid_results > 0), 0) FROM vehicles",
                (self.config.trust_after,),
            ).fetchone()
            owners = db.execute(
                "SELECT owner, COUNT(*), SUM(compute_s), SUM(energy_j) FROM credits GROUP BY owner"
                " ORDER BY SUM(compute_s) DESC"
            ).fetchall()
            (reissues,) = db.execute("SELECT COALESCE(SUM(reissues), 0) FROM jobs").fetchone()
            (double,) = db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM credits GROUP BY job_id, vehicle_id HAVING COUNT(*) > 1)"
            ).fetchone()
            quorums = dict(
                db.execute(
                    "SELECT COALESCE(quorum, 0), COUNT(*) FROM jobs WHERE state='validated' GROUP BY quorum"
                ).fetchall()
            )
            span = db.execute("SELECT MIN(created_ns), MAX(validated_ns) FROM jobs").fetchone()
        return {
            "jobs": {s: int(jobs.get(s, 0)) for s in ("open", "validated", "failed")},
            "jobs_total": int(sum(jobs.values())),
            "validated_by_quorum": {str(k): int(v) for k, v in quorums.items()},
            "leases": {k: int(v) for k, v in leases.items()},
            "results": {k: int(v) for k, v in outcomes.items()},
            "reissues": int(reissues),
            "double_credited": int(double),
            "vehicles": {
                "registered": int(n_vehicles),
                "trusted": int(trusted),
                "with_invalid": int(with_invalid),
            },
            "credits_by_owner": [
                {"owner": o, "results": int(n), "compute_s": float(s), "energy_wh": float(e) / 3600.0}
                for o, n, s, e in owners
            ],
            "first_created_ns": span[0],
            "last_validated_ns": span[1],
        }

    def canonical_results(self) -> dict[str, tuple[str, str]]:
        """job_id → (input_digest, canonical result digest) of validated jobs (for audits)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, input_digest, canonical_digest FROM jobs WHERE state='validated'"
            ).fetchall()
        return {j: (i, c) for j, i, c in rows}

    def credited_results(self) -> list[tuple[str, str, str]]:
        """(job_id, vehicle_id, result_digest) of every credit (for audits)."""
        with self._lock:
            return self._db.execute(
                "SELECT c.job_id, c.vehicle_id, l.result_digest FROM credits c"
                " JOIN leases l ON l.lease_id=c.lease_id"
            ).fetchall()


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > 128 or not value.isprintable():
        raise InvalidArgument(f"{what} must be a non-empty printable string of at most 128 characters")


__all__ = [
    "FailedPrecondition",
    "FleetStore",
    "InvalidArgument",
    "Lease",
    "NotFound",
    "PermissionDenied",
    "ResultItem",
    "SqliteFleetStore",
    "StoreConfig",
    "StoreError",
    "SubmitOutcome",
]

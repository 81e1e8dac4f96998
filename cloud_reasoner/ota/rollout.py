"""Staged fleet rollout of a model (cloud side), in the spirit of Argo Rollouts and Flagger.

A rollout has stages (default 1 → 10 → 50 → 100 % of the vehicles), chosen by a stable hash of the
vehicle id, so a vehicle in the 1 % stays in every later one. While it runs, the candidate is published
under its own target name, `NAME.rollout-ID`, which only the vehicles of the current stages are told to
track; the rest stay on NAME. Each stage gates on the health reports of its vehicles (failed
activations, reverts after the health window) and on a minimum soak (every vehicle of the stage has
reported). A failed gate halts the rollout and sends every updated vehicle back: the previous model is
published as the newest version of the rollout's target, so a vehicle goes back through a normal,
verified update and the updater's rollback protection is never bypassed. A completed rollout publishes
the candidate as NAME. The state of every rollout and every report is in a SQLite store, one transaction
per change.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cloud_reasoner.ota.publish import publish_model
from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError

DEFAULT_STAGES = (1, 10, 50, 100)
RESULTS = ("installed", "current", "rejected", "healthy", "reverted", "returned")

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (
    rollout_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    target TEXT NOT NULL,
    candidate_sha256 TEXT NOT NULL,
    previous_sha256 TEXT NOT NULL,
    stages TEXT NOT NULL,
    stage INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('running', 'halted', 'completed')),
    halt_reason TEXT NOT NULL DEFAULT '',
    created_unix_s REAL NOT NULL,
    updated_unix_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    rollout_id INTEGER NOT NULL REFERENCES rollouts(rollout_id),
    vehicle_id TEXT NOT NULL,
    stage INTEGER NOT NULL,
    result TEXT NOT NULL
        CHECK (result IN ('installed', 'current', 'rejected', 'healthy', 'reverted', 'returned')),
    sha256 TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    unix_s REAL NOT NULL,
    PRIMARY KEY (rollout_id, vehicle_id, result)
);
"""


def in_stage(vehicle_id: str, percent: float) -> bool:
    """Stable: the vehicle's place in [0, 100) comes from a hash of its id, not from the order it asked."""
    place = int.from_bytes(hashlib.sha256(vehicle_id.encode()).digest()[:8], "big") % 10_000 / 100.0
    return place < percent


def parse_stages(text: str) -> tuple[int, ...]:
    try:
        stages = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ValueError(f"stages must look like 1,10,50,100, got {text!r}") from None
    if not stages or list(stages) != sorted(set(stages)) or stages[0] <= 0 or stages[-1] != 100:
        raise ValueError(f"stages must rise strictly from above 0 to 100, got {text!r}")
    return stages


@dataclass(frozen=True)
class Gates:
    max_rejected_fraction: float = 0.0  # failed activations (a verified, signed model that fails its checks)
    max_reverted_fraction: float = 0.0  # rolled back by the vehicle's health window


class RolloutStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def _tx(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(sql, args)
                self._db.execute("COMMIT")
                return cur
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def create(self, name: str, target: str, candidate: str, previous: str, stages: tuple[int, ...]) -> int:
        now = time.time()
        cur = self._tx(
            "INSERT INTO rollouts (name, target, candidate_sha256, previous_sha256, stages, state,"
            " created_unix_s, updated_unix_s) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
            (name, target, candidate, previous, json.dumps(list(stages)), now, now),
        )
        return int(cur.lastrowid)

    def report(
        self, rollout_id: int, vehicle: str, stage: int, result: str, sha: str = "", detail: str = ""
    ) -> None:
        self._tx(
            "INSERT OR REPLACE INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rollout_id, vehicle, stage, result, sha, detail, time.time()),
        )

    def set_state(
        self, rollout_id: int, *, stage: int | None = None, state: str | None = None, reason: str = ""
    ) -> None:
        row = self.get(rollout_id)
        self._tx(
            "UPDATE rollouts SET stage=?, state=?, halt_reason=?, updated_unix_s=? WHERE rollout_id=?",
            (
                row["stage"] if stage is None else stage,
                row["state"] if state is None else state,
                reason or row["halt_reason"],
                time.time(),
                rollout_id,
            ),
        )

    def get(self, rollout_id: int) -> dict:
        with self._lock:
            cur = self._db.execute("SELECT * FROM rollouts WHERE rollout_id=?", (rollout_id,))
            row = cur.fetchone()
            if row is None:
                raise KeyError(f"no rollout {rollout_id}")
            out = dict(zip([d[0] for d in cur.description], row, strict=True))
        out["stages"] = json.loads(out["stages"])
        return out

    def counts(self, rollout_id: int, stage: int | None = None) -> dict[str, int]:
        """result → vehicles, over the rollout (or one stage)."""
        sql = "SELECT result, COUNT(*) FROM reports WHERE rollout_id=?"
        args: tuple = (rollout_id,)
        if stage is not None:
            sql, args = sql + " AND stage=?", (*args, stage)
        with self._lock:
            rows = self._db.execute(sql + " GROUP BY result", args).fetchall()
        return {r: 0 for r in RESULTS} | dict(rows)

    def close(self) -> None:
        self._db.close()


class Rollout:
    """One rollout of `candidate` over target `name` of a repository."""

    def __init__(
        self,
        repo: Repository,
        keys: Keys,
        store: RolloutStore,
        name: str,
        candidate: Path,
        version: str,
        stages: tuple[int, ...] = DEFAULT_STAGES,
        gates: Gates | None = None,
    ) -> None:
        targets = repo.targets()
        if name not in targets:
            raise RepositoryError(
                f"target {name!r} is not in the repository: publish the fleet's model first"
            )
        self.repo, self.keys, self.store, self.name = repo, keys, store, name
        self.previous_sha = targets[name]["hashes"]["sha256"]
        self.previous_path = repo.targets_dir / f"{self.previous_sha}.{name}"
        self.previous_version = (targets[name].get("custom") or {}).get("version") or ""
        self.candidate, self.version, self.stages = Path(candidate), version, stages
        self.gates = gates or Gates()
        candidate_sha = hashlib.sha256(self.candidate.read_bytes()).hexdigest()
        self.id = store.create(name, "", candidate_sha, self.previous_sha, stages)
        self.target = f"{name}.rollout-{self.id}"
        store._tx("UPDATE rollouts SET target=? WHERE rollout_id=?", (self.target, self.id))
        publish_model(repo, keys, self.candidate, self.target, version)

    def cohort(self, vehicles: list[str], stage_index: int) -> list[str]:
        """The vehicles a stage adds (cumulative percentages: the 10 % stage adds 9 % to the first 1 %)."""
        now = self.stages[stage_index]
        before = self.stages[stage_index - 1] if stage_index else 0
        return [v for v in vehicles if in_stage(v, now) and not in_stage(v, before)]

    def gate(self, stage_index: int, expected: int) -> tuple[bool, str]:
        """(passed, reason) for a stage whose `expected` vehicles should all have reported (the soak)."""
        c = self.store.counts(self.id, stage_index)
        reported = c["healthy"] + c["reverted"] + c["rejected"]
        if reported < expected:
            return False, f"stage {stage_index}: {reported} of {expected} vehicles reported (soak not over)"
        if expected and c["rejected"] > self.gates.max_rejected_fraction * expected:
            return (
                False,
                f"stage {self.stages[stage_index]} %: {c['rejected']} of {expected} activations failed",
            )
        if expected and c["reverted"] > self.gates.max_reverted_fraction * expected:
            return (
                False,
                f"stage {self.stages[stage_index]} %: {c['reverted']} of {expected} reverted by health",
            )
        return True, ""

    def advance(self, stage_index: int) -> None:
        self.store.set_state(self.id, stage=stage_index)

    def halt(self, reason: str) -> None:
        """Stop here and send every updated vehicle back: the previous model, as the newest version of the
        rollout's target (a normal verified update for the vehicles)."""
        publish_model(self.repo, self.keys, self.previous_path, self.target, self.previous_version or None)
        self.store.set_state(self.id, state="halted", reason=reason)

    def complete(self) -> None:
        """Every stage passed: the candidate becomes the fleet's model."""
        publish_model(self.repo, self.keys, self.candidate, self.name, self.version)
        self.store.set_state(self.id, stage=len(self.stages) - 1, state="completed")

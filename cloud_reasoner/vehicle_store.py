"""The service's vehicle registry on SQLite: names and *hashes* of their tokens, never the tokens.

Tokens are 256-bit random secrets, so a fast hash (SHA-256) is enough: slow password hashes defend
low-entropy secrets against guessing, which a random 32-byte token is not. A token is shown once by
`fleetpilot cloud add-vehicle` and cannot be recovered afterwards (rotate by adding again with --rotate).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from pathlib import Path

DB_NAME = "cloud.sqlite3"
TOKEN_PREFIX = "fpv1_"
VEHICLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vehicles (
    name TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_unix REAL NOT NULL
);
"""


class VehicleExistsError(ValueError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def valid_vehicle_name(name: str) -> bool:
    return bool(VEHICLE_NAME_RE.match(name))


class VehicleStore:
    """One SQLite file under the state dir. Lookups are cached in memory: tokens are only ever added
    or rotated, and a miss re-reads the database, so a vehicle added while the server runs works."""

    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._by_hash: dict[str, str] = {}

    def close(self) -> None:
        self._db.close()

    def add_vehicle(self, name: str, rotate: bool = False) -> str:
        """Register a vehicle (or give it a new token with rotate=True); returns the token, once."""
        if not valid_vehicle_name(name):
            raise ValueError(
                f"vehicle name {name!r} must be 1-64 characters of letters, digits, '_', '.', '-' "
                "and start with a letter or digit"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_hash(token)
        with self._db:
            if rotate:
                self._db.execute(
                    "INSERT INTO vehicles (name, token_sha256, created_unix) VALUES (?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET token_sha256 = excluded.token_sha256",
                    (name, digest, time.time()),
                )
            else:
                try:
                    self._db.execute(
                        "INSERT INTO vehicles (name, token_sha256, created_unix) VALUES (?, ?, ?)",
                        (name, digest, time.time()),
                    )
                except sqlite3.IntegrityError:
                    raise VehicleExistsError(
                        f"vehicle {name!r} already exists (use --rotate for a new token)"
                    ) from None
        self._by_hash = {h: v for h, v in self._by_hash.items() if v != name}
        return token

    def vehicle_for_token(self, token: str) -> str | None:
        digest = token_hash(token)
        name = self._by_hash.get(digest)
        if name is None:
            row = self._db.execute("SELECT name FROM vehicles WHERE token_sha256 = ?", (digest,)).fetchone()
            if row is None:
                return None
            name = self._by_hash[digest] = row[0]
        return name

    def vehicles(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM vehicles ORDER BY name")]

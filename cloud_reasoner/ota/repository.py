"""The signed model repository (cloud side), built with python-tuf's Metadata API.

Roles and keys, as TUF and Uptane advise:
* root: three offline keys, threshold 2 (one lost or stolen key neither locks the repository nor signs it);
* targets: its own key, used when a model is published;
* snapshot and timestamp: one online key, the only key a running server needs (it re-signs the
  short-lived timestamp).
Keys are PEM files (PKCS#8) with mode 0600 under KEYS/offline/ (root) and KEYS/online/ (targets,
snapshot, timestamp): the offline folder can live on another machine; only `init` and a root change need it.

Layout on disk, the standard one with consistent snapshots: REPO/metadata/N.root.json,
N.targets.json, N.snapshot.json and timestamp.json; REPO/targets/SHA256.NAME. Every file is written
atomically and the timestamp last, so a client never sees a timestamp that names files not yet there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.atomic_file import atomic_write_bytes

ROOT_KEYS = 3
ROOT_THRESHOLD = 2
ONLINE_ROLES = ("snapshot", "timestamp")
EXPIRY = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=7),
    "timestamp": timedelta(days=1),  # short: a frozen mirror is noticed within a day
}


class RepositoryError(RuntimeError):
    """A repository operation that cannot be done (one line for the command)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _serializer():
    from tuf.api.serialization.json import JSONSerializer

    return JSONSerializer(compact=False)


@dataclass
class Keys:
    """The signers of one repository, loaded from its key folder."""

    root: list[Any]
    targets: Any
    online: Any  # snapshot and timestamp

    @staticmethod
    def generate(keys_dir: Path) -> Keys:
        """New keys (ed25519) written to keys_dir; refuses to overwrite existing ones."""
        from securesystemslib.signer import CryptoSigner

        keys_dir = Path(keys_dir)
        if (keys_dir / "online").exists() or (keys_dir / "offline").exists():
            raise RepositoryError(f"{keys_dir} already holds keys: refusing to overwrite them")
        keys = Keys(
            root=[CryptoSigner.generate_ed25519() for _ in range(ROOT_KEYS)],
            targets=CryptoSigner.generate_ed25519(),
            online=CryptoSigner.generate_ed25519(),
        )
        for i, signer in enumerate(keys.root, 1):
            atomic_write_bytes(keys_dir / "offline" / f"root-{i}.pem", signer.private_bytes, mode=0o600)
        atomic_write_bytes(keys_dir / "online" / "targets.pem", keys.targets.private_bytes, mode=0o600)
        atomic_write_bytes(keys_dir / "online" / "online.pem", keys.online.private_bytes, mode=0o600)
        for d in (keys_dir, keys_dir / "offline", keys_dir / "online"):
            d.chmod(0o700)
        return keys

    @staticmethod
    def load(keys_dir: Path, *, offline: bool = False) -> Keys:
        """The online keys (and with offline=True the root keys, for init and root changes)."""
        keys_dir = Path(keys_dir)
        root = [_load_signer(p) for p in sorted((keys_dir / "offline").glob("root-*.pem"))] if offline else []
        if offline and len(root) < ROOT_THRESHOLD:
            raise RepositoryError(
                f"{keys_dir}/offline holds {len(root)} root keys; {ROOT_THRESHOLD} must sign"
            )
        return Keys(
            root=root,
            targets=_load_signer(keys_dir / "online" / "targets.pem"),
            online=_load_signer(keys_dir / "online" / "online.pem"),
        )


def _load_signer(path: Path):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    if not path.is_file():
        raise RepositoryError(f"key {path} not found")
    if path.stat().st_mode & 0o077:
        raise RepositoryError(
            f"key {path} is readable by others (mode {oct(path.stat().st_mode & 0o777)}): chmod 600"
        )
    return CryptoSigner(load_pem_private_key(path.read_bytes(), None))


class Repository:
    """REPO/metadata and REPO/targets, and the operations that change them."""

    def __init__(self, repo_dir: Path) -> None:
        self.dir = Path(repo_dir)
        self.metadata_dir = self.dir / "metadata"
        self.targets_dir = self.dir / "targets"

    # ---- creating -------------------------------------------------------------------------------
    @classmethod
    def init(cls, repo_dir: Path, keys: Keys, *, root_signers: int = ROOT_THRESHOLD) -> Repository:
        """A new repository: root v1 (signed by `root_signers` of the root keys), empty targets,
        snapshot and timestamp v1."""
        from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

        repo = cls(repo_dir)
        if repo.metadata_dir.exists():
            raise RepositoryError(f"{repo.metadata_dir} exists: this folder already holds a repository")
        now = _now()
        root = Metadata(Root(expires=now + EXPIRY["root"], consistent_snapshot=True))
        for signer in keys.root:
            root.signed.add_key(signer.public_key, "root")
        root.signed.roles["root"].threshold = ROOT_THRESHOLD
        root.signed.add_key(keys.targets.public_key, "targets")
        for role in ONLINE_ROLES:
            root.signed.add_key(keys.online.public_key, role)
        for signer in keys.root[:root_signers]:
            root.sign(signer, append=True)
        repo._write(root)
        targets = Metadata(Targets(expires=now + EXPIRY["targets"]))
        targets.sign(keys.targets)
        repo._write(targets)
        snapshot = Metadata(Snapshot(expires=now + EXPIRY["snapshot"]))
        snapshot.sign(keys.online)
        repo._write(snapshot)
        timestamp = Metadata(Timestamp(expires=now + EXPIRY["timestamp"]))
        timestamp.sign(keys.online)
        repo._write(timestamp)
        repo.targets_dir.mkdir(parents=True, exist_ok=True)
        return repo

    # ---- reading --------------------------------------------------------------------------------
    def load(self, role: str):
        from tuf.api.metadata import Metadata

        if role == "timestamp":
            return Metadata.from_file(str(self.metadata_dir / "timestamp.json"))
        versions = sorted(int(p.name.split(".", 1)[0]) for p in self.metadata_dir.glob(f"*.{role}.json"))
        if not versions:
            raise RepositoryError(
                f"{self.metadata_dir} has no {role} metadata: is this a repository (ota init)?"
            )
        return Metadata.from_file(str(self.metadata_dir / f"{versions[-1]}.{role}.json"))

    def root_bytes(self) -> bytes:
        """The newest root, what a vehicle is provisioned with once (its trust anchor)."""
        return self._path(self.load("root")).read_bytes()

    def targets(self) -> dict[str, dict]:
        """name → {length, hashes, custom} of every published target."""
        return {name: t.to_dict() for name, t in self.load("targets").signed.targets.items()}

    # ---- changing -------------------------------------------------------------------------------
    def publish(self, local_path: Path, name: str, keys: Keys, custom: dict | None = None) -> dict:
        """Add (or replace) target `name` with the file's bytes and custom metadata; a new targets,
        snapshot and timestamp follow. Returns the target's entry."""
        from tuf.api.metadata import TargetFile

        local_path = Path(local_path)
        if not local_path.is_file():
            raise RepositoryError(f"{local_path} is not a file")
        if not name or "/" in name or name.startswith("."):
            raise RepositoryError(f"target name {name!r} must be a plain file name")
        target = TargetFile.from_file(name, str(local_path), ["sha256"])
        if custom:
            target.unrecognized_fields["custom"] = dict(custom)
        # the bytes first, under their hash (consistent snapshots): nothing points at them yet
        stored = self.targets_dir / f"{target.hashes['sha256']}.{name}"
        if not stored.exists():
            atomic_write_bytes(stored, local_path.read_bytes(), mode=0o644)
        targets = self.load("targets")
        targets.signed.targets[name] = target
        self._bump(targets, "targets")
        targets.signatures.clear()
        targets.sign(keys.targets)
        self._write(targets)
        self._new_snapshot(keys)
        return target.to_dict()

    def rotate_keys(
        self, keys_dir: Path, *, roles: tuple[str, ...] = ("targets", "online"), root_key: int = 0
    ) -> Keys:
        """New keys for `roles` ("targets", "online": snapshot and timestamp) and, with root_key=i, a new
        i-th root key. A new root names them, signed by the threshold of the old root keys and of the new
        ones (TUF's rule, so a vehicle can follow the chain from the root it trusts); targets, snapshot
        and timestamp are then re-signed with the new keys. The old key files stay, renamed *.retired."""
        from securesystemslib.signer import CryptoSigner

        keys_dir = Path(keys_dir)
        old = Keys.load(keys_dir, offline=True)
        new = Keys(root=list(old.root), targets=old.targets, online=old.online)
        replaced: list[tuple[Path, Any]] = []
        if "targets" in roles:
            new.targets = CryptoSigner.generate_ed25519()
            replaced.append((keys_dir / "online" / "targets.pem", new.targets))
        if "online" in roles:
            new.online = CryptoSigner.generate_ed25519()
            replaced.append((keys_dir / "online" / "online.pem", new.online))
        if root_key:
            if not 1 <= root_key <= len(old.root):
                raise RepositoryError(f"root key {root_key} does not exist (1 … {len(old.root)})")
            new.root[root_key - 1] = CryptoSigner.generate_ed25519()
            replaced.append((keys_dir / "offline" / f"root-{root_key}.pem", new.root[root_key - 1]))
        root = self.load("root")
        swaps = [("targets", old.targets, new.targets)]
        swaps += [(role, old.online, new.online) for role in ONLINE_ROLES]
        swaps += [("root", a, b) for a, b in zip(old.root, new.root, strict=True)]
        for role, was, now in swaps:
            if was.public_key.keyid != now.public_key.keyid:
                root.signed.revoke_key(was.public_key.keyid, role)
                root.signed.add_key(now.public_key, role)
        self._bump(root, "root")
        root.signatures.clear()
        # every root key that is in the old or the new root signs: both thresholds are met
        signers = {s.public_key.keyid: s for s in [*old.root, *new.root]}
        for signer in signers.values():
            root.sign(signer, append=True)
        self._write(root)
        for path, signer in replaced:  # the new keys on disk only once the root that names them is
            retired = path.with_name(f"{path.name}.retired-root-v{root.signed.version}")
            path.rename(retired)
            atomic_write_bytes(path, signer.private_bytes, mode=0o600)
        targets = self.load("targets")
        self._bump(targets, "targets")
        targets.signatures.clear()
        targets.sign(new.targets)
        self._write(targets)
        self._new_snapshot(new)
        return new

    def refresh_timestamp(self, keys: Keys, *, expires_in: timedelta | None = None) -> int:
        """A new timestamp (what the server does well before the old one expires); its version."""
        timestamp = self.load("timestamp")
        self._bump(timestamp, "timestamp", expires_in)
        timestamp.signatures.clear()
        timestamp.sign(keys.online)
        self._write(timestamp)
        return timestamp.signed.version

    def _new_snapshot(self, keys: Keys) -> None:
        from tuf.api.metadata import MetaFile

        snapshot = self.load("snapshot")
        snapshot.signed.meta["targets.json"] = MetaFile(version=self.load("targets").signed.version)
        self._bump(snapshot, "snapshot")
        snapshot.signatures.clear()
        snapshot.sign(keys.online)
        self._write(snapshot)
        timestamp = self.load("timestamp")
        timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
        self._bump(timestamp, "timestamp")
        timestamp.signatures.clear()
        timestamp.sign(keys.online)
        self._write(timestamp)

    @staticmethod
    def _bump(md, role: str, expires_in: timedelta | None = None) -> None:
        md.signed.version += 1
        md.signed.expires = _now() + (EXPIRY[role] if expires_in is None else expires_in)

    def _path(self, md) -> Path:
        role = md.signed.type
        name = "timestamp.json" if role == "timestamp" else f"{md.signed.version}.{role}.json"
        return self.metadata_dir / name

    def _write(self, md) -> None:
        atomic_write_bytes(self._path(md), md.to_bytes(_serializer()), mode=0o644)

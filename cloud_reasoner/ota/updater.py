"""A vehicle's side of OTA: python-tuf's ngclient against the repository, two model slots (A/B) and a
small state file.

VEHICLE/trust/root.json is the trust anchor, provisioned once (`provision`) and given to ngclient as its
bootstrap on every update (so a tampered cache cannot replace it); ngclient keeps the metadata it verifies,
newer roots included, in VEHICLE/tuf/. A fetched model goes into the slot that is not active, and the state
file (VEHICLE/state.json, written atomically) records which slot holds what and which one is pending.
A fetch that python-tuf refuses (a bad signature, a hash or length mismatch, expired or rolled-back
metadata) leaves the slots and the state as they were and says why in one line.

After a fetch, as RAUC and greenboot do it: `activate` checks the pending model (its bytes against the
signed hash once more, then its golden inputs, perception/golden.py) and makes it the active one, the old
one kept as the fallback; a model that fails is rejected and the active one stays. Each start of the
stack calls `boot`: a new model that was never marked good (`mark_good`, after its health window) uses one
attempt per start, and after MAX_BOOT_ATTEMPTS it is rolled back to the previous slot.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from contracts.atomic_file import atomic_write_bytes, atomic_write_text

SLOTS = ("A", "B")


class UpdateRefused(RuntimeError):
    """The repository's answer failed verification, or it could not be reached (one line)."""


MAX_BOOT_ATTEMPTS = 3  # starts of a new model without mark_good before it is rolled back (greenboot's N)
HISTORY = 20


def empty_state() -> dict:
    return {
        "active": None,
        "pending": None,
        "previous": None,
        "boot": None,
        "history": [],
        "slots": dict.fromkeys(SLOTS),
    }


class ModelUpdater:
    def __init__(self, vehicle_dir: Path, metadata_url: str | None, targets_url: str | None) -> None:
        """URLs None: a vehicle offline, for the steps that need no repository (activate, boot, mark_good)."""
        self.dir = Path(vehicle_dir)
        self.metadata_dir = self.dir / "tuf"
        self.metadata_url = None if metadata_url is None else metadata_url.rstrip("/") + "/"
        self.targets_url = None if targets_url is None else targets_url.rstrip("/") + "/"
        self.anchor = self.dir / "trust" / "root.json"
        if not self.anchor.is_file():
            raise UpdateRefused(f"{self.anchor} missing: provision the vehicle's trusted root first")
        self.metadata_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def local(cls, vehicle_dir: Path) -> ModelUpdater:
        """The vehicle's updater without a repository (activate, boot, mark_good)."""
        return cls(vehicle_dir, None, None)

    @staticmethod
    def provision(vehicle_dir: Path, root_json: bytes) -> None:
        """Install the trusted root once; a different root later is refused (rotation goes through TUF)."""
        path = Path(vehicle_dir) / "trust" / "root.json"
        if path.is_file() and path.read_bytes() != root_json:
            raise UpdateRefused(f"{path} already holds a different trusted root")
        atomic_write_bytes(path, root_json, mode=0o644)

    @staticmethod
    def read_state(vehicle_dir: Path) -> dict:
        """A provisioned vehicle's slot state, without contacting any repository."""
        if not (Path(vehicle_dir) / "trust" / "root.json").is_file():
            raise UpdateRefused(f"{vehicle_dir} is not a provisioned vehicle (no trust/root.json)")
        path = Path(vehicle_dir) / "state.json"
        return json.loads(path.read_text()) if path.is_file() else empty_state()

    # ---- state ----------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    def state(self) -> dict:
        return self.read_state(self.dir)

    def _save(self, state: dict) -> None:
        atomic_write_text(self.state_path, json.dumps(state, indent=1, sort_keys=True) + "\n")

    def _event(self, state: dict, event: str, slot: str | None, **detail) -> None:
        entry = {"event": event, "slot": slot, "unix_s": round(time.time(), 3), **detail}
        state["history"] = [*state.get("history", []), entry][-HISTORY:]

    # ---- activating, booting, rolling back --------------------------------------------------------
    def activate(self, max_boot_attempts: int = MAX_BOOT_ATTEMPTS) -> dict:
        """Validate the pending model and make it the active one: {activated, slot, reason}."""
        state = self.state()
        slot = state["pending"]
        if slot is None:
            raise UpdateRefused("no pending update: fetch one first")
        entry = state["slots"][slot]
        reason = self._validate(slot, entry)
        state["pending"] = None
        if reason is not None:
            state["slots"][slot] = {**entry, "rejected": reason}
            self._event(state, "rejected", slot, reason=reason)
            self._save(state)
            return {"activated": False, "slot": slot, "reason": reason}
        state["previous"], state["active"] = state["active"], slot
        state["boot"] = {"slot": slot, "attempts": 0, "good": False, "max_attempts": int(max_boot_attempts)}
        self._event(state, "activated", slot, sha256=entry["sha256"])
        self._save(state)
        return {"activated": True, "slot": slot, "reason": ""}

    def _validate(self, slot: str, entry: dict) -> str | None:
        from perception.golden import check_golden

        path = self.slot_path(slot, entry["name"])
        if not path.is_file():
            return f"{path} is missing"
        if not self._bytes_match(slot, entry):
            return "the slot's bytes no longer match the signed hash (changed on disk after the fetch)"
        golden = (entry.get("custom") or {}).get("golden")
        if golden is None:
            return "the target carries no golden record: nothing proves the model computes what it should"
        return check_golden(path, golden)

    def update(self, name: str) -> dict:
        """fetch + activate, the contract of `fleetpilot ota update`:
        {result: installed | current | rejected, reason, active: {...}}."""
        try:
            got = self.fetch(name)
        except UpdateRefused as exc:
            return {"result": "rejected", "reason": str(exc), "active": self.status()["active"]}
        if got["unchanged"]:
            return {"result": "current", "reason": "", "active": self.status()["active"]}
        done = self.activate()
        result = "installed" if done["activated"] else "rejected"
        return {"result": result, "reason": done["reason"], "active": self.status()["active"]}

    def rollback(self, reason: str = "asked for") -> dict:
        """Back to the previous slot now (the operator's or the health window's decision)."""
        state = self.state()
        if state["active"] is None:
            raise UpdateRefused("no active update to roll back")
        failed = state["active"]
        state["slots"][failed] = {**state["slots"][failed], "rejected": f"rolled back: {reason}"}
        state["active"], state["previous"] = state["previous"], None
        state["boot"] = None
        self._event(state, "rolled_back", failed, to=state["active"], reason=reason)
        self._save(state)
        return self.status()

    def status(self) -> dict:
        """`ota status`: active and previous slots (name, version, sha256, verified), pending, history."""
        state = self.state()

        def slot(which: str | None) -> dict | None:
            if which is None or state["slots"].get(which) is None:
                return None
            entry = state["slots"][which]
            return {
                "slot": which,
                "name": entry["name"],
                "version": (entry.get("custom") or {}).get("version"),
                "sha256": entry["sha256"],
                "verified": self._bytes_match(which, entry),
            }

        boot = state.get("boot")
        return {
            "active": slot(state["active"]),
            "previous": slot(state["previous"]),
            "pending": slot(state["pending"]),
            "marked_good": None if boot is None else bool(boot["good"]),
            "history": state.get("history", []),
        }

    def _bytes_match(self, slot: str, entry: dict) -> bool:
        import hashlib

        path = self.slot_path(slot, entry["name"])
        return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]

    def boot(self) -> dict:
        """A start of the stack: the model to load ({slot, path, rolled_back}); path None: the shipped one.
        An active slot whose bytes no longer verify is never loaded: the previous one is."""
        state = self.state()
        boot, rolled_back = state.get("boot"), False
        active = state["active"]
        if active is not None and not self._bytes_match(active, state["slots"][active]):
            state["slots"][active] = {**state["slots"][active], "rejected": "its bytes no longer verify"}
            state["active"], state["previous"], state["boot"] = state["previous"], None, None
            self._event(state, "rolled_back", active, to=state["active"], reason="bytes no longer verify")
            rolled_back, boot = True, None
        if state["active"] is not None and boot is not None and not boot["good"]:
            if boot["attempts"] >= boot["max_attempts"]:
                failed = state["active"]
                reason = f"{boot['attempts']} starts without being marked good"
                state["slots"][failed] = {**state["slots"][failed], "rejected": reason}
                state["active"], state["previous"] = state["previous"], None
                # the slot it falls back to had been marked good (or is none: the shipped model)
                state["boot"] = (
                    None if state["active"] is None else {**boot, "slot": state["active"], "good": True}
                )
                self._event(state, "rolled_back", failed, to=state["active"], reason=reason)
                rolled_back = True
            else:
                boot["attempts"] += 1
        self._save(state)
        active = state["active"]
        if active is None:
            return {"slot": None, "path": None, "version": None, "rolled_back": rolled_back, "proven": True}
        entry = state["slots"][active]
        path = str(self.slot_path(active, entry["name"]))
        version = (entry.get("custom") or {}).get("version")
        proven = state["boot"] is None or bool(state["boot"]["good"])
        return {
            "slot": active,
            "path": path,
            "version": version,
            "rolled_back": rolled_back,
            "proven": proven,
        }

    def mark_good(self) -> None:
        """The active model passed its health window: later starts no longer count toward a rollback."""
        state = self.state()
        if state["active"] is None or state.get("boot") is None:
            raise UpdateRefused("no active update to mark good")
        state["boot"]["good"] = True
        self._event(state, "marked_good", state["active"])
        self._save(state)

    def slot_path(self, slot: str, name: str) -> Path:
        return self.dir / "slots" / slot / name

    def inactive_slot(self, state: dict | None = None) -> str:
        state = state or self.state()
        return SLOTS[1] if state["active"] == SLOTS[0] else SLOTS[0]

    # ---- fetching -------------------------------------------------------------------------------
    def fetch(self, name: str) -> dict:
        """Verify and download target `name` into the inactive slot, which becomes the pending one.
        Returns {slot, path, sha256, length, custom, unchanged}; unchanged: the active slot already holds
        exactly these bytes (nothing is downloaded)."""
        from tuf.api import exceptions
        from tuf.ngclient import Updater, UpdaterConfig

        if self.metadata_url is None or self.targets_url is None:
            raise UpdateRefused("no repository URL: this updater was opened offline")

        try:
            # the anchor itself is checked here: a root below its own threshold is no anchor
            updater = Updater(
                str(self.metadata_dir),
                self.metadata_url,
                target_base_url=self.targets_url,
                config=UpdaterConfig(prefix_targets_with_hash=True),
                bootstrap=self.anchor.read_bytes(),
            )
            updater.refresh()
            info = updater.get_targetinfo(name)
        except exceptions.DownloadError as e:
            raise UpdateRefused(f"repository {self.metadata_url} unreachable: {e}") from None
        except exceptions.RepositoryError as e:
            raise UpdateRefused(f"repository metadata refused ({type(e).__name__}): {e}") from None
        if info is None:
            raise UpdateRefused(f"target {name!r} is not in the repository")
        entry = {"name": name, "sha256": info.hashes["sha256"], "length": info.length, "custom": info.custom}
        state = self.state()
        active = state["active"]
        if active is not None and (state["slots"][active] or {}).get("sha256") == entry["sha256"]:
            return {**entry, "slot": active, "path": str(self.slot_path(active, name)), "unchanged": True}
        slot = self.inactive_slot(state)
        boot = state.get("boot")
        if boot is not None and not boot["good"] and state["previous"] == slot:
            # the inactive slot is the running update's fallback until that update is marked good
            raise UpdateRefused(
                f"slot {state['active']} is still in its health window (not marked good): "
                f"slot {slot} is its fallback and is not overwritten"
            )
        if state["previous"] == slot:
            state["previous"] = None  # its bytes are about to go: never fall back to a half-written slot
            self._save(state)
        path = self.slot_path(slot, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # ngclient verifies length and hashes before it writes, but writes in place: download beside the
        # slot, then move the verified bytes in atomically (a power cut leaves the old file or the new one)
        partial = path.with_name(f".{path.name}.download")
        try:
            updater.download_target(info, filepath=str(partial))
            atomic_write_bytes(path, partial.read_bytes(), mode=0o644)
            partial.unlink()
        except exceptions.DownloadError as e:
            # ngclient checks length and hashes before it writes: a tampered file never lands in the slot
            raise UpdateRefused(f"target {name!r} refused ({type(e).__name__}): {e}") from None
        except exceptions.RepositoryError as e:
            raise UpdateRefused(f"target {name!r} refused ({type(e).__name__}): {e}") from None
        state["slots"][slot] = {**entry, "fetched_unix_s": round(time.time(), 3)}
        state["pending"] = slot
        self._event(state, "fetched", slot, sha256=entry["sha256"])
        self._save(state)
        return {**entry, "slot": slot, "path": str(path), "unchanged": False}


def model_to_load(ota_dir: str | Path | None, model_path: str | None) -> dict:
    """What perception loads at a start ({path, slot, version, rolled_back}): the OTA folder's active slot
    when there is one (a boot of its updater), else `model_path` (None: the shipped model). The perception
    node and the direct loop both ask this, so both run the same model."""
    if ota_dir:
        boot = ModelUpdater.local(Path(ota_dir)).boot()
        if boot["path"] is not None:
            return boot
        rolled_back = boot["rolled_back"]
        return {
            "path": model_path or None,
            "slot": None,
            "version": None,
            "rolled_back": rolled_back,
            "proven": True,
        }
    return {"path": model_path or None, "slot": None, "version": None, "rolled_back": False, "proven": True}

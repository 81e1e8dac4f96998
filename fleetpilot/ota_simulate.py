"""`fleetpilot ota simulate`: a staged rollout driven through a virtual fleet, every part real.

A real TUF repository (temporary) served over HTTP on loopback carries the fleet's model (the shipped
one) and then the candidate; N virtual vehicles, each a real updater with its own folder, first install
the fleet's model, then, stage by stage (cloud_reasoner/ota/rollout.py), the vehicles of the stage track
the rollout's target, update, and run the new model's health window on camera frames of their own
simulator scenes (sim/datagen.py, seed = a vehicle's own), with real inference. The health proxy that a
simulator can give and a car cannot: each frame's pixel error against the simulator's labels, standing in
for a real vehicle's safety interventions; beside it the window's confidence and dropped-frame checks.
Gates halt the rollout on failed activations or reverts; a halt sends every updated vehicle back.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAMES_PER_VEHICLE = 12
SCENE_POOL = 16  # vehicles share scenes from a pool of this many seeds (rendering is the slow part)
NAME = "segnet.onnx"


@dataclass
class SimulateConfig:
    vehicles: int = 200
    candidate: Path | None = None
    stages: tuple[int, ...] = (1, 10, 50, 100)
    frames: int = FRAMES_PER_VEHICLE
    seed: int = 0
    max_mean_error: float | None = None  # the health proxy's limit (default: HealthCriteria's)


class VirtualVehicle:
    def __init__(self, vehicle_id: str, folder: Path, url: str, root: bytes, frames) -> None:
        from cloud_reasoner.ota.updater import ModelUpdater

        self.id = vehicle_id
        ModelUpdater.provision(folder, root)
        self.updater = ModelUpdater(folder, f"{url}/metadata/", f"{url}/targets/")
        self.target = NAME  # what this vehicle tracks; a rollout's stage points it at its own target
        self.frames = frames  # (rgb (N,H,W,3), labels (N,H,W)) of its own scenes

    def update(self) -> dict:
        return self.updater.update(self.target)

    def health(self, criteria) -> tuple[str, str] | None:
        """The start after an install: the health window on this vehicle's frames (None: nothing new)."""
        from cloud_reasoner.ota.health import ModelSupervisor
        from perception.inference import SegmentationModel

        supervisor = ModelSupervisor(self.updater.dir, None, criteria)
        if supervisor.window is None:
            return None
        model = SegmentationModel(supervisor.path)
        rgb, labels = self.frames
        for image, label in zip(rgb, labels, strict=True):
            classes, confidence = model.predict(image)
            supervisor.observe(float(confidence.mean()), error=float((classes != label).mean()))
            if supervisor.window is None:
                break
        return supervisor.verdicts[-1] if supervisor.verdicts else None

    @property
    def sha256(self) -> str | None:
        active = self.updater.status()["active"]
        return None if active is None else active["sha256"]


def _scenes(count: int, frames: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sim import datagen

    return [datagen.render_scene(1000 + seed * SCENE_POOL + k, frames) for k in range(count)]


def simulate(cfg: SimulateConfig, progress=None) -> dict:
    from cloud_reasoner.ota.health import HealthCriteria
    from cloud_reasoner.ota.publish import publish_model
    from cloud_reasoner.ota.repository import Keys, Repository
    from cloud_reasoner.ota.rollout import Rollout, RolloutStore
    from cloud_reasoner.ota.server import RepositoryServer
    from perception.inference import DEFAULT_MODEL_PATH

    if cfg.vehicles < 1:
        raise ValueError(f"--vehicles must be at least 1, got {cfg.vehicles}")
    if cfg.candidate is None or not Path(cfg.candidate).is_file():
        raise ValueError(f"--candidate {cfg.candidate} is not a file")
    started = time.perf_counter()
    criteria = HealthCriteria(frames=cfg.frames)
    if cfg.max_mean_error is not None:
        criteria = HealthCriteria(frames=cfg.frames, max_mean_error=cfg.max_mean_error)
    with tempfile.TemporaryDirectory(prefix="fleetpilot_ota_sim_") as tmp:
        tmp = Path(tmp)
        keys = Keys.generate(tmp / "keys")
        repo = Repository.init(tmp / "repo", Keys.load(tmp / "keys", offline=True))
        publish_model(repo, keys, DEFAULT_MODEL_PATH, NAME, "fleet")
        store = RolloutStore(tmp / "cloud" / "ota.sqlite")
        scenes = _scenes(min(cfg.vehicles, SCENE_POOL), cfg.frames, cfg.seed)
        with RepositoryServer(repo.dir) as server:
            root = repo.root_bytes()
            fleet = [
                VirtualVehicle(
                    f"vehicle-{i:05d}",
                    tmp / "vehicles" / f"{i:05d}",
                    server.url,
                    root,
                    scenes[i % len(scenes)],
                )
                for i in range(cfg.vehicles)
            ]
            for v in fleet:  # the fleet's model, proven: where every vehicle starts
                assert v.update()["result"] == "installed"
                v.updater.mark_good()
            previous = fleet[0].sha256
            rollout = Rollout(repo, keys, store, NAME, Path(cfg.candidate), "candidate", cfg.stages)
            ids = [v.id for v in fleet]
            by_id = {v.id: v for v in fleet}
            updated: list[VirtualVehicle] = []
            halted, halt_reason, completed = False, "", 0
            for index, percent in enumerate(cfg.stages):
                rollout.advance(index)
                cohort = [by_id[i] for i in rollout.cohort(ids, index)]
                for v in cohort:
                    v.target = rollout.target
                    result = v.update()
                    if result["result"] == "rejected":
                        rollout.store.report(rollout.id, v.id, index, "rejected", detail=result["reason"])
                        continue
                    updated.append(v)
                    verdict = v.health(criteria)
                    outcome = "reverted" if verdict is not None and verdict[0] == "bad" else "healthy"
                    rollout.store.report(
                        rollout.id, v.id, index, outcome, v.sha256 or "", verdict[1] if verdict else ""
                    )
                passed, reason = rollout.gate(index, len(cohort))
                if progress is not None:
                    progress(percent, len(cohort), store.counts(rollout.id, index), passed)
                if not passed:
                    halted, halt_reason = True, reason
                    rollout.halt(reason)
                    for v in updated:  # back through a normal verified update to the previous model
                        if v.sha256 != previous:
                            v.update()
                            v.health(criteria)
                            rollout.store.report(rollout.id, v.id, index, "returned", v.sha256 or "")
                    break
                completed += 1
            if not halted:
                rollout.complete()
            candidate_sha = store.get(rollout.id)["candidate_sha256"]
            names = {previous: "previous", candidate_sha: "candidate"}
            versions = Counter(names.get(v.sha256, "other") for v in fleet)
            report = {
                "vehicles": cfg.vehicles,
                "stages": list(cfg.stages),
                "stages_completed": completed,
                "halted": halted,
                "halt_reason": halt_reason,
                "vehicles_on_candidate": sum(1 for v in fleet if v.sha256 == candidate_sha),
                "vehicles_rolled_back": sum(1 for v in updated if v.sha256 == previous),
                "vehicles_updated": len(updated),
                "versions": dict(sorted(versions.items())),
                "rollout": {
                    k: v
                    for k, v in store.get(rollout.id).items()
                    if k not in ("created_unix_s", "updated_unix_s")
                },
                "reports": store.counts(rollout.id),
                "health_proxy": "pixel error against the simulator's labels (on a car: its interventions)",
                "wall_s": round(time.perf_counter() - started, 2),
            }
        store.close()
    return report

"""Issue 20, acceptance 3: `fleetpilot ota update` killed with SIGKILL at 50 random moments across download,
check and switch. After each kill `ota status` reports a verified active model whose digest is one that
was published, and a start of the stack (`boot`) loads it."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from cloud_reasoner.ota.publish import publish_model
from cloud_reasoner.ota.repository import Keys, Repository
from cloud_reasoner.ota.server import RepositoryServer
from cloud_reasoner.ota.updater import ModelUpdater
from perception.inference import SegmentationModel

from .conftest import MODEL

ROOT = Path(__file__).resolve().parents[2]
KILLS = 50


def _status(car: Path) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "fleetpilot.cli", "ota", "status", "--vehicle-dir", str(car), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_sigkill_at_any_moment_of_an_update_leaves_a_verified_published_model(tmp_path, other_model):
    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True))
    publish_model(repo, keys, MODEL, "segnet.onnx", "7")
    published = {
        hashlib.sha256(MODEL.read_bytes()).hexdigest(),
        hashlib.sha256(other_model.read_bytes()).hexdigest(),
    }
    car_dir = tmp_path / "car"
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(car_dir, repo.root_bytes())
        car = ModelUpdater(car_dir, f"{server.url}/metadata/", f"{server.url}/targets/")
        assert car.update("segnet.onnx")["result"] == "installed"
        car.mark_good()
        publish_model(repo, keys, other_model, "segnet.onnx", "8")
        argv = [sys.executable, "-m", "fleetpilot.cli", "ota", "update", "--vehicle-dir", str(car_dir),
                "--url", server.url]  # fmt: skip

        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=60, check=True)  # one whole update
        whole = time.perf_counter() - start
        car.rollback("test: back to 7")
        rng = random.Random(20)
        outcomes = {"7": 0, "8": 0}
        for i in range(KILLS):
            # half anywhere in the run, half in its last part, where it downloads, checks and switches
            at = whole * (rng.random() if i % 2 else 0.6 + 0.45 * rng.random())
            proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(at)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            status = _status(car_dir)
            active = status["active"]
            assert active is not None and active["verified"], (i, status)
            assert active["sha256"] in published, (i, active)
            boot = car.boot()  # the stack starts: it loads what status reports
            assert boot["slot"] == active["slot"] and SegmentationModel(boot["path"]).width > 0
            outcomes[active["version"]] += 1
            if active["version"] == "8":  # the update had finished: undo it for the next round
                car.rollback("test: back to 7")
    assert outcomes["7"] > 0 and outcomes["8"] > 0, outcomes  # kills fell before and after the switch

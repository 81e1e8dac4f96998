"""`fleetpilot ota`: the repository and a vehicle's update as a user runs them; `ota serve` a real process.
Command names, exit codes and JSON keys are issue 20's contract."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "perception" / "models" / "segnet.onnx"


def fleetpilot(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fleetpilot.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def served(tmp_path):
    repo = tmp_path / "repo"
    r = fleetpilot("ota", "init", "--repo", repo)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "repo.keys" / "offline").is_dir()  # the keys' own folder beside the repository
    r = fleetpilot("ota", "publish", MODEL, "--repo", repo, "--name", "segnet.onnx", "--version", "7")
    assert r.returncode == 0, r.stderr
    port_file = tmp_path / "port"
    server = subprocess.Popen(
        [sys.executable, "-m", "fleetpilot.cli", "ota", "serve", "--repo", repo, "--port", "0",
         "--port-file", port_file],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_file.is_file() and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.05)
    assert port_file.is_file(), server.stderr.read() if server.poll() is not None else "no port file"
    car = tmp_path / "car"
    r = fleetpilot("ota", "provision", "--vehicle-dir", car, "--root", repo / "metadata" / "1.root.json")
    assert r.returncode == 0, r.stderr
    yield repo, f"http://127.0.0.1:{port_file.read_text().strip()}", car
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0  # SIGTERM: a clean stop


def test_publish_serve_provision_update_status_rollback(served, tmp_path):
    repo, url, car = served
    out = tmp_path / "update.json"
    r = fleetpilot("ota", "update", "--vehicle-dir", car, "--url", url, "--json", out)
    assert r.returncode == 0, r.stderr
    got = json.loads(out.read_text())
    assert got["result"] == "installed" and got["reason"] == ""
    assert got["active"]["version"] == "7" and got["active"]["verified"] and got["active"]["slot"] == "A"
    r = fleetpilot("ota", "update", "--vehicle-dir", car, "--url", url)
    assert r.returncode == 0 and json.loads(r.stdout)["result"] == "current"
    r = fleetpilot("ota", "status", "--vehicle-dir", car, "--json")
    status = json.loads(r.stdout)
    assert set(status) >= {"active", "previous", "pending", "history"}
    assert {"name", "version", "sha256", "verified"} <= set(status["active"])
    r = fleetpilot("ota", "timestamp", "--repo", repo, "--expires", "3600")
    assert r.returncode == 0 and "timestamp version" in r.stdout
    r = fleetpilot("ota", "rollback", "--vehicle-dir", car)
    assert r.returncode == 0 and "shipped model" in r.stdout
    assert json.loads(fleetpilot("ota", "status", "--vehicle-dir", car, "--json").stdout)["active"] is None


def test_a_rejected_update_exits_3_with_one_line_and_bad_input_exits_2(served, tmp_path):
    repo, url, car = served
    stored = next((repo / "targets").iterdir())
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")  # the mirror serves other bytes
    r = fleetpilot("ota", "update", "--vehicle-dir", car, "--url", url)
    assert r.returncode == 3, r.stderr
    assert json.loads(r.stdout)["result"] == "rejected" and json.loads(r.stdout)["active"] is None
    assert len(r.stderr.strip().splitlines()) == 1 and "LengthOrHashMismatch" in r.stderr
    for argv in (
        ("ota", "publish", tmp_path / "missing.onnx", "--repo", repo, "--name", "x"),
        ("ota", "publish", ROOT / "README.md", "--repo", repo, "--name", "x"),  # not a model
        ("ota", "init", "--repo", repo),  # a repository is there
        ("ota", "serve", "--repo", tmp_path / "nothing-here", "--port", "0"),
        ("ota", "status", "--vehicle-dir", tmp_path / "never-provisioned"),
        ("ota", "update", "--vehicle-dir", tmp_path / "never-provisioned", "--url", url),
        ("ota", "rollback", "--vehicle-dir", car),  # nothing active
        ("ota", "provision", "--vehicle-dir", car, "--root", ROOT / "README.md"),  # another root
    ):
        r = fleetpilot(*argv)
        assert r.returncode == 2, (argv, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr

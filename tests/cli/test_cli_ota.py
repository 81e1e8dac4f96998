"""`fleetpilot ota`: the repository and a vehicle's fetch as a user runs them, `ota serve` a real process."""

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


def fleetpilot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fleetpilot.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def served(tmp_path):
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    r = fleetpilot("ota", "init", "--repo", repo, "--keys", keys)
    assert r.returncode == 0, r.stderr
    r = fleetpilot(
        "ota", "publish", MODEL, "--name", "segnet.onnx", "--version", "7", "--repo", repo, "--keys", keys
    )
    assert r.returncode == 0, r.stderr
    port_file = tmp_path / "port"
    server = subprocess.Popen(
        [sys.executable, "-m", "fleetpilot.cli", "ota", "serve", "--repo", repo, "--keys", keys,
         "--port", "0", "--port-file", port_file],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_file.is_file() and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.05)
    assert port_file.is_file(), server.stderr.read() if server.poll() is not None else "no port file"
    yield repo, f"http://127.0.0.1:{port_file.read_text().strip()}"
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0  # SIGTERM: a clean stop


def test_init_publish_serve_fetch_status(served, tmp_path):
    repo, url = served
    car = tmp_path / "car"
    root = sorted((repo / "metadata").glob("*.root.json"))[-1]
    out = tmp_path / "fetch.json"
    r = fleetpilot("ota", "fetch", "--vehicle", car, "--url", url, "--name", "segnet.onnx", "--root", root,
                   "--json", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = json.loads(out.read_text())
    assert got["slot"] == "A" and got["custom"]["version"] == "7"
    assert Path(got["path"]).read_bytes() == MODEL.read_bytes()
    r = fleetpilot("ota", "status", "--vehicle", car)
    assert r.returncode == 0 and json.loads(r.stdout)["pending"] == "A"
    r = fleetpilot("ota", "activate", "--vehicle", car)  # the golden check on the vehicle, then it drives
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"activated": True, "slot": "A", "reason": ""}
    r = fleetpilot("ota", "activate", "--vehicle", car)
    assert r.returncode == 2 and "no pending update" in r.stderr


def test_a_refused_update_exits_3_with_one_line_and_bad_input_exits_2(served, tmp_path):
    repo, url = served
    root = sorted((repo / "metadata").glob("*.root.json"))[-1]
    stored = next((repo / "targets").iterdir())
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")  # the mirror serves other bytes
    r = fleetpilot("ota", "fetch", "--vehicle", tmp_path / "car", "--url", url, "--name", "segnet.onnx",
                   "--root", root)  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "LengthOrHashMismatch" in r.stderr
    assert "Traceback" not in r.stderr
    for argv in (
        (
            "ota",
            "publish",
            tmp_path / "missing.onnx",
            "--name",
            "x",
            "--repo",
            repo,
            "--keys",
            tmp_path / "keys",
        ),
        ("ota", "init", "--repo", repo, "--keys", tmp_path / "keys"),  # keys and repository exist
        ("ota", "serve", "--repo", tmp_path / "nothing-here", "--port", "0"),
        ("ota", "status", "--vehicle", tmp_path / "never-provisioned"),
    ):
        r = fleetpilot(*argv)
        assert r.returncode == 2, (argv, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr

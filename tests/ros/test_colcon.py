"""colcon (from the venv) builds both packages as ament_python."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLCON = ROOT / ".venv" / "bin" / "colcon"


@pytest.mark.skipif(not COLCON.exists(), reason="colcon not installed in the venv")
def test_colcon_list_and_build(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "ros_ws" / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    listed = subprocess.run(
        [str(COLCON), "list", "--base-paths", str(src)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout
    rows = {line.split()[0]: line.split()[-1] for line in listed.splitlines() if line.strip()}
    assert rows == {"fleetpilot_bringup": "(ros.ament_python)", "fleetpilot_nodes": "(ros.ament_python)"}
    build = subprocess.run(
        [
            str(COLCON),
            "build",
            "--base-paths",
            str(src),
            "--build-base",
            str(tmp_path / "build"),
            "--install-base",
            str(tmp_path / "install"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    install = tmp_path / "install"
    for f in (
        "fleetpilot_bringup/share/fleetpilot_bringup/config/graphs.yaml",
        "fleetpilot_bringup/share/fleetpilot_bringup/config/car.yaml",
        "fleetpilot_bringup/share/fleetpilot_bringup/launch/car_sim.launch.py",
        "fleetpilot_nodes/lib/fleetpilot_nodes/sim_node",
        "fleetpilot_nodes/share/ament_index/resource_index/packages/fleetpilot_nodes",
    ):
        assert (install / f).exists(), f

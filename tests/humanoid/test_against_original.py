"""fleetpilot's humanoid against pybullet's original training environment, run side by side in a
subprocess with gym stubbed out (gym is not installed and must not be needed at run time)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("original_env_check.py")
ROOT = Path(__file__).resolve().parents[2]


def _have_pybullet_envs() -> bool:
    spec = importlib.util.find_spec("pybullet")
    return (
        spec is not None and (Path(spec.origin).parent / "pybullet_envs" / "gym_locomotion_envs.py").is_file()
    )


@pytest.mark.skipif(not _have_pybullet_envs(), reason="pybullet_envs sources not installed")
@pytest.mark.parametrize("seed", [3])
def test_observation_and_dynamics_match_the_original_bit_for_bit(tmp_path, seed: int):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "stub"), str(seed), "300"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["parts"] == 31  # 30 robot parts + the floor the original keeps among them
    assert res["steps"] >= 100
    # same observation as the original, every step, once its floor part is counted
    assert res["obs_diff_floor_part"] == 0.0
    # robot parts only (our default): the bearing differs a little near the origin
    assert 0.0 < res["obs_diff_robot_parts"] < 0.5
    # same torques, substeps and physics parameters → identical joint trajectories
    assert res["dynamics_diff"] == 0.0

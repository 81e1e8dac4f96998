"""The vehicle-side runtime imports nothing of the simulator (issue 19, acceptance 2).

Every module of perception/ and planning/ and every node but the sim nodes is imported alone in a fresh
interpreter; afterwards neither `sim` nor `pybullet` may be in sys.modules. The contracts package, the
ground floor, may load nothing of ours at all. Tools that need the simulator (data generation in
sim/datagen.py, the benchmarks) import it inside the function that needs it, so importing them is
free and the line stays visible.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODES_DIR = ROOT / "ros_ws" / "src" / "fleetpilot_nodes" / "fleetpilot_nodes"
SIM_NODES = {"sim_node"}  # the one place the simulator is hosted in the graph
OURS = ("contracts", "sim", "perception", "planning", "fleetpilot", "cloud_reasoner", "fleetpilot_nodes")

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in set(sys.argv[2:]))))
"""


def _modules(package: str) -> list[str]:
    out = []
    for f in sorted((ROOT / package).rglob("*.py")):
        parts = f.relative_to(ROOT).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def runtime_modules() -> list[str]:
    nodes = [f"fleetpilot_nodes.{f.stem}" for f in sorted(NODES_DIR.glob("*.py")) if f.stem not in SIM_NODES]
    return _modules("perception") + _modules("planning") + nodes


def _loaded(module: str, watch: tuple[str, ...]) -> list[str]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, module, *watch], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    if r.returncode != 0:
        return [f"<import failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}>"]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def loaded_by_runtime() -> dict[str, list[str]]:
    mods = runtime_modules()
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(mods, pool.map(lambda m: _loaded(m, ("sim", "pybullet")), mods), strict=True))


def test_the_runtime_module_list_is_discovered_not_typed():
    mods = runtime_modules()
    assert "perception.pipeline" in mods and "planning.planner" in mods
    assert "fleetpilot_nodes.perception_node" in mods and "fleetpilot_nodes.planning_node" in mods
    assert not any(m.endswith(tuple(SIM_NODES)) for m in mods)
    assert len(mods) >= 40


@pytest.mark.parametrize("module", runtime_modules())
def test_runtime_module_loads_no_simulator(module, loaded_by_runtime):
    assert loaded_by_runtime[module] == [], f"importing {module} alone loads {loaded_by_runtime[module]}"


@pytest.mark.parametrize("module", _modules("contracts"))
def test_contracts_import_nothing_of_ours(module):
    others = [m for m in _loaded(module, OURS) if m.split(".")[0] != "contracts"]
    assert others == [], f"{module} loads {others}: contracts are the ground floor"
    assert "pybullet" not in _loaded(module, ("pybullet",))


def test_the_probe_sees_a_simulator_import():
    """The check can fail: a module that does load the simulator is reported."""
    assert "pybullet" in _loaded("sim.engine", ("sim", "pybullet"))

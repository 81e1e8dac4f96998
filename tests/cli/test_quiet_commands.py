"""No import noise, and no simulator where none is needed (issue 24, item 4).

pybullet prints "pybullet build time: ..." from C when it is imported. Commands must not: the line
is noise on stderr and breaks machine-readable stdout. And commands that need no simulator (cloud,
fleet, scenario list, every --help) must not load pybullet at all: a cloud host has no use for it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANNER = "pybullet build time"

RUN_CLI = """
import sys
from fleetpilot.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
print("PYBULLET_LOADED" if "pybullet" in sys.modules else "NO_PYBULLET", file=sys.stderr)
"""

IMPORT_ALL = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(sorted(m for m in ("pybullet", "sim") if m in sys.modules))
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["scenario", "list"],
        ["cloud", "serve", "--help"],
        ["fleet", "--help"],
        ["ota", "--help"],
        ["scenario", "run", "--help"],
    ],
    ids=" ".join,
)
def test_commands_that_need_no_simulator_neither_load_it_nor_print_its_banner(argv):
    r = _run(RUN_CLI, *argv)
    assert BANNER not in r.stdout + r.stderr
    assert r.stderr.strip().splitlines()[-1] == "NO_PYBULLET", r.stderr


def test_no_module_of_the_cloud_side_or_the_command_loads_the_simulator():
    mods = []
    for package in ("cloud_reasoner", "fleetpilot"):
        for f in sorted((ROOT / package).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            if parts[-1] != "__main__":
                mods.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    r = _run(IMPORT_ALL, *mods)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_loading_the_simulator_prints_nothing():
    """The physics engine loads through sim/_quiet_import.py: stdout and stderr stay empty."""
    r = _run("import sim.engine, sys; assert 'pybullet' in sys.modules")
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("", "")

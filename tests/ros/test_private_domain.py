"""graph_runner._private_domain: concurrent runs never share a ROS domain (they would see each other)."""

import subprocess
import sys

import pytest

from fleetpilot import graph_runner


def test_held_domains_are_skipped_and_released(monkeypatch):
    monkeypatch.setattr(graph_runner, "DOMAIN_RANGE", range(231, 233))
    with graph_runner._private_domain() as a, graph_runner._private_domain() as b:
        assert {a, b} == {231, 232}
        with pytest.raises(RuntimeError, match="held by other runs"), graph_runner._private_domain():
            pass
    with graph_runner._private_domain() as c:  # released on exit
        assert c in (231, 232)


def test_a_domain_held_by_another_process_is_not_taken(monkeypatch):
    monkeypatch.setattr(graph_runner, "DOMAIN_RANGE", range(229, 231))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, fleetpilot.graph_runner as g\n"
            "g.DOMAIN_RANGE = range(229, 230)\n"
            "with g._private_domain() as d:\n"
            "    print(d, flush=True); sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "229"
        for _ in range(3):
            with graph_runner._private_domain() as d:
                assert d == 230
    finally:
        holder.communicate("", timeout=30)

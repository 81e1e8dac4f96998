"""Session-wide: say in pytest's header whether the tests run with the fixed heap (sim/heap.py)."""

from __future__ import annotations


def pytest_report_header(config) -> list[str]:
    from sim.heap import heap_is_fixed

    if heap_is_fixed():
        return ["heap: fixed (sim/heap.py)"]
    return [
        "heap: default - same-seed checks of humanoid runs may differ about one run in twenty; "
        "run `python -m sim.heap python -m pytest ...` or `make test` (sim/heap.py)"
    ]

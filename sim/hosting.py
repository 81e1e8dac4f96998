"""Which world hosts a scenario: the car's Simulation (sim/engine.py), the humanoid's
(sim/humanoid_sim.py), or both robots in one world (sim/shared_sim.py). The registry entry's embodiment
(contracts/scenarios.py) picks it; runners, the sim node and the CLI open every scenario through
open_simulation, so none of them has a copy of its code per body.

The car's SCENARIO_NAMES (sim/scenarios.py) stay the car's alone: perception's dataset cycles through
them by seed.
"""

from __future__ import annotations

import importlib
from typing import Any

from contracts import scenarios


def all_scenario_names() -> tuple[str, ...]:
    return scenarios.names()


def all_scenarios() -> list[tuple[str, str]]:
    return [(s.name, s.description) for s in scenarios.SCENARIOS.values()]


def embodiment_of(scenario: str) -> str:
    """'car', 'humanoid' or 'shared' (both); unknown names raise ValueError listing the valid ones."""
    return scenarios.get(scenario).embodiment


# embodiment -> the world that hosts it (module, class), imported only when a scenario opens
_WORLDS = {
    "car": ("sim.engine", "Simulation"),
    "humanoid": ("sim.humanoid_sim", "HumanoidSimulation"),
    "shared": ("sim.shared_sim", "SharedSimulation"),
}


def open_simulation(scenario: str, seed: int, **kwargs: Any):
    """Simulation, HumanoidSimulation or SharedSimulation for the scenario (same keyword arguments)."""
    module, cls = _WORLDS[embodiment_of(scenario)]
    return getattr(importlib.import_module(module), cls)(scenario, seed, **kwargs)


__all__ = ["all_scenario_names", "all_scenarios", "embodiment_of", "open_simulation"]

"""Which world hosts a scenario: the car's Simulation (sim/engine.py), the humanoid's
(sim/humanoid_sim.py), or both robots in one world (sim/shared_sim.py). The scenario name picks the
embodiment; runners, the sim node and the CLI open every scenario through open_simulation and list them
through all_scenarios, so none of them has a humanoid copy of its code.

The car's SCENARIO_NAMES stay the car's alone: perception's dataset cycles through them by seed.
"""

from __future__ import annotations

from typing import Any

from sim.humanoid_sim import HUMANOID_SCENARIOS


def all_scenario_names() -> tuple[str, ...]:
    from sim.scenarios import SCENARIO_NAMES

    return (*SCENARIO_NAMES, *HUMANOID_SCENARIOS, *_shared())


def all_scenarios() -> list[tuple[str, str]]:
    from sim.scenarios import list_scenarios

    return [
        *list_scenarios(),
        *((name, desc) for name, (_, desc) in HUMANOID_SCENARIOS.items()),
        *_shared().items(),
    ]


def _shared() -> dict[str, str]:
    from sim.shared_sim import SHARED_SCENARIOS

    return SHARED_SCENARIOS


def embodiment_of(scenario: str) -> str:
    """'car', 'humanoid' or 'shared' (both); unknown names raise ValueError listing the valid ones."""
    if scenario in HUMANOID_SCENARIOS:
        return "humanoid"
    if scenario in _shared():
        return "shared"
    if scenario in all_scenario_names():
        return "car"
    raise ValueError(f"unknown scenario {scenario!r}; valid scenarios: {', '.join(all_scenario_names())}")


def open_simulation(scenario: str, seed: int, **kwargs: Any):
    """Simulation, HumanoidSimulation or SharedSimulation for the scenario (same keyword arguments)."""
    if embodiment_of(scenario) == "shared":
        from sim.shared_sim import SharedSimulation

        return SharedSimulation(scenario, seed, **kwargs)
    if embodiment_of(scenario) == "humanoid":
        from sim.humanoid_sim import HumanoidSimulation

        return HumanoidSimulation(scenario, seed, **kwargs)
    from sim.engine import Simulation

    return Simulation(scenario, seed, **kwargs)


__all__ = ["all_scenario_names", "all_scenarios", "embodiment_of", "open_simulation"]

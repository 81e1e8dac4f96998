"""`fleetpilot scenario run`: one scenario, through the ROS 2 graph (default) or the direct loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_scenario(
    name: str,
    seed: int,
    *,
    record: Path | None = None,
    plot: Path | None = None,
    direct: bool = False,
) -> dict:
    if direct and record is not None:
        raise ValueError("--record writes the graph's ROS 2 messages; it needs the graph (drop --direct)")

    def draw(sim: Any) -> None:
        if plot is None:
            return
        from fleetpilot.plot import plot_run

        plot_run(
            plot,
            map_geometry=sim.map_geometry(),
            route=sim.route_map()["centerline"],
            trajectory=sim.ego_trajectory(),
            result=sim.result(),
        )

    from sim.hosting import embodiment_of

    if embodiment_of(name) == "shared" and direct:
        from fleetpilot.direct_loop_shared import run_direct_shared

        return run_direct_shared(name, seed, on_finish=draw)
    if direct and embodiment_of(name) == "humanoid":
        from fleetpilot.direct_loop_humanoid import run_direct_humanoid

        return run_direct_humanoid(name, seed, on_finish=draw)
    if direct:
        from fleetpilot.direct_loop import run_direct

        return run_direct(name, seed, on_finish=draw)
    from fleetpilot.fleet_scenario import FLEET_SCENARIOS, run_with_fleet
    from fleetpilot.graph_runner import run_scenario as run_graph

    if name in FLEET_SCENARIOS:
        return run_with_fleet(name, seed, record=record, on_finish=draw)

    if embodiment_of(name) == "shared":
        # every node already has its robot's parameter file in the table: no extra file for all of them
        return run_graph(
            name, seed, record=record, on_finish=draw, graph="shared_sim", embodiment_params=None
        )
    if embodiment_of(name) == "humanoid":
        return run_graph(
            name, seed, record=record, on_finish=draw, graph="humanoid_sim", embodiment_params="humanoid.yaml"
        )
    return run_graph(name, seed, record=record, on_finish=draw)

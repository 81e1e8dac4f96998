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
    no_cloud: bool = False,
    cloud_fault: str | None = None,
) -> dict:
    """System 2 scenarios (fleetpilot.system2_run) start the embedded cloud service unless no_cloud."""
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

    from fleetpilot.system2_run import SYSTEM2_RUNS, SYSTEM2_SCENARIOS, cloud_overrides
    from sim.hosting import embodiment_of

    cloud = name in SYSTEM2_SCENARIOS and not no_cloud
    if embodiment_of(name) == "shared" and direct:
        from fleetpilot.direct_loop_shared import run_direct_shared

        return run_direct_shared(name, seed, on_finish=draw)
    if direct and name in SYSTEM2_SCENARIOS and embodiment_of(name) == "humanoid":
        raise ValueError(f"{name} needs the reasoner bridge node: run it through the ROS graph (no --direct)")
    if direct and embodiment_of(name) == "humanoid":
        from fleetpilot.direct_loop_humanoid import run_direct_humanoid

        return run_direct_humanoid(name, seed, on_finish=draw)
    if direct:
        from fleetpilot.direct_loop import run_direct

        return run_direct(name, seed, on_finish=draw, cloud=cloud, cloud_fault=cloud_fault)
    from fleetpilot.fleet_scenario import FLEET_SCENARIOS, run_with_fleet
    from fleetpilot.graph_runner import DEFAULT_GRAPH
    from fleetpilot.graph_runner import run_scenario as run_graph

    if name in FLEET_SCENARIOS:
        return run_with_fleet(name, seed, record=record, on_finish=draw)
    if embodiment_of(name) == "shared":
        # every node already has its robot's parameter file in the table: no extra file for all of them
        return run_graph(
            name, seed, record=record, on_finish=draw, graph="shared_sim", embodiment_params=None
        )
    embodiment_params = "humanoid.yaml" if embodiment_of(name) == "humanoid" else "car.yaml"
    if not cloud:
        # --no-cloud: the plain graph; the planner still asks, nobody answers
        plain = "humanoid_sim" if embodiment_of(name) == "humanoid" else DEFAULT_GRAPH
        return run_graph(
            name, seed, record=record, on_finish=draw, graph=plain, embodiment_params=embodiment_params
        )
    graph, vehicle_id = SYSTEM2_RUNS[name]
    with cloud_overrides(cloud_fault, vehicle_id=vehicle_id) as overrides:
        result = run_graph(
            name,
            seed,
            record=record,
            on_finish=draw,
            graph=graph,
            overrides=overrides,
            embodiment_params=embodiment_params,
        )
    result["cloud_fault"] = cloud_fault or ""
    return result

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
    model: str | Path | None = None,
) -> dict:
    """System 2 scenarios (fleetpilot.system2_run) start the embedded cloud service unless no_cloud.
    `model`: the perception model of every robot (default: its parameter file's, the shipped one)."""
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
            tracks=sim.actor_tracks(),
            moments=sim.key_moments(),
        )

    from contracts import scenarios
    from fleetpilot.system2_run import cloud_overrides

    entry = scenarios.get(name)
    cloud = entry.cloud is not None and not no_cloud
    # node name → parameters over the parameter files, for the graph and the direct loop alike
    given = {"perception": {"model_path": str(model)}} if model is not None else {}
    if direct:
        if not entry.direct:
            raise ValueError(f"{name}: {entry.direct_refusal}")
        return _run_direct(name, seed, draw, cloud=cloud, cloud_fault=cloud_fault, overrides=given)
    from fleetpilot.fleet_scenario import run_with_fleet
    from fleetpilot.graph_runner import run_scenario as run_graph

    if entry.fleet is not None:
        return run_with_fleet(name, seed, record=record, on_finish=draw, overrides=given)
    if not cloud:
        # --no-cloud of a System 2 scenario: the plain graph; the planner still asks, nobody answers
        return run_graph(
            name,
            seed,
            record=record,
            on_finish=draw,
            graph=entry.graph,
            embodiment_params=entry.params_file,
            overrides=given or None,
        )
    with cloud_overrides(cloud_fault, vehicle_id=entry.cloud.vehicle_id) as overrides:
        overrides = {**overrides, **{k: {**overrides.get(k, {}), **v} for k, v in given.items()}}
        result = run_graph(
            name,
            seed,
            record=record,
            on_finish=draw,
            graph=entry.cloud.graph,
            overrides=overrides,
            embodiment_params=entry.params_file,
        )
    result["cloud_fault"] = cloud_fault or ""
    return result


def _run_direct(name: str, seed: int, draw, *, cloud: bool, cloud_fault: str | None, overrides: dict) -> dict:
    """The in-process loop: one for every world (fleetpilot/direct_loop.py)."""
    from fleetpilot.direct_loop import run_direct

    return run_direct(name, seed, on_finish=draw, cloud=cloud, cloud_fault=cloud_fault, overrides=overrides)

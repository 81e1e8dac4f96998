"""The humanoid's stack in one Python loop, without ROS 2: sim → perception → planning → locomotion → sim.

The same perception and planning core as the car (fleetpilot/direct_loop.py), built from the humanoid's
parameter file; locomotion (planning/path_follow.py) replaces control and runs every control period,
perception and planning every camera frame (every 3 control periods), in the lockstep order of the graph:
a frame's path is planned before the locomotion step of that period.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetpilot.direct_loop import (
    default_params_file,
    load_node_params,
    perceiver_from_params,
    planner_from_params,
)


def build_humanoid_stack(sim, params_file: Path | None = None) -> tuple[Any, Any, Any]:
    """(perceiver, planner, locomotion) for a humanoid simulation, from the parameter file."""
    from planning.locomotion import LocomotionController, LocomotionPolicy
    from planning.path_follow import PathFollowParams, PathLocomotion

    params_file = params_file or default_params_file("humanoid.yaml")
    perc_p = load_node_params(params_file, "perception")
    plan_p = load_node_params(params_file, "planning")
    loco_p = load_node_params(params_file, "locomotion")
    perceiver = perceiver_from_params(sim.camera_model, perc_p)
    planner = planner_from_params(sim.route_map(), plan_p)
    policy = LocomotionPolicy(loco_p.get("model_path") or None, threads=int(loco_p.get("threads", 1)))
    locomotion = PathLocomotion(
        PathFollowParams.from_dict(loco_p.get("locomotion", {})), LocomotionController(policy)
    )
    return perceiver, planner, locomotion


def replan(planner, route: dict):
    """A Planner for a new route with the old one's embodiment and parameters (planning node: _on_route)."""
    from planning.planner import Planner
    from planning.types import RouteMap

    return Planner(planner.emb, RouteMap.from_dict(route), planner.p)


def run_direct_humanoid(
    scenario: str,
    seed: int,
    *,
    params_file: Path | None = None,
    on_finish: Callable[[Any], None] | None = None,
    on_frame: Callable[[Any, Any, Any], None] | None = None,
) -> dict:
    from contracts.messages import JointEffortCommand
    from planning.types import EgoState
    from sim.hosting import open_simulation

    params_file = params_file or default_params_file("humanoid.yaml")
    sim_p = load_node_params(params_file, "sim")
    started = time.perf_counter()
    with open_simulation(
        scenario,
        seed,
        camera_width=int(sim_p.get("camera_width", 160)),
        camera_height=int(sim_p.get("camera_height", 120)),
        odom_noise=float(sim_p.get("odom_noise", 0.0)),
    ) as sim:
        perceiver, planner, locomotion = build_humanoid_stack(sim, params_file)
        plan_p = load_node_params(params_file, "planning")
        gap = float(plan_p.get("path_max_gap", 0.25))
        tol = float(plan_p.get("path_speed_tolerance", 0.2))

        def published(traj):
            return traj.decimated(gap, tol) if gap > 0 else traj

        command = None
        frames = 0
        route_version = sim.route_version
        while True:
            batch = sim.advance(command)
            if sim.done:
                break
            if sim.route_version != route_version:
                # a new leg of the mission: the planning node builds a new Planner on a new map/route
                route_version = sim.route_version
                planner = replan(planner, sim.route_map())
            if batch.camera is not None:
                frame = batch.camera
                ego = EgoState.from_odometry(batch.odometry[-1])
                seen = perceiver.process(frame.stamp_ns, frame.rgb)
                trajectory = planner.plan(seen, ego)
                # what the planning node publishes (decimated nav_msgs/Path), so both loops walk the same
                locomotion.set_path(published(trajectory))
                frames += 1
                if on_frame is not None:
                    on_frame(sim, seen, trajectory)
            proprio = batch.proprioception[-1]
            command = JointEffortCommand(proprio.stamp_ns, tuple(locomotion.step(proprio)))
        result = dict(sim.result())
        if on_finish is not None:
            on_finish(sim)
    result["wall_time_s"] = time.perf_counter() - started
    result["frames"] = frames
    return result

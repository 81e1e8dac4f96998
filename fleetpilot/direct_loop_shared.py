"""Car and humanoid stacks in one Python loop, without ROS 2, on one shared world (sim/shared_sim.py).

The car's stack (perception → planning → control, config/car.yaml) answers every camera frame with a drive
command held for 3 control periods; the humanoid's stack (perception → planning, config/humanoid.yaml)
plans a path every camera frame and its locomotion acts every control period — the same core calls as
fleetpilot/direct_loop.py and fleetpilot/direct_loop_humanoid.py, the same parameter files.
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
from fleetpilot.direct_loop_humanoid import build_humanoid_stack, replan


class _RouteOf:
    """A view of the shared sim with the humanoid's camera and route, for build_humanoid_stack."""

    def __init__(self, sim) -> None:
        self.camera_model = sim.humanoid_camera_model
        self._sim = sim

    def route_map(self) -> dict:
        return self._sim.humanoid_route_map()


def run_direct_shared(
    scenario: str,
    seed: int,
    *,
    car_params: Path | None = None,
    humanoid_params: Path | None = None,
    on_finish: Callable[[Any], None] | None = None,
) -> dict:
    from contracts.messages import DriveCommand, JointEffortCommand
    from planning.controller import Controller, ControllerParams
    from planning.params import embodiment_for
    from planning.types import EgoState
    from sim.shared_sim import SharedSimulation

    car_params = car_params or default_params_file("car.yaml")
    humanoid_params = humanoid_params or default_params_file("humanoid.yaml")
    perc_p = load_node_params(car_params, "perception")
    plan_p = load_node_params(car_params, "planning")
    ctrl_p = load_node_params(car_params, "control")
    hplan_p = load_node_params(humanoid_params, "planning")
    gap = float(hplan_p.get("path_max_gap", 0.25))
    tol = float(hplan_p.get("path_speed_tolerance", 0.2))

    started = time.perf_counter()
    with SharedSimulation(scenario, seed) as sim:
        car_perceiver = perceiver_from_params(sim.camera_model, perc_p)
        car_planner = planner_from_params(sim.route_map(), plan_p)
        controller = Controller(
            embodiment_for(ctrl_p),
            ControllerParams.from_dict(ctrl_p.get("controller", {})),
        )
        h_perceiver, h_planner, locomotion = build_humanoid_stack(_RouteOf(sim), humanoid_params)
        car_cmd = h_cmd = None
        frames = 0
        route_version = sim.route_version
        while True:
            batch = sim.advance(car_cmd, h_cmd)
            car_cmd = None  # held by the sim until the next frame's answer
            if sim.done:
                break
            if sim.route_version != route_version:
                route_version = sim.route_version
                h_planner = replan(h_planner, sim.humanoid_route_map())
            if batch.car.camera is not None:
                frame = batch.car.camera
                ego = EgoState.from_odometry(batch.car.odometry[-1])
                traj = car_planner.plan(car_perceiver.process(frame.stamp_ns, frame.rgb), ego)
                cmd = controller.command(traj, ego)
                car_cmd = DriveCommand(frame.stamp_ns, cmd.speed, cmd.yaw_rate)
                frame = batch.humanoid.camera
                h_ego = EgoState.from_odometry(batch.humanoid.odometry[-1])
                h_traj = h_planner.plan(h_perceiver.process(frame.stamp_ns, frame.rgb), h_ego)
                locomotion.set_path(h_traj.decimated(gap, tol) if gap > 0 else h_traj)
                frames += 1
            proprio = batch.humanoid.proprioception[-1]
            h_cmd = JointEffortCommand(proprio.stamp_ns, tuple(locomotion.step(proprio)))
        result = dict(sim.result())
        if on_finish is not None:
            on_finish(sim)
    result["wall_time_s"] = time.perf_counter() - started
    result["frames"] = frames
    return result

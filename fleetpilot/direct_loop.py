"""The stack in one Python loop, without ROS 2: sim → perception → planning → control → sim.

The same core calls the nodes make, with the same parameter file (the bringup YAML is read here as
plain YAML), in the same lockstep order. It exists so the stack can be debugged and tested without a
ROS graph; `fleetpilot scenario run` goes through the graph unless told `--direct`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def load_node_params(params_file: Path, node: str) -> dict[str, Any]:
    """The ros__parameters of one node from a bringup YAML (`/**` first, then `/**/<node>`)."""
    doc = yaml.safe_load(Path(params_file).read_text()) or {}
    merged: dict[str, Any] = {}
    for key in ("/**", f"/**/{node}"):
        merged.update((doc.get(key) or {}).get("ros__parameters", {}))
    return merged


def default_params_file(name: str = "car.yaml") -> Path:
    from fleetpilot_bringup.graphs import resolve_package_file

    return resolve_package_file(Path("config") / name)


def perceiver_from_params(camera_model, perc_p: dict[str, Any]):
    """The Perceiver the perception node would build from its parameters (one place for all loops)."""
    from perception.pipeline import Perceiver
    from perception.specks import DEFAULT_MIN_OBJECT_PIXELS

    bev = perc_p.get("bev") or {}
    return Perceiver(
        camera_model,
        model_path=perc_p.get("model_path") or None,
        threads=int(perc_p.get("threads", 1)),
        bev={k: tuple(v) if isinstance(v, list) else v for k, v in bev.items()},
        min_object_pixels=int(perc_p.get("min_object_pixels", DEFAULT_MIN_OBJECT_PIXELS)),
    )


def planner_from_params(route_map: dict, plan_p: dict[str, Any]):
    """The Planner the planning node would build from its parameters and the sim's route message."""
    from planning.params import PlannerParams, embodiment_for
    from planning.planner import Planner
    from planning.types import RouteMap

    return Planner(
        embodiment_for(plan_p),
        RouteMap.from_dict(route_map),
        PlannerParams.from_dict(plan_p.get("planner", {})),
    )


def run_direct(
    scenario: str,
    seed: int,
    *,
    params_file: Path | None = None,
    on_finish: Callable[[Any], None] | None = None,
    cloud: bool = False,
    cloud_fault: str | None = None,
    time_limit_s: float | None = None,
) -> dict:
    from contracts.messages import DriveCommand
    from planning.controller import Controller, ControllerParams
    from planning.params import PlannerParams, embodiment_for
    from planning.planner import Planner
    from planning.types import EgoState, RouteMap
    from sim.engine import Simulation

    params_file = params_file or default_params_file()
    sim_p = load_node_params(params_file, "sim")
    perc_p = load_node_params(params_file, "perception")
    plan_p = load_node_params(params_file, "planning")
    ctrl_p = load_node_params(params_file, "control")

    started = time.perf_counter()
    with Simulation(
        scenario,
        seed,
        camera_width=int(sim_p.get("camera_width", 160)),
        camera_height=int(sim_p.get("camera_height", 120)),
        odom_noise=float(sim_p.get("odom_noise", 0.0)),
        time_limit_s=time_limit_s,
    ) as sim:
        perceiver = perceiver_from_params(sim.camera_model, perc_p)
        route = RouteMap.from_dict(sim.route_map())
        planner = Planner(
            embodiment_for(plan_p),
            route,
            PlannerParams.from_dict(plan_p.get("planner", {})),
        )
        controller = Controller(
            embodiment_for(ctrl_p),
            ControllerParams.from_dict(ctrl_p.get("controller", {})),
        )
        bridge = _direct_bridge(route, cloud_fault) if cloud else None
        command = None
        frames = 0
        while True:
            batch = sim.advance(command)
            if sim.done or batch.camera is None:
                break
            frame = batch.camera
            if sim.drive_requested and planner.park_s is not None:
                planner.release_park()  # what the planning node does on fleet/drive_request
            ego = EgoState.from_odometry(batch.odometry[-1])
            seen = perceiver.process(frame.stamp_ns, frame.rgb)
            trajectory = planner.plan(seen, ego)
            if bridge is not None and planner.system2_query is not None:
                # Lockstep: the answer is applied before the next frame (the loop waits on it, bounded by
                # the client's deadline); the real-time bridge node never waits.
                reply = bridge.submit(planner.system2_query)
                deadline = time.perf_counter() + bridge.client.deadline_s + 1.0
                while reply is None and time.perf_counter() < deadline:
                    time.sleep(0.002)
                    reply = bridge.poll()
                if reply is not None:
                    planner.system2.on_reply(reply)
            cmd = controller.command(trajectory, ego)
            command = DriveCommand(frame.stamp_ns, cmd.speed, cmd.yaw_rate)
            frames += 1
        result = dict(sim.result())
        result.update(planner.system2.counters.as_dict())
        if bridge is not None:
            result.update(dataclasses.asdict(bridge.counters))
            bridge.close()
            bridge.cloud.stop()
        if on_finish is not None:
            on_finish(sim)
    result["wall_time_s"] = time.perf_counter() - started
    result["frames"] = frames
    return result


def _direct_bridge(route, fault: str | None):
    from cloud_reasoner.vehicle_bridge import EmbeddedCloud, VehicleBridge

    cloud = EmbeddedCloud(fault).start()
    bridge = VehicleBridge(cloud.client(), route)
    bridge.cloud = cloud
    return bridge

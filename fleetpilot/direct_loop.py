"""Every scenario in one Python loop, without ROS 2: world → each robot's stack → command → world.

The same core calls the nodes make, with the same parameter files (the bringup YAML is read here as
plain YAML), in the same lockstep order. It exists so the stack can be debugged and tested without a
ROS graph; `fleetpilot scenario run` goes through the graph unless told `--direct`.

One loop for every world: the world says which robots it has (sim/robots.py), and each robot gets the
stack its body's command calls for (contracts/embodiment.py `command`): a `cmd_vel` body answers each
camera frame with a drive command (perception → planning → control) that the world holds until the next
one; a `joint_effort` body plans a path each camera frame and its locomotion acts every control period
(perception → planning → locomotion), a frame's path planned before that period's step, as in the graph.
Robots in one world are stepped in the world's order; nothing in-process couples their stacks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
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


def default_params_file(name: str) -> Path:
    from fleetpilot_bringup.graphs import resolve_package_file

    return resolve_package_file(Path("config") / name)


def body_params_file(embodiment: str) -> Path:
    """A body's node parameter file: config/<body>.yaml of fleetpilot_bringup (the graphs use the same)."""
    return default_params_file(f"{embodiment}.yaml")


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


class RobotStack:
    """What every robot runs on each camera frame: perception and planning, and System 2 when the
    loop has a cloud; the body's own part (control or locomotion) is in the subclasses."""

    def __init__(self, robot, params_file: Path, cloud=None, overrides: Mapping | None = None) -> None:
        from cloud_reasoner.ota.health import HealthCriteria, ModelSupervisor

        self.robot = robot
        self.overrides = dict(overrides or {})
        self.perc_p = self.params(params_file, "perception")
        # a start is a boot of the OTA updater, once, as in the perception node (it counts starts)
        criteria = HealthCriteria(
            frames=int(self.perc_p.get("ota_health_frames", 100)),
            min_mean_confidence=float(self.perc_p.get("ota_health_min_confidence", 0.5)),
        )
        self.model = ModelSupervisor(self.perc_p.get("ota_dir"), self.perc_p.get("model_path"), criteria)
        self.perceiver = self._perceiver()
        self.planner = planner_from_params(robot.route_map(), self.params(params_file, "planning"))
        self.route_version = robot.route_version()
        self.bridge = None if cloud is None else _bridge(cloud, robot.route_map())

    def params(self, params_file: Path, node: str) -> dict[str, Any]:
        """A node's parameters: its file's, then what the run overrides (as the graph runner does)."""
        return {**load_node_params(params_file, node), **self.overrides.get(node, {})}

    def _perceiver(self):
        return perceiver_from_params(
            self.robot.camera_model, {**self.perc_p, "model_path": self.model.path or ""}
        )

    def see_and_plan(self, batch):
        """(this frame's trajectory, the ego state it was planned from); None between camera frames."""
        if self.robot.route_version() != self.route_version:
            # a new leg of the mission: the planning node builds a new Planner on the new route
            self.route_version = self.robot.route_version()
            self.planner = _replan(self.planner, self.robot.route_map())
        if batch.camera is None:
            return None
        from planning.types import EgoState

        frame = batch.camera
        if self.robot.drive_requested() and self.planner.park_s is not None:
            self.planner.release_park()  # what the planning node does on fleet/drive_request
        ego = EgoState.from_odometry(batch.odometry[-1])
        seen = self.perceiver.process(frame.stamp_ns, frame.rgb)
        if self.model.observe(seen.confidence) is not None:  # a failed health window: swap back
            self.perceiver = self._perceiver()
        trajectory = self.planner.plan(seen, ego)
        if self.bridge is not None and self.planner.system2_query is not None:
            self._wait_for_system2()
        return trajectory, ego

    def _wait_for_system2(self) -> None:
        # Lockstep: the answer is applied before the next frame (the loop waits on it, bounded by the
        # client's deadline); the real-time bridge node never waits.
        bridge = self.bridge
        reply = bridge.submit(self.planner.system2_query)
        deadline = time.perf_counter() + bridge.client.deadline_s + 1.0
        while reply is None and time.perf_counter() < deadline:
            time.sleep(0.002)
            reply = bridge.poll()
        if reply is not None:
            self.planner.system2.on_reply(reply)

    def result_fields(self) -> dict:
        """The model perception ran and the System 2 counters, as the nodes report them."""
        from perception.types import model_fields

        out = model_fields(self.perceiver.model.sha256, self.model.slot or "", self.model.version or "")
        if self.planner.offers_system2:
            out.update(self.planner.system2.counters.as_dict())
        if self.bridge is not None:
            out.update(dataclasses.asdict(self.bridge.counters))
        return out

    def close(self) -> None:
        if self.bridge is not None:
            self.bridge.close()


class DriveStack(RobotStack):
    """A `cmd_vel` body: one drive command per camera frame, held by the world in between."""

    def __init__(self, robot, params_file: Path, cloud=None, overrides: Mapping | None = None) -> None:
        from planning.controller import Controller, ControllerParams
        from planning.params import embodiment_for

        super().__init__(robot, params_file, cloud, overrides)
        ctrl_p = self.params(params_file, "control")
        self.controller = Controller(
            embodiment_for(ctrl_p), ControllerParams.from_dict(ctrl_p.get("controller", {}))
        )

    def on_batch(self, batch):
        from contracts.messages import DriveCommand

        planned = self.see_and_plan(batch)
        if planned is None:
            return None
        cmd = self.controller.command(*planned)
        return DriveCommand(batch.camera.stamp_ns, cmd.speed, cmd.yaw_rate)


class WalkStack(RobotStack):
    """A `joint_effort` body: a path each camera frame, joint efforts every control period."""

    def __init__(self, robot, params_file: Path, cloud=None, overrides: Mapping | None = None) -> None:
        from planning.locomotion import LocomotionController, LocomotionPolicy
        from planning.path_follow import PathFollowParams, PathLocomotion

        super().__init__(robot, params_file, cloud, overrides)
        plan_p = self.params(params_file, "planning")
        loco_p = self.params(params_file, "locomotion")
        self.path_max_gap = float(plan_p.get("path_max_gap", 0.25))
        self.path_speed_tolerance = float(plan_p.get("path_speed_tolerance", 0.2))
        policy = LocomotionPolicy(loco_p.get("model_path") or None, threads=int(loco_p.get("threads", 1)))
        self.locomotion = PathLocomotion(
            PathFollowParams.from_dict(loco_p.get("locomotion", {})), LocomotionController(policy)
        )

    def on_batch(self, batch):
        from contracts.messages import JointEffortCommand

        planned = self.see_and_plan(batch)
        if planned is not None:
            trajectory = planned[0]
            # what the planning node publishes (a decimated nav_msgs/Path), so both loops walk the same
            gap = self.path_max_gap
            self.locomotion.set_path(
                trajectory.decimated(gap, self.path_speed_tolerance) if gap > 0 else trajectory
            )
        proprio = batch.proprioception[-1]
        return JointEffortCommand(proprio.stamp_ns, tuple(self.locomotion.step(proprio)))


# a body's command interface (contracts/embodiment.py COMMANDS) → the stack that produces it
STACKS: dict[str, type[RobotStack]] = {"cmd_vel": DriveStack, "joint_effort": WalkStack}


def build_stack(
    robot, params_file: Path | None = None, cloud=None, overrides: Mapping | None = None
) -> RobotStack:
    """The stack for one robot of a world, from its body's file and node parameter file (`overrides`:
    node name → parameters over the file's)."""
    from contracts import embodiment

    command = embodiment.load(robot.embodiment).command
    return STACKS[command](robot, params_file or body_params_file(robot.embodiment), cloud, overrides)


def run_direct(
    scenario: str,
    seed: int,
    *,
    params_files: Mapping[str, Path] | None = None,
    on_finish: Callable[[Any], None] | None = None,
    cloud: bool = False,
    cloud_fault: str | None = None,
    time_limit_s: float | None = None,
    overrides: Mapping[str, dict] | None = None,
) -> dict:
    """Run one scenario to its end; the world's result plus the stacks' counters, wall time and frames.
    `params_files`: a node parameter file per robot name (default: each body's config/<body>.yaml);
    `overrides`: node name → parameters over the files' (e.g. {"perception": {"model_path": ...}})."""
    from contracts import scenarios
    from sim.hosting import open_simulation

    entry = scenarios.get(scenario)
    world_options: dict[str, Any] = {}
    if entry.params_file is not None:  # the sim node's parameters; a shared world has its defaults
        sim_p = load_node_params(default_params_file(entry.params_file), "sim")
        world_options = {
            "camera_width": int(sim_p.get("camera_width", 160)),
            "camera_height": int(sim_p.get("camera_height", 120)),
            "odom_noise": float(sim_p.get("odom_noise", 0.0)),
        }
    if time_limit_s is not None:
        world_options["time_limit_s"] = time_limit_s
    params_files = params_files or {}

    started = time.perf_counter()
    embedded_cloud = None
    with open_simulation(scenario, seed, **world_options) as world:
        if cloud:
            from cloud_reasoner.vehicle_bridge import EmbeddedCloud

            embedded_cloud = EmbeddedCloud(cloud_fault).start()
        try:
            stacks = {
                robot.name: build_stack(robot, params_files.get(robot.name), embedded_cloud, overrides)
                for robot in world.robots()
            }
            commands: dict[str, Any] = dict.fromkeys(stacks)
            frames = 0
            while True:
                batches = world.step(commands)
                if world.done:
                    break
                commands = {name: stack.on_batch(batches[name]) for name, stack in stacks.items()}
                frames += any(b.camera is not None for b in batches.values())
            result = dict(world.result())
            for stack in stacks.values():
                result.update(stack.result_fields())
                stack.close()
        finally:
            if embedded_cloud is not None:
                embedded_cloud.stop()
        if on_finish is not None:
            on_finish(world)
    result["wall_time_s"] = time.perf_counter() - started
    result["frames"] = frames
    return result


def _bridge(cloud, route_map: dict):
    from cloud_reasoner.vehicle_bridge import VehicleBridge
    from planning.types import RouteMap

    return VehicleBridge(cloud.client(), RouteMap.from_dict(route_map))


def _replan(planner, route: dict):
    """A Planner for a new route with the old one's embodiment and parameters (planning node: _on_route)."""
    from planning.planner import Planner
    from planning.types import RouteMap

    return Planner(planner.emb, RouteMap.from_dict(route), planner.p)

"""One interface to every world: the robots it drives, and one step for all of them.

A runner (fleetpilot/direct_loop.py) sees a world only through this: `world.robots()` says which robots
there are (each with its body, camera and route), `world.step(commands)` advances the world by one
call with a command per robot (None: keep the last one) and returns each robot's sensor batch. The car's
world, the humanoid's and the shared one (sim/engine.py, sim/humanoid_sim.py, sim/shared_sim.py) each
implement it, so the runner holds no code per world and no code per body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from contracts.messages import CameraModel, SensorBatch


def _never() -> bool:
    return False


def _first_route() -> int:
    return 0


@dataclass(frozen=True)
class RobotPort:
    """A robot of a world, as the stack that drives it sees it."""

    name: str  # its key in step()'s commands and batches, and its namespace in a graph
    embodiment: str  # its body: contracts/embodiments/<embodiment>.yaml
    camera_model: CameraModel
    route_map: Callable[[], dict]  # the route message (planning.types.RouteMap.from_dict)
    route_version: Callable[[], int] = _first_route  # changes when route_map() does (a new leg)
    drive_requested: Callable[[], bool] = _never  # the owner asked a parked vehicle to drive on
    joint_names: tuple[str, ...] = ()  # a body driven by joint efforts: its joints, in command order


class World(Protocol):
    done: bool
    step_period_ns: int  # the sim time one step() advances

    def robots(self) -> tuple[RobotPort, ...]: ...

    def step(self, commands: Mapping[str, Any]) -> dict[str, SensorBatch]: ...

    def result(self) -> dict: ...

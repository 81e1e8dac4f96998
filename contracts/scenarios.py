"""The scenario registry: every scenario is one entry here, and every part that must know something
about a scenario asks this table: `scenario list`, the CLI's checks, sweeps and the demo, the runner's
choice of graph and of the in-process loop, the cloud and fleet set-up, the simulator's choice of world.
Nothing else decides on a scenario's name.

An entry says which world hosts it (`embodiment`: the body it drives, or "shared" for a world of
several), which ROS 2 graph runs it, with which node parameter file, whether it asks System 2 (then the
graph with the reasoner bridge and the vehicle id its token is issued to), whether fleet jobs run
while it is parked (then the graph with the fleet agent and that vehicle's id), and whether it has
an in-process runner. The world itself is built by the simulator from the name (sim/scenarios.py: the
car's roads; sim/humanoid_sim.py: the yards; sim/shared_sim.py: both robots in one world).

Plain data, no imports of ours: the command lists scenarios without loading the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CloudRun:
    """How a System 2 scenario reaches the cloud: the graph with the reasoner bridge and the vehicle
    id the embedded service issues its token to."""

    graph: str
    vehicle_id: str


@dataclass(frozen=True)
class FleetRun:
    """How a scenario that parks lends its compute: the graph with the fleet agent node and the
    vehicle id the embedded Fleet service issues its token to (fleetpilot/fleet_scenario.py)."""

    graph: str
    vehicle_id: str


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    embodiment: str  # "car", "humanoid" or "shared" (car and humanoid in one world)
    graph: str  # the ROS 2 graph (fleetpilot_bringup/config/graphs.yaml) without the cloud
    params_file: str | None  # the embodiment's node parameter file; None: each node has its own
    cloud: CloudRun | None = None  # asks System 2: the graph and identity used when the cloud is on
    fleet: FleetRun | None = None  # parks and lends its idle compute to fleet jobs: graph and identity
    direct: bool = True  # has an in-process runner (no ROS 2); False: it needs a node the loop lacks
    direct_refusal: str = ""  # why not, when direct is False
    records: bool = True  # `--record` can write its messages (one robot namespace)
    boxes_thrown: bool = False  # humanoid yards: boxes are thrown at the robot now and then
    text_task: bool = False  # humanoid yards: the goal is told in text (System 2 reads it)


_CAR = {"embodiment": "car", "graph": "car_sim", "params_file": "car.yaml"}
_HUMANOID = {"embodiment": "humanoid", "graph": "humanoid_sim", "params_file": "humanoid.yaml"}
_CAR_CLOUD = CloudRun("car_sim_system2", "car")

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("car_lane_follow", "Curvy road, no actors: keep the lane and reach the goal.", **_CAR),
        Scenario(
            "car_static_obstacle",
            "Object blocking the ego lane: change lane if a free same-direction lane exists, else stop "
            "safely.",
            **_CAR,
        ),
        Scenario(
            "car_red_light",
            "4-way junction whose light is red on approach, then green: stop, then go.",
            **_CAR,
        ),
        Scenario(
            "car_pedestrian_crossing",
            "Pedestrians cross at a crosswalk ahead: yield, then reach the goal.",
            **_CAR,
        ),
        Scenario(
            "car_lead_vehicle",
            "Lead vehicle slows, brakes hard to a stop, waits, drives on: keep a safe gap.",
            **_CAR,
        ),
        Scenario(
            "car_stalled_vehicle",
            "A stalled car in the ego lane of a two-way road with oncoming traffic: wait for a gap, pass it "
            "via the oncoming lane with System 2's advice, reach the goal (alone: a safe stop).",
            cloud=_CAR_CLOUD,
            **_CAR,
        ),
        Scenario(
            "car_construction_zone",
            "Cones and a barrier close the ego lane; the detour through the oncoming lane is marked by "
            "cones: follow it with System 2's advice, reach the goal (alone: a safe stop).",
            cloud=_CAR_CLOUD,
            **_CAR,
        ),
        Scenario(
            "car_park_and_lend",
            "Park at a spot on the route (idle compute for the fleet), then drive on when requested.",
            fleet=FleetRun("car_sim_fleet", "car"),
            **_CAR,
        ),
        Scenario(
            "humanoid_goals", "humanoid walks a chain of 3-5 goals through an obstacle yard", **_HUMANOID
        ),
        Scenario(
            "humanoid_push",
            "humanoid_goals with boxes thrown at the robot now and then",
            boxes_thrown=True,
            **_HUMANOID,
        ),
        Scenario(
            "humanoid_task",
            "told in text to walk to one of several coloured boxes (System 2 reads it)",
            cloud=CloudRun("humanoid_sim_system2", "humanoid"),
            text_task=True,
            direct=False,
            direct_refusal="it needs the reasoner bridge node: run it through the ROS graph (no --direct)",
            **_HUMANOID,
        ),
        Scenario(
            "shared_crossing",
            "car and humanoid in one world: the humanoid crosses the road in front of the car",
            embodiment="shared",
            graph="shared_sim",
            params_file=None,
            records=False,
        ),
    )
}


# The seeds a user may give a run: 0 … 2^32 − 1. Every seed in it is a distinct world (sim/seeding.py);
# the bound keeps a seed exact in every consumer (JSON readers that use doubles, int64 ROS parameters,
# 32-bit seeding APIs), so a failure reported with its seed can always be replayed.
SEED_MAX = 2**32 - 1


def seed_value(text: str) -> int:
    """One seed: an integer in 0 … SEED_MAX; ValueError with a one-line message otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"seeds must be integers, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise ValueError(f"seed {value} is out of range: seeds are 0 … {SEED_MAX} (2^32 − 1)")
    return value


def parse_seed_range(text: str) -> range:
    """'A:B' → range(A, B) (B exclusive, like Python slices); 'N' → range(N, N + 1); every seed in
    0 … SEED_MAX. ValueError with a one-line message otherwise. The one parser of seed ranges: the
    command line (fleetpilot/cli_checks.py) and the perception tools (perception/train.py) wrap it."""
    if ":" in text:
        a, b = text.split(":", 1)
        try:
            seeds = range(int(a), int(b))
        except ValueError:
            raise ValueError(f"seeds must look like A:B or N (integers), got {text!r}") from None
    else:
        seeds = range(seed_value(text), seed_value(text) + 1)
    if len(seeds) == 0:
        raise ValueError(f"seed range {text!r} is empty (B is exclusive: use A:B with B > A)")
    seed_value(str(seeds[0]))
    seed_value(str(seeds[-1]))
    return seeds


class UnknownScenario(ValueError):
    pass


def get(name: str) -> Scenario:
    """The entry; UnknownScenario (a ValueError) listing the valid names otherwise."""
    try:
        return SCENARIOS[name]
    except (KeyError, TypeError):
        raise UnknownScenario(f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}") from None


def names(embodiment: str | None = None) -> tuple[str, ...]:
    """All names in registry order, or those hosted by one embodiment's world."""
    return tuple(n for n, s in SCENARIOS.items() if embodiment is None or s.embodiment == embodiment)


def bodies() -> tuple[str, ...]:
    """The embodiments that have a world of their own (not the shared one), in registry order."""
    return tuple(dict.fromkeys(s.embodiment for s in SCENARIOS.values() if s.embodiment != "shared"))


def lends_compute(embodiment: str) -> bool:
    """Whether some scenario of this body parks and lends its idle compute to a fleet job."""
    return any(s.fleet is not None for s in SCENARIOS.values() if s.embodiment == embodiment)

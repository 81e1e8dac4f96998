"""Plain descriptions of a scenario's world (roads, markings, actors). Scenario builders produce them
from a seed; sim/world.py turns them into PyBullet bodies; metrics and map export read them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.geometry import Polyline

LANE_WIDTH = 3.5


@dataclass(frozen=True)
class RoadSpec:
    reference: Polyline  # geometric centre of the carriageway
    lane_offsets: tuple[float, ...]  # lane centres, lateral offset (m, left positive) from the reference
    lane_directions: tuple[int, ...]  # +1 drives along the reference, -1 against it
    lane_width: float = LANE_WIDTH
    sidewalk_width: float = 2.0
    # s intervals where another road crosses: no lines, no sidewalks (the junction box)
    junctions: tuple[tuple[float, float], ...] = ()

    @property
    def half_width(self) -> float:
        return max(abs(o) for o in self.lane_offsets) + 0.5 * self.lane_width


@dataclass(frozen=True)
class StopLineSpec:
    road: int  # index into ScenarioSpec.roads
    s: float  # along that road's reference
    lateral: tuple[float, float]  # (min, max) lateral extent on that road
    route_s: float  # the same line as arc length along the ego route
    light_id: int


@dataclass(frozen=True)
class CrosswalkSpec:
    road: int
    s: float  # centre of the crosswalk along the road reference
    depth: float = 3.0  # extent along the road


@dataclass(frozen=True)
class ObstacleSpec:
    kind: str  # "box", "cone", "parked_car"
    x: float
    y: float
    yaw: float
    length: float
    width: float
    height: float


@dataclass(frozen=True)
class TrafficLightSpec:
    light_id: int
    x: float  # pole foot
    y: float
    facing_yaw: float  # direction the lamps face (towards the approaching ego)
    head_height: float
    # (state, duration_s) cycled from t = 0; state in {"red", "yellow", "green"}
    phases: tuple[tuple[str, float], ...]

    def state_at(self, t: float) -> str:
        cycle = sum(d for _, d in self.phases)
        tc = t % cycle
        for state, d in self.phases:
            if tc < d:
                return state
            tc -= d
        return self.phases[-1][0]


@dataclass(frozen=True)
class PedestrianSpec:
    start: tuple[float, float]
    end: tuple[float, float]
    speed: float  # m/s walking
    # It starts walking when the ego, at its current speed, would reach the crossing (route arc length
    # crossing_route_s) in time_to_lane_s: the time the walker needs to reach the ego lane centre. So an
    # ego that does not yield meets the walker in its lane, whatever its speed. Fallback: at
    # trigger_time_s, so a stopped ego still sees the crossing.
    crossing_route_s: float
    time_to_lane_s: float
    trigger_time_s: float
    height: float = 1.75
    radius: float = 0.25


@dataclass(frozen=True)
class LeadVehicleSpec:
    path: Polyline  # the lane it drives along
    s0: float
    cruise_speed: float
    accel: float  # m/s², for speeding up
    t_slow: float  # time it starts slowing to slow_speed
    slow_speed: float
    t_brake: float  # time it brakes hard to a stop
    brake_decel: float  # m/s², positive
    wait_s: float
    length: float = 4.5
    width: float = 1.8
    height: float = 1.5


@dataclass(frozen=True)
class OncomingVehicleSpec:
    """A car in the oncoming lane driving at a constant speed from s0 (at t = 0) along `path` (the
    oncoming lane's centre line in its own driving direction)."""

    path: Polyline
    s0: float
    speed: float  # m/s


@dataclass
class ScenarioSpec:
    name: str
    roads: list[RoadSpec]
    route: Polyline  # ego lane centre line, ~1 m spacing
    ego_start_s: float
    goal_s: float
    speed_limit: float
    time_limit_s: float
    adjacent_lane_offsets: tuple[float, ...] = ()
    stop_lines: list[StopLineSpec] = field(default_factory=list)
    crosswalks: list[CrosswalkSpec] = field(default_factory=list)
    obstacles: list[ObstacleSpec] = field(default_factory=list)
    lights: list[TrafficLightSpec] = field(default_factory=list)
    pedestrians: list[PedestrianSpec] = field(default_factory=list)
    lead: LeadVehicleSpec | None = None
    # route s of the blocking object's near face when no free lane exists (success = safe stop)
    blocked_at_s: float | None = None
    # Parking (car_park_and_lend): the ego parks with base_link at route s park_s and stays until the
    # owner's drive request at sim time drive_request_time_s, then drives on to the goal.
    park_s: float | None = None
    drive_request_time_s: float | None = None
    oncoming: list[OncomingVehicleSpec] = field(default_factory=list)
    # route s of the near face of a blocker the ego may pass only with help (System 2): success still
    # needs the goal; a stop before it without a collision is reported as `safe_stop`
    stall_at_s: float | None = None
    oncoming_lane_offsets: tuple[float, ...] = ()  # oncoming lanes the map tells the stack about

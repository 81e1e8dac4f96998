"""The scenario catalogue: each builder turns a random generator into a ScenarioSpec.

Routes are 120-250 m and runs are short (time limits 40-60 s) so CI can drive all of them. Traffic is
right-hand: the ego drives in the right lane (negative lateral offset from the road reference)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.geometry import Polyline, polyline_from_curvature
from sim.layout import (
    LANE_WIDTH,
    CrosswalkSpec,
    LeadVehicleSpec,
    ObstacleSpec,
    OncomingVehicleSpec,
    PedestrianSpec,
    RoadSpec,
    ScenarioSpec,
    StopLineSpec,
    TrafficLightSpec,
)

EGO_START_S = 5.0
GOAL_MARGIN_S = 15.0  # goal this far before the road end, so the camera still sees road at the goal

_ONE_EACH_WAY = ((-0.5 * LANE_WIDTH, 0.5 * LANE_WIDTH), (1, -1))
_TWO_SAME_WAY = ((-0.5 * LANE_WIDTH, 0.5 * LANE_WIDTH), (1, 1))


def _start_pose(rng: np.random.Generator) -> tuple[tuple[float, float], float]:
    # The odom frame is the world frame; the ego does not start at its origin nor facing +x, so that
    # nothing downstream silently assumes it does.
    return (float(rng.uniform(-20, 20)), float(rng.uniform(-20, 20))), float(rng.uniform(-math.pi, math.pi))


def _curvy_pieces(rng: np.random.Generator, total: float, min_radius: float) -> list[tuple[float, float]]:
    pieces = [(20.0, 0.0)]  # start straight
    length = 20.0
    while length < total - 1.0:
        seg = min(float(rng.uniform(20, 45)), total - length)  # the last piece ends exactly at `total`
        if rng.random() < 0.35:
            kappa = 0.0
        else:
            kappa = float(rng.choice([-1, 1]) / rng.uniform(min_radius, 3 * min_radius))
        pieces.append((seg, kappa))
        length += seg
    return pieces


def _road_and_route(
    rng: np.random.Generator, pieces: list[tuple[float, float]], lanes
) -> tuple[RoadSpec, Polyline]:
    start, heading = _start_pose(rng)
    reference = polyline_from_curvature(start, heading, pieces)
    road = RoadSpec(reference=reference, lane_offsets=lanes[0], lane_directions=lanes[1])
    route = reference.offset(road.lane_offsets[0])
    return road, route


def _lane_follow(rng: np.random.Generator) -> ScenarioSpec:
    lanes = _TWO_SAME_WAY if rng.random() < 0.5 else _ONE_EACH_WAY
    total = float(rng.uniform(170, 230))
    road, route = _road_and_route(rng, _curvy_pieces(rng, total, 50.0), lanes)
    adjacent = (LANE_WIDTH,) if lanes is _TWO_SAME_WAY else ()
    return ScenarioSpec(
        name="car_lane_follow",
        roads=[road],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=11.0,
        time_limit_s=45.0,
        adjacent_lane_offsets=adjacent,
    )


def _gentle_pieces(rng: np.random.Generator, straight_from: float, straight_to: float, total: float):
    """Mild curves except a straight stretch around the event (obstacle, crosswalk, junction)."""
    k1 = float(rng.choice([-1, 1]) / rng.uniform(120, 300))
    k2 = float(rng.choice([-1, 1]) / rng.uniform(120, 300))
    return [
        (15.0, 0.0),
        (straight_from - 15.0, k1),
        (straight_to - straight_from, 0.0),
        (total - straight_to, k2),
    ]


def _static_obstacle(rng: np.random.Generator) -> ScenarioSpec:
    free_lane = bool(rng.random() < 0.5)
    lanes = _TWO_SAME_WAY if free_lane else _ONE_EACH_WAY
    s_obs = float(rng.uniform(65, 90))
    total = float(rng.uniform(150, 190))
    road, route = _road_and_route(rng, _gentle_pieces(rng, s_obs - 35, s_obs + 25, total), lanes)
    kind = str(rng.choice(["box", "cones", "parked_car"]))
    obstacles: list[ObstacleSpec] = []
    x, y, h = route.sample(s_obs)
    if kind == "parked_car":
        obstacles.append(ObstacleSpec("parked_car", x, y, h, 4.5, 1.8, 1.5))
        near = s_obs - 2.25
    elif kind == "box":
        size = float(rng.uniform(1.0, 1.6))
        obstacles.append(ObstacleSpec("box", x, y, h + float(rng.uniform(-0.4, 0.4)), size, size, size * 0.8))
        near = s_obs - size * 0.75
    else:  # a line of cones across the lane
        for lat in np.linspace(-1.2, 1.2, 4):
            cx, cy = route.offset_point(s_obs, float(lat))
            obstacles.append(ObstacleSpec("cone", cx, cy, h, 0.4, 0.4, 0.75))
        near = s_obs - 0.2
    return ScenarioSpec(
        name="car_static_obstacle",
        roads=[road],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=10.0,
        time_limit_s=45.0,
        adjacent_lane_offsets=(LANE_WIDTH,) if free_lane else (),
        obstacles=obstacles,
        blocked_at_s=None if free_lane else near,
    )


def _junction(
    rng: np.random.Generator, main: RoadSpec, s_int: float
) -> tuple[RoadSpec, RoadSpec, tuple[float, float]]:
    """A perpendicular one-lane-each-way road crossing `main` at s_int. Returns both roads (main with
    its junction interval set) and the half extents of the junction box."""
    x, y, h = main.reference.sample(s_int)
    half_cross = 0.5 * 2 * LANE_WIDTH  # cross road is one lane each way
    arm = 45.0
    ch = h + math.pi / 2
    start = (x - arm * math.cos(ch), y - arm * math.sin(ch))
    cross_ref = polyline_from_curvature(start, ch, [(2 * arm, 0.0)])
    cross = RoadSpec(
        reference=cross_ref,
        lane_offsets=_ONE_EACH_WAY[0],
        lane_directions=_ONE_EACH_WAY[1],
        junctions=(
            (arm - main.half_width - main.sidewalk_width, arm + main.half_width + main.sidewalk_width),
        ),
    )
    jw = half_cross + main.sidewalk_width
    main = RoadSpec(
        reference=main.reference,
        lane_offsets=main.lane_offsets,
        lane_directions=main.lane_directions,
        junctions=((s_int - jw, s_int + jw),),
    )
    return main, cross, (jw, main.half_width)


def _red_light(rng: np.random.Generator) -> ScenarioSpec:
    s_int = float(rng.uniform(75, 95))
    total = float(rng.uniform(150, 180))
    main, route = _road_and_route(rng, _gentle_pieces(rng, s_int - 45, s_int + 30, total), _ONE_EACH_WAY)
    main, cross, (jw, _) = _junction(rng, main, s_int)
    s_stop = s_int - jw - 1.0
    t_green = float(rng.uniform(13.0, 17.0))
    phases = (("red", t_green), ("green", 30.0), ("yellow", 3.0), ("red", 20.0))
    # pole on the far right corner, lamps facing the ego
    px, py = main.reference.offset_point(s_int + jw + 1.0, -(main.half_width + 1.0))
    light = TrafficLightSpec(
        0, px, py, facing_yaw=main.reference.heading(s_int) + math.pi, head_height=4.2, phases=phases
    )
    # route and reference differ in length on the curved part, so locate the line on the route itself
    route_s = route.project(*main.reference.offset_point(s_stop, main.lane_offsets[0]))[0]
    stop = StopLineSpec(
        road=0, s=s_stop, lateral=(-main.half_width, 0.0), route_s=round(route_s, 3), light_id=0
    )
    return ScenarioSpec(
        name="car_red_light",
        roads=[main, cross],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=10.0,
        time_limit_s=50.0,
        stop_lines=[stop],
        lights=[light],
    )


def _pedestrian_crossing(rng: np.random.Generator) -> ScenarioSpec:
    s_cw = float(rng.uniform(65, 85))
    total = float(rng.uniform(150, 180))
    road, route = _road_and_route(rng, _gentle_pieces(rng, s_cw - 40, s_cw + 20, total), _ONE_EACH_WAY)
    n = int(rng.integers(1, 3))
    peds = []
    edge = road.half_width + 0.6 * road.sidewalk_width
    ego_lane = road.lane_offsets[0]
    for i in range(n):
        from_right = bool(rng.random() < 0.6)
        ds = float(rng.uniform(-1.0, 1.0))
        a = road.reference.offset_point(s_cw + ds, -edge if from_right else edge)
        b = road.reference.offset_point(s_cw + ds, edge if from_right else -edge)
        speed = float(rng.uniform(1.1, 1.5))
        to_lane = abs((-edge if from_right else edge) - ego_lane) / speed
        crossing_s = route.project(*road.reference.sample(s_cw + ds)[:2])[0]
        peds.append(
            PedestrianSpec(
                start=a,
                end=b,
                speed=speed,
                crossing_route_s=round(crossing_s, 3),
                # second walker a little behind the first; jitter so it is not always dead centre
                time_to_lane_s=to_lane + 1.0 * i + float(rng.uniform(-0.3, 0.3)),
                trigger_time_s=float(rng.uniform(10, 14)) + 1.5 * i,
            )
        )
    return ScenarioSpec(
        name="car_pedestrian_crossing",
        roads=[road],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=10.0,
        time_limit_s=50.0,
        crosswalks=[CrosswalkSpec(road=0, s=s_cw)],
        pedestrians=peds,
    )


def _lead_vehicle(rng: np.random.Generator) -> ScenarioSpec:
    total = float(rng.uniform(200, 240))
    lanes = _ONE_EACH_WAY
    road, route = _road_and_route(rng, _curvy_pieces(rng, total, 90.0), lanes)
    cruise = float(rng.uniform(7.0, 9.0))
    lead = LeadVehicleSpec(
        path=route,
        s0=EGO_START_S + float(rng.uniform(18, 26)),
        cruise_speed=cruise,
        accel=2.0,
        t_slow=float(rng.uniform(5.0, 7.0)),
        slow_speed=float(rng.uniform(4.0, 5.5)),
        t_brake=float(rng.uniform(10.0, 12.0)),
        brake_decel=6.0,
        wait_s=float(rng.uniform(2.0, 4.0)),
    )
    return ScenarioSpec(
        name="car_lead_vehicle",
        roads=[road],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=11.0,
        time_limit_s=55.0,
        lead=lead,
    )


def _park_and_lend(rng: np.random.Generator) -> ScenarioSpec:
    """Drive to a parking spot on the route, park (the fleet agent may lend the idle computer to a
    batch job), then the owner's drive request comes at a scripted time and the car drives on."""
    total = float(rng.uniform(180, 220))
    road, route = _road_and_route(rng, _curvy_pieces(rng, total, 60.0), _ONE_EACH_WAY)
    park_s = float(rng.uniform(70, 90))
    return ScenarioSpec(
        name="car_park_and_lend",
        roads=[road],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=11.0,
        # about 13 s to reach the spot, parked for about 6 s (fleet graphs run it at wall-clock pace),
        # then about 14 s to the goal
        time_limit_s=50.0,
        park_s=park_s,
        drive_request_time_s=float(rng.uniform(19.0, 20.0)),
    )


# Oncoming traffic on a two-way street (sim/traffic.py: responsible drivers that brake for a car in their
# lane, and count it). The camera BEV sees 40 m, so the ego cannot see every car that could meet it
# during a ~5 s pass; it must never make a car it can see brake.
_ONCOMING_SPEED = (5.0, 6.5)


def _oncoming_traffic(
    rng: np.random.Generator, road: RoadSpec, s_event: float, n_before: tuple[int, int]
) -> list[OncomingVehicleSpec]:
    """Cars in the oncoming lane passing s_event (road reference s) at scheduled times: a few close
    together while the ego arrives and waits (gaps too short to pass), then a long gap, then one more."""
    lane = road.reference.offset(road.lane_offsets[1])
    path = type(lane)(lane.points[::-1].copy())  # the oncoming lane in its own driving direction
    s_event_path = path.length - s_event
    speed = float(rng.uniform(*_ONCOMING_SPEED))
    times = []
    t = float(rng.uniform(7.0, 11.0))
    for _ in range(int(rng.integers(n_before[0], n_before[1] + 1))):
        times.append(t)
        t += float(rng.uniform(2.5, 4.0))  # ~8-22 m bumper to bumper: no room to pass
    times.append(t + float(rng.uniform(20.0, 26.0)))  # after the gap
    cars = []
    for t_pass in times:
        s0 = s_event_path - speed * t_pass
        if s0 >= 0.0:  # a car that would have to start beyond the road end is left out
            cars.append(OncomingVehicleSpec(path=path, s0=round(s0, 3), speed=round(speed, 3)))
    return cars


def _stalled_vehicle(rng: np.random.Generator) -> ScenarioSpec:
    s_stall = float(rng.uniform(60, 75))
    total = float(rng.uniform(160, 190))
    road, route = _road_and_route(rng, _gentle_pieces(rng, s_stall - 35, s_stall + 40, total), _ONE_EACH_WAY)
    x, y = route.offset_point(s_stall, float(rng.uniform(-0.2, 0.2)))
    h = route.heading(s_stall)
    stalled = ObstacleSpec("parked_car", x, y, h + float(rng.uniform(-0.05, 0.05)), 4.5, 1.8, 1.5)
    s_ref = road.reference.project(x, y)[0]
    return ScenarioSpec(
        name="car_stalled_vehicle",
        roads=[road],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=10.0,
        time_limit_s=60.0,
        obstacles=[stalled],
        oncoming=_oncoming_traffic(rng, road, s_ref, (1, 3)),
        stall_at_s=s_stall - 2.25,
        oncoming_lane_offsets=(LANE_WIDTH,),
    )


def _construction_zone(rng: np.random.Generator) -> ScenarioSpec:
    s_zone = float(rng.uniform(60, 75))  # first cone of the taper
    length = float(rng.uniform(12.0, 24.0))  # closed stretch after the taper
    taper = 8.0
    total = float(rng.uniform(170, 200))
    road, route = _road_and_route(
        rng, _gentle_pieces(rng, s_zone - 35, s_zone + taper * 2 + length + 30, total), _ONE_EACH_WAY
    )
    h = route.heading(s_zone)
    cones: list[ObstacleSpec] = []

    def cone(s: float, lat: float) -> None:
        cx, cy = route.offset_point(s, lat)
        cones.append(ObstacleSpec("cone", cx, cy, route.heading(s), 0.4, 0.4, 0.75))

    # Taper in: from the kerb diagonally to the centre line; then cones along the centre line (the lane's
    # left edge); a barrier across the closed lane; taper out. Lateral offsets from the ego lane centre.
    edge_in, centre = -1.5, 0.5 * LANE_WIDTH - 0.2
    for k in range(5):
        cone(s_zone + k * taper / 4, edge_in + (centre - edge_in) * k / 4)
    n_line = max(2, int(length / 4.0))
    for k in range(1, n_line + 1):
        cone(s_zone + taper + k * length / n_line, centre)
    # barriers across the closed lane every ~8 m: no way back into it before the zone ends
    barriers = []
    for k in range(max(1, int(length / 8.0) + 1)):
        bx, by = route.offset_point(s_zone + taper + 2.0 + 8.0 * k, -0.2)
        barriers.append(ObstacleSpec("box", bx, by, h + math.pi / 2, 0.5, 2.6, 1.0))
    s_out = s_zone + taper + length
    for k in range(1, 5):
        cone(s_out + k * taper / 4, centre + (edge_in - centre) * k / 4)
    s_ref = road.reference.project(*route.offset_point(s_zone + taper, 0.0))[0]
    return ScenarioSpec(
        name="car_construction_zone",
        roads=[road],
        route=route,
        ego_start_s=EGO_START_S,
        goal_s=route.length - GOAL_MARGIN_S,
        speed_limit=10.0,
        time_limit_s=60.0,
        obstacles=[*cones, *barriers],
        oncoming=_oncoming_traffic(rng, road, s_ref, (0, 2)),
        stall_at_s=s_zone - 0.2,
        oncoming_lane_offsets=(LANE_WIDTH,),
    )


# the car worlds by name (their descriptions and run facts: contracts/scenarios.py)
_BUILDERS: dict[str, Callable[[np.random.Generator], ScenarioSpec]] = {
    "car_lane_follow": _lane_follow,
    "car_static_obstacle": _static_obstacle,
    "car_red_light": _red_light,
    "car_pedestrian_crossing": _pedestrian_crossing,
    "car_lead_vehicle": _lead_vehicle,
    "car_stalled_vehicle": _stalled_vehicle,
    "car_construction_zone": _construction_zone,
    "car_park_and_lend": _park_and_lend,
}

SCENARIO_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def build_scenario(name: str, rng: np.random.Generator) -> ScenarioSpec:
    if name not in _BUILDERS:
        raise ValueError(f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIO_NAMES)}")
    return _BUILDERS[name](rng)

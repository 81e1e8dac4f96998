"""Plain-JSON geometry of a scenario for plots: lanes, edges, stop lines, obstacles, crosswalks."""

from __future__ import annotations

import math

import numpy as np

from sim.layout import LANE_WIDTH, ScenarioSpec
from sim.metrics import PARK_WINDOW_M


def _r(points) -> list[list[float]]:
    return np.asarray(points, dtype=float).round(3).tolist()


def _rect(x: float, y: float, yaw: float, half_l: float, half_w: float) -> list[list[float]]:
    c, s = math.cos(yaw), math.sin(yaw)
    corners = [(half_l, half_w), (-half_l, half_w), (-half_l, -half_w), (half_l, -half_w)]
    return _r([(x + c * a - s * b, y + s * a + c * b) for a, b in corners])


def _closed(poly: list[list[float]]) -> list[list[float]]:
    return [*poly, poly[0]]


def map_geometry(spec: ScenarioSpec) -> dict:
    """name -> list of polylines/polygons ([[x, y], ...]) or of dicts carrying them under "points",
    the shape fleetpilot/plot.py draws. The route itself is route_map()["centerline"]."""
    lanes, edges = [], []
    for road in spec.roads:
        ref = road.reference
        lanes += [_r(ref.offset(o).points) for o in road.lane_offsets]
        edges += [_r(ref.offset(road.half_width).points), _r(ref.offset(-road.half_width).points)]
    stop_lines = []
    for sl in spec.stop_lines:
        ref = spec.roads[sl.road].reference
        ends = [ref.offset_point(sl.s, sl.lateral[0]), ref.offset_point(sl.s, sl.lateral[1])]
        stop_lines.append({"light_id": sl.light_id, "route_s": round(sl.route_s, 3), "points": _r(ends)})
    crosswalks = []
    for cw in spec.crosswalks:
        road = spec.roads[cw.road]
        x, y, h = road.reference.sample(cw.s)
        crosswalks.append(_closed(_rect(x, y, h, 0.5 * cw.depth, road.half_width)))
    obstacles = [
        {"kind": o.kind, "points": _closed(_rect(o.x, o.y, o.yaw, 0.5 * o.length, 0.5 * o.width))}
        for o in spec.obstacles
    ]
    lights = [
        {"light_id": lt.light_id, "points": _closed(_rect(lt.x, lt.y, 0.0, 0.3, 0.3))} for lt in spec.lights
    ]
    parking = []
    if spec.park_s is not None:
        # the stretch of lane in which the rear axle must come to rest for the car to count as parked
        x, y, h = spec.route.sample(spec.park_s)
        parking.append(_closed(_rect(x, y, h, PARK_WINDOW_M, 0.5 * LANE_WIDTH)))
    gx, gy, _ = spec.route.sample(spec.goal_s)
    sx, sy, _ = spec.route.sample(spec.ego_start_s)
    return {
        "lane_centerlines": lanes,
        "road_edges": edges,
        "stop_lines": stop_lines,
        "crosswalks": crosswalks,
        "obstacles": obstacles,
        "traffic_lights": lights,
        "pedestrian_paths": [_r([ped.start, ped.end]) for ped in spec.pedestrians],
        "parking_spot": parking,
        "start": [[round(sx, 3), round(sy, 3)]],
        "goal": [[round(gx, 3), round(gy, 3)]],
    }

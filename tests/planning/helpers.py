"""Synthetic inputs for planning tests: routes, hand-built BEV grids, a tiny kinematic bicycle."""

from __future__ import annotations

import numpy as np

from perception.classes import Cls
from perception.types import BevGrid, LightState, PerceptionOutput, TrafficLightObservation
from planning.params import CAR, HUMANOID, embodiment_from_dict
from planning.types import EgoState, RouteMap, StopLine

CAR_EMB = embodiment_from_dict(CAR)
HUMANOID_EMB = embodiment_from_dict(HUMANOID)


def straight_route(length: float = 300.0, speed_limit: float = 10.0, adjacent=(), stop_lines=(),
                   goal_s=None) -> RouteMap:
    xs = np.arange(0.0, length + 1.0, 1.0)
    return RouteMap(np.stack([xs, np.zeros_like(xs)], axis=1), 3.5, speed_limit, tuple(adjacent),
                    tuple(StopLine(s, i) for i, s in enumerate(stop_lines)), goal_s)


def curvy_route(length: float = 400.0, speed_limit: float = 10.0, amplitude: float = 8.0,
                wavelength: float = 120.0) -> RouteMap:
    xs = np.arange(0.0, length, 0.5)
    ys = amplitude * np.sin(2 * np.pi * xs / wavelength)
    pts = np.stack([xs, ys], axis=1)
    # Resample to ~1 m arc spacing like a map would.
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    si = np.arange(0.0, s[-1], 1.0)
    return RouteMap(np.stack([np.interp(si, s, xs), np.interp(si, s, ys)], axis=1), 3.5, speed_limit)


def road_grid(resolution: float = 0.25, x_max: float = 40.0, half_width: float = 10.0,
              blind_near: float = 0.0) -> BevGrid:
    """All ROAD (seen), optionally UNKNOWN for x < blind_near (the camera's near blind zone)."""
    cols = round(x_max / resolution)
    rows = round(2 * half_width / resolution)
    classes = np.full((rows, cols), int(Cls.ROAD), dtype=np.uint8)
    if blind_near > 0:
        classes[:, : round(blind_near / resolution)] = BevGrid.UNKNOWN
    return BevGrid(classes, resolution, 0.0, -half_width)


def put_box(grid: BevGrid, cls: int, x0: float, x1: float, y0: float, y1: float) -> BevGrid:
    """Fill the base_link rectangle [x0, x1] × [y0, y1] with a class (returns a new grid)."""
    c = grid.classes.copy()
    xs, ys = grid.cell_centers()
    c[(xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)] = int(cls)
    return BevGrid(c, grid.resolution, grid.origin_x, grid.origin_y)


def perception(grid: BevGrid, stamp_ns: int, light: LightState = LightState.NONE, light_conf: float = 0.0,
               confidence: float = 0.9) -> PerceptionOutput:
    return PerceptionOutput(stamp_ns, grid, TrafficLightObservation(light, light_conf), confidence)


def ego(stamp_ns: int = 0, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, speed: float = 0.0) -> EgoState:
    return EgoState(stamp_ns, x, y, yaw, speed, 0.0)


def box_in_odom_to_base(e: EgoState, x0, x1, y0, y1):
    """Axis-aligned odom box → base_link box for an ego with yaw 0 (tests keep yaw 0 when using it)."""
    assert abs(e.yaw) < 1e-9
    return x0 - e.x, x1 - e.x, y0 - e.y, y1 - e.y


class Bicycle:
    """Kinematic unicycle/bicycle driven by (speed, yaw_rate) commands with accel limits."""

    def __init__(self, emb, x=0.0, y=0.0, yaw=0.0, speed=0.0):
        self.emb, self.x, self.y, self.yaw, self.v, self.w = emb, x, y, yaw, speed, 0.0

    def step(self, speed_cmd: float, yaw_rate: float, dt: float) -> None:
        dv = np.clip(speed_cmd - self.v, -self.emb.max_decel * dt, self.emb.max_accel * dt)
        self.v = max(self.v + dv, 0.0)
        self.w = float(np.clip(yaw_rate, -self.emb.max_yaw_rate, self.emb.max_yaw_rate))
        self.x += self.v * np.cos(self.yaw) * dt
        self.y += self.v * np.sin(self.yaw) * dt
        self.yaw += self.w * dt

    def state(self, stamp_ns: int) -> EgoState:
        return EgoState(stamp_ns, self.x, self.y, self.yaw, self.v, self.w)

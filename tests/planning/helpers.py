"""Synthetic inputs for planning tests: routes, hand-built BEV grids, a tiny kinematic bicycle."""

from __future__ import annotations

import numpy as np

from perception.classes import Cls
from perception.types import BevGrid, LightState, PerceptionOutput, TrafficLightObservation
from planning.params import CAR, HUMANOID, embodiment_from_dict
from planning.types import EgoState, RouteMap, StopLine

CAR_EMB = embodiment_from_dict(CAR)
HUMANOID_EMB = embodiment_from_dict(HUMANOID)


def straight_route(
    length: float = 300.0, speed_limit: float = 10.0, adjacent=(), stop_lines=(), goal_s=None
) -> RouteMap:
    xs = np.arange(0.0, length + 1.0, 1.0)
    return RouteMap(
        np.stack([xs, np.zeros_like(xs)], axis=1),
        3.5,
        speed_limit,
        tuple(adjacent),
        tuple(StopLine(s, i) for i, s in enumerate(stop_lines)),
        goal_s,
    )


def curvy_route(
    length: float = 400.0, speed_limit: float = 10.0, amplitude: float = 8.0, wavelength: float = 120.0
) -> RouteMap:
    xs = np.arange(0.0, length, 0.5)
    ys = amplitude * np.sin(2 * np.pi * xs / wavelength)
    pts = np.stack([xs, ys], axis=1)
    # Resample to ~1 m arc spacing like a map would.
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    si = np.arange(0.0, s[-1], 1.0)
    return RouteMap(np.stack([np.interp(si, s, xs), np.interp(si, s, ys)], axis=1), 3.5, speed_limit)


def road_grid(
    resolution: float = 0.25, x_max: float = 40.0, half_width: float = 10.0, blind_near: float = 0.0
) -> BevGrid:
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


def perception(
    grid: BevGrid,
    stamp_ns: int,
    light: LightState = LightState.NONE,
    light_conf: float = 0.0,
    confidence: float = 0.9,
) -> PerceptionOutput:
    return PerceptionOutput(stamp_ns, grid, TrafficLightObservation(light, light_conf), confidence)


def ego(stamp_ns: int = 0, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, speed: float = 0.0) -> EgoState:
    return EgoState(stamp_ns, x, y, yaw, speed, 0.0)


def box_in_odom_to_base(e: EgoState, x0, x1, y0, y1):
    """Axis-aligned odom box → base_link box for an ego with yaw 0 (tests keep yaw 0 when using it)."""
    assert abs(e.yaw) < 1e-9
    return x0 - e.x, x1 - e.x, y0 - e.y, y1 - e.y


class Bicycle:
    """Kinematic model driven by (speed, yaw_rate) like the sim's drive-by-wire: acceleration request
    (v_cmd − v) / 0.5 s within the embodiment's limits with a 0.15 s lag; yaw rate follows the command
    with a 0.2 s lag, limited by max_yaw_rate and v · max_curvature."""

    def __init__(self, emb, x=0.0, y=0.0, yaw=0.0, speed=0.0):
        self.emb, self.x, self.y, self.yaw, self.v, self.w, self.a = emb, x, y, yaw, speed, 0.0, 0.0

    def step(self, speed_cmd: float, yaw_rate: float, dt: float) -> None:
        e = self.emb
        a_req = float(np.clip((speed_cmd - self.v) / 0.5, -e.max_decel, e.max_accel))
        self.a += (a_req - self.a) * min(1.0, dt / 0.15)
        w_max = min(e.max_yaw_rate, max(self.v, 0.5) * e.max_curvature)
        w_cmd = float(np.clip(yaw_rate, -w_max, w_max))
        self.w += (w_cmd - self.w) * min(1.0, dt / 0.2)
        v_new = max(self.v + self.a * dt, 0.0)
        if v_new == 0.0:
            self.a = max(self.a, 0.0) if speed_cmd > 0 else 0.0
        v_mid = 0.5 * (self.v + v_new)
        yaw_mid = self.yaw + 0.5 * self.w * dt
        self.x += v_mid * np.cos(yaw_mid) * dt
        self.y += v_mid * np.sin(yaw_mid) * dt
        self.yaw += self.w * dt
        self.v = v_new

    def state(self, stamp_ns: int) -> EgoState:
        return EgoState(stamp_ns, self.x, self.y, self.yaw, self.v, self.w)


FRAME_NS = 49_500_000  # camera period: plan + control once per frame, like the lockstep nodes
PHYSICS_DT = 0.004125
STEPS_PER_FRAME = 12


def render_grid(
    e: EgoState, boxes, resolution: float = 0.25, blind_near: float = 1.0, camera_like: bool = False
) -> BevGrid:
    """Grid seen from ego pose e: ROAD everywhere in range, boxes (cls, cx, cy, length, width, yaw in
    odom) painted in, UNKNOWN for the first blind_near metres (the camera's near blind zone).

    camera_like=True mimics perception's BEV projection instead: a 90° field of view from a camera at
    x = 1.6 m, each object only as a 1 m deep strip behind its nearest (contact) cells, and the cells
    it hides from the camera UNKNOWN.
    """
    g = road_grid(resolution, blind_near=blind_near)
    xs, ys = g.cell_centers()
    c, s = np.cos(e.yaw), np.sin(e.yaw)
    ox, oy = e.x + c * xs - s * ys, e.y + s * xs + c * ys
    classes = g.classes.copy()
    cam_x = 1.6
    rng_cam = np.hypot(xs - cam_x, ys)
    bearing = np.arctan2(ys, xs - cam_x)
    if camera_like:
        classes[np.abs(bearing) > np.pi / 4] = BevGrid.UNKNOWN
    for cls, cx, cy, length, width, yaw in boxes:
        lx = np.cos(yaw) * (ox - cx) + np.sin(yaw) * (oy - cy)
        ly = -np.sin(yaw) * (ox - cx) + np.cos(yaw) * (oy - cy)
        inside = (np.abs(lx) <= length / 2) & (np.abs(ly) <= width / 2) & (classes != BevGrid.UNKNOWN)
        if not camera_like:
            classes[inside] = int(cls)
            continue
        if not inside.any():
            continue
        # Per bearing bin: the nearest box cell is the contact point; 1 m behind it is the object,
        # further behind (same bearing) is hidden.
        bins = np.round(bearing / 0.01).astype(int)
        contact = {}
        for b, r in zip(bins[inside], rng_cam[inside], strict=True):
            contact[b] = min(contact.get(b, np.inf), r)
        near_r = np.array([contact.get(b, np.inf) for b in bins.ravel()]).reshape(bins.shape)
        shadow = np.isfinite(near_r) & (rng_cam > near_r + 1.0)
        classes[shadow] = BevGrid.UNKNOWN
        classes[inside & ~shadow] = int(cls)
    return BevGrid(classes, g.resolution, g.origin_x, g.origin_y)


def closed_loop(planner, controller, bike: Bicycle, boxes_at, frames: int, light_at=None, camera_like=False):
    """Drive: every frame render → plan → command, then 12 physics steps. boxes_at(t) gives the boxes at
    time t (s); light_at(t) an optional (LightState, confidence). Returns per-frame logs."""
    log = {"x": [], "y": [], "v": [], "yaw": [], "behaviour": [], "fallback": [], "traj": []}
    for k in range(frames):
        stamp = (k + 1) * FRAME_NS
        t = stamp * 1e-9
        e = bike.state(stamp)
        light = light_at(t) if light_at else (LightState.NONE, 0.0)
        tr = planner.plan(perception(render_grid(e, boxes_at(t), camera_like=camera_like), stamp, *light), e)
        cmd = controller.command(tr, e)
        for _ in range(STEPS_PER_FRAME):
            bike.step(cmd.speed, cmd.yaw_rate, PHYSICS_DT)
        log["x"].append(e.x)
        log["y"].append(e.y)
        log["v"].append(e.speed)
        log["yaw"].append(e.yaw)
        log["behaviour"].append(tr.behaviour)
        log["fallback"].append(tr.fallback)
        log["traj"].append(tr)
    return {k: (np.array(v) if k != "traj" else v) for k, v in log.items()}


def footprint_overlaps_box(emb, x, y, yaw, box) -> bool:
    """Exact rectangle-rectangle overlap (separating axis) of the ego footprint and a box."""
    _, cx, cy, length, width, byaw = box
    fc = np.array([x + emb.rear_to_center * np.cos(yaw), y + emb.rear_to_center * np.sin(yaw)])

    def corners(c, L, W, a):
        u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
        return np.array([c + sx * L / 2 * u + sy * W / 2 * v for sx in (-1, 1) for sy in (-1, 1)])

    A = corners(fc, emb.length, emb.width, yaw)
    B = corners(np.array([cx, cy]), length, width, byaw)
    for a in (yaw, yaw + np.pi / 2, byaw, byaw + np.pi / 2):
        axis = np.array([np.cos(a), np.sin(a)])
        pa, pb = A @ axis, B @ axis
        if pa.max() < pb.min() or pb.max() < pa.min():
            return False
    return True

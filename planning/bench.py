"""Planner and controller benchmark on synthetic inputs (no simulator, no ROS).

    python -m planning.bench [--frames 300] [--json out.json]

Reports plan() time p50/p99 (ms) on a typical grid (road, a lead vehicle, a parked car in the next
lane, a pedestrian on the sidewalk, cones, an occlusion shadow) and the lateral tracking error of
Planner + Controller driving a kinematic model along a curvy route.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from perception.classes import Cls
from perception.types import BevGrid, LightState, PerceptionOutput, TrafficLightObservation
from planning.controller import Controller
from planning.params import CAR, embodiment_from_dict
from planning.planner import Planner
from planning.route import Route
from planning.types import EgoState, RouteMap

FRAME_NS = 49_500_000


def typical_grid(resolution: float = 0.25) -> BevGrid:
    cols, rows = int(40 / resolution), int(20 / resolution)
    c = np.full((rows, cols), int(Cls.ROAD), dtype=np.uint8)
    xs = (np.arange(cols) + 0.5) * resolution
    ys = -10 + (np.arange(rows) + 0.5) * resolution
    gx, gy = np.meshgrid(xs, ys)
    c[np.abs(gy) > 5.25] = int(Cls.SIDEWALK)
    c[np.abs(gy - 1.75) < 0.08] = int(Cls.LANE_MARKING)
    c[gy < gx - 1.6 - 10.0] = BevGrid.UNKNOWN  # outside a 90° field of view (roughly)
    c[gy > 11.6 - gx] = BevGrid.UNKNOWN

    def box(x0, x1, y0, y1, cls):
        c[(gx >= x0) & (gx <= x1) & (gy >= y0) & (gy <= y1)] = int(cls)

    box(28.0, 29.0, -0.9, 0.9, Cls.VEHICLE)  # lead (1 m deep contact strip, like the BEV projection)
    c[(gx > 29.0) & (np.abs(gy) < 0.9 + (gx - 29.0) * 0.05)] = BevGrid.UNKNOWN  # its occlusion shadow
    box(18.0, 19.0, 2.6, 4.4, Cls.VEHICLE)  # parked car next lane
    box(22.0, 22.5, -6.5, -6.0, Cls.PEDESTRIAN)
    for y in (-3.0, -2.4):
        box(35.0, 35.4, y, y + 0.4, Cls.OBSTACLE)
    return BevGrid(c, resolution, 0.0, -10.0)


def bench_plan(frames: int) -> dict:
    emb = embodiment_from_dict(CAR)
    xs = np.arange(0.0, 400.0, 1.0)
    route = RouteMap(np.stack([xs, np.zeros_like(xs)], axis=1), 3.5, 11.0, (3.5,))
    planner = Planner(emb, route)
    grid = typical_grid()
    times = []
    x = 0.0
    for k in range(frames):
        stamp = (k + 1) * FRAME_NS
        perc = PerceptionOutput(stamp, grid, TrafficLightObservation(LightState.NONE, 0.0), 0.9)
        ego = EgoState(stamp, x, 0.0, 0.0, 8.0, 0.0)
        t0 = time.perf_counter()
        planner.plan(perc, ego)
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.array(times[5:])  # first frames warm caches
    return {
        "plan_ms_p50": float(np.percentile(arr, 50)),
        "plan_ms_p99": float(np.percentile(arr, 99)),
        "plan_ms_max": float(arr.max()),
        "frames": len(arr),
    }


def bench_tracking(frames: int) -> dict:
    """Closed loop on a curvy route, empty road; the model mirrors the car's drive-by-wire lag."""
    emb = embodiment_from_dict(CAR)
    s = np.arange(0.0, 400.0, 0.5)
    pts = np.stack([s, 8.0 * np.sin(2 * np.pi * s / 120.0)], axis=1)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    si = np.arange(0.0, arc[-1], 1.0)
    route_map = RouteMap(
        np.stack([np.interp(si, arc, pts[:, 0]), np.interp(si, arc, pts[:, 1])], axis=1), 3.5, 10.0
    )
    route = Route(route_map)
    planner, ctrl = Planner(emb, route_map), Controller(emb)
    x, y, yaw = (float(v) for v in route.pose_at(2.0))
    v = w = a = 0.0
    cols, rows = 160, 80
    road = BevGrid(np.full((rows, cols), int(Cls.ROAD), dtype=np.uint8), 0.25, 0.0, -10.0)
    errors, ctrl_ms = [], []
    dt = 0.004125
    for k in range(frames):
        stamp = (k + 1) * FRAME_NS
        ego = EgoState(stamp, x, y, yaw, v, w)
        traj = planner.plan(
            PerceptionOutput(stamp, road, TrafficLightObservation(LightState.NONE, 0.0), 0.9), ego
        )
        t0 = time.perf_counter()
        cmd = ctrl.command(traj, ego)
        ctrl_ms.append((time.perf_counter() - t0) * 1e3)
        for _ in range(12):
            a_req = float(np.clip((cmd.speed - v) / 0.5, -emb.max_decel, emb.max_accel))
            a += (a_req - a) * min(1.0, dt / 0.15)
            w_max = min(emb.max_yaw_rate, max(v, 0.5) * emb.max_curvature)
            w += (float(np.clip(cmd.yaw_rate, -w_max, w_max)) - w) * min(1.0, dt / 0.2)
            v = max(v + a * dt, 0.0)
            x += v * np.cos(yaw) * dt
            y += v * np.sin(yaw) * dt
            yaw += w * dt
        _, d = route.project(np.array([[x, y]]))
        errors.append(abs(float(d[0])))
    e = np.array(errors)
    return {
        "lateral_error_mean_m": float(e.mean()),
        "lateral_error_p95_m": float(np.percentile(e, 95)),
        "lateral_error_max_m": float(e.max()),
        "control_ms_p50": float(np.percentile(ctrl_ms, 50)),
        "sim_seconds": frames * FRAME_NS * 1e-9,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    out = {"plan": bench_plan(args.frames), "tracking": bench_tracking(max(args.frames, 400))}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

"""Request builders shared by the cloud tests."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np

from cloud_reasoner.config import load_config
from cloud_reasoner.convert import build_request
from cloud_reasoner.query import DetectedObject


def make_config(state_dir, **env):
    base = {
        "FLEETPILOT_CLOUD_SERVER_STATE_DIR": str(state_dir),
        "FLEETPILOT_CLOUD_SERVER_LISTEN": "127.0.0.1:0",
        "FLEETPILOT_CLOUD_SERVER_SHUTDOWN_GRACE_S": "0",
        "FLEETPILOT_CLOUD_SERVER_LOG_LEVEL": "warning",
    }
    base.update({f"FLEETPILOT_CLOUD_{k.upper()}": str(v) for k, v in env.items()})
    return load_config(env=base)


def straight_route(length: int = 100, lane_width: float = 3.5):
    return NS(
        centerline=np.stack([np.arange(0.0, float(length)), np.zeros(length)], axis=1),
        lane_width=lane_width,
        speed_limit=8.0,
        adjacent_lane_offsets=(),
        goal_s=None,
    )


CAR = NS(length=4.5, width=1.9, max_speed=10.0)
HUMANOID = NS(length=0.4, width=0.5, max_speed=1.5)


def bev_with_boxes(boxes, res: float = 0.25, origin=(0.0, -20.0), size=(160, 160), fill: int = 1):
    """A BEV grid (base_link) with class-valued rectangles: boxes = [(x0, x1, y0, y1, cls), ...]."""
    classes = np.full(size, fill, np.uint8)
    for x0, x1, y0, y1, cls in boxes:
        c0, c1 = int((x0 - origin[0]) / res), int(np.ceil((x1 - origin[0]) / res))
        r0, r1 = int((y0 - origin[1]) / res), int(np.ceil((y1 - origin[1]) / res))
        classes[max(r0, 0) : r1, max(c0, 0) : c1] = cls
    return NS(classes=classes, resolution=res, origin_x=origin[0], origin_y=origin[1])


def stalled_request(
    vehicle_id: str = "car1", objects=(), oncoming=(3.5,), frame_id: str = "f1", stamp_ns: int = 5
):
    """Ego at x=10 on a straight road, a stalled car 13-17.5 m ahead in the ego lane."""
    return build_request(
        vehicle_id=vehicle_id,
        embodiment="car",
        frame_id=frame_id,
        stamp_ns=stamp_ns,
        ego=NS(x=10.0, y=0.0, yaw=0.0, speed=0.0, yaw_rate=0.0),
        body=CAR,
        route=straight_route(),
        grid=bev_with_boxes([(13.0, 17.5, -0.9, 0.9, 4)]),
        objects=list(objects),
        oncoming_lane_offsets=list(oncoming),
    )


__all__ = [
    "CAR",
    "HUMANOID",
    "DetectedObject",
    "bev_with_boxes",
    "make_config",
    "stalled_request",
    "straight_route",
]

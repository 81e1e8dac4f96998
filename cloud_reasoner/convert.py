"""Wire messages <-> backend types, with the validation that guards the service.

Every field of a ReasonRequest is checked before any backend sees it: finite numbers, sizes that
match, enums in range, non-empty ids. Violations raise InvalidRequest (-> INVALID_ARGUMENT) or
RequestTooLarge (-> RESOURCE_EXHAUSTED) with a message naming the field.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cloud_reasoner.protos.v1 import common_pb2, reasoner_pb2
from cloud_reasoner.query import (
    Advice,
    DetectedObject,
    EmbodimentKind,
    Grid,
    MetaAction,
    QuestionKind,
    ReasonQuery,
)


class InvalidRequest(ValueError):
    """A field is malformed; the message names it."""


class RequestTooLarge(ValueError):
    """A field exceeds a size limit."""


@dataclass(frozen=True)
class Limits:
    max_grid_cells: int = 400 * 400
    max_route_points: int = 5000
    max_objects: int = 256
    max_text_chars: int = 2000
    max_jpeg_bytes: int = 512 * 1024
    max_id_chars: int = 128
    max_abs_coord: float = 1e6  # m; anything beyond is a unit or frame bug


def _finite(name: str, value: float, lo: float | None = None, hi: float | None = None) -> float:
    if not math.isfinite(value):
        raise InvalidRequest(f"{name} must be finite, got {value}")
    if lo is not None and value < lo:
        raise InvalidRequest(f"{name} must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise InvalidRequest(f"{name} must be <= {hi}, got {value}")
    return float(value)


def _text(name: str, value: str, max_chars: int, required: bool) -> str:
    if required and not value.strip():
        raise InvalidRequest(f"{name} must not be empty")
    if len(value) > max_chars:
        raise RequestTooLarge(f"{name} has {len(value)} characters, limit {max_chars}")
    return value


def _enum(name: str, value: int, enum_type, allow_unspecified: bool = False):
    try:
        member = enum_type(value)
    except ValueError:
        raise InvalidRequest(f"{name} = {value} is not a known {enum_type.__name__}") from None
    if member == 0 and not allow_unspecified:
        raise InvalidRequest(f"{name} must be set (is UNSPECIFIED)")
    return member


def _grid(msg: reasoner_pb2.OccupancyGrid, limits: Limits) -> Grid:
    rows, cols = int(msg.rows), int(msg.cols)
    if rows <= 0 or cols <= 0:
        raise InvalidRequest(f"bev rows and cols must be > 0, got {rows} x {cols}")
    if rows * cols > limits.max_grid_cells:
        raise RequestTooLarge(f"bev has {rows * cols} cells, limit {limits.max_grid_cells}")
    resolution = _finite("bev.resolution", msg.resolution, lo=1e-3, hi=10.0)
    origin_x = _finite("bev.origin_x", msg.origin_x, -1e4, 1e4)
    origin_y = _finite("bev.origin_y", msg.origin_y, -1e4, 1e4)
    expected = rows * cols
    if msg.encoding == reasoner_pb2.OccupancyGrid.ENCODING_RAW:
        raw = bytes(msg.data)
    elif msg.encoding == reasoner_pb2.OccupancyGrid.ENCODING_ZLIB:
        # Bounded inflate: a small zlib bomb must not allocate gigabytes.
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(bytes(msg.data), expected + 1)
        except zlib.error as exc:
            raise InvalidRequest(f"bev.data is not valid zlib: {exc}") from None
        if len(raw) > expected or inflater.unconsumed_tail:
            raise InvalidRequest(f"bev.data inflates to more than rows * cols = {expected} bytes")
        if not inflater.eof:
            raise InvalidRequest("bev.data is a truncated zlib stream")
    else:
        raise InvalidRequest(f"bev.encoding = {msg.encoding} is not RAW or ZLIB")
    if len(raw) != expected:
        raise InvalidRequest(f"bev.data holds {len(raw)} cells, rows * cols = {expected}")
    classes = np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols)
    return Grid(classes=classes, resolution=resolution, origin_x=origin_x, origin_y=origin_y)


def query_from_proto(req: reasoner_pb2.ReasonRequest, limits: Limits = Limits()) -> ReasonQuery:
    """Validated backend input from a wire request; raises InvalidRequest / RequestTooLarge."""
    c = limits.max_abs_coord
    vehicle_id = _text("vehicle_id", req.vehicle_id, limits.max_id_chars, required=True)
    embodiment = _enum("embodiment", req.embodiment, EmbodimentKind)
    if not req.HasField("frame"):
        raise InvalidRequest("frame is required (frame_id and stamp_ns)")
    frame_id = _text("frame.frame_id", req.frame.frame_id, limits.max_id_chars, required=True)
    if req.frame.stamp_ns < 0:
        raise InvalidRequest(f"frame.stamp_ns must be >= 0, got {req.frame.stamp_ns}")
    if not req.HasField("ego"):
        raise InvalidRequest("ego is required")
    ego = req.ego
    x = _finite("ego.pose.x", ego.pose.x, -c, c)
    y = _finite("ego.pose.y", ego.pose.y, -c, c)
    yaw = _finite("ego.pose.yaw", ego.pose.yaw, -4 * math.pi, 4 * math.pi)
    speed = _finite("ego.speed", ego.speed, -100.0, 100.0)
    yaw_rate = _finite("ego.yaw_rate", ego.yaw_rate, -20.0, 20.0)
    if not req.HasField("body"):
        raise InvalidRequest("body is required (length, width, max_speed)")
    length = _finite("body.length", req.body.length, 0.05, 50.0)
    width = _finite("body.width", req.body.width, 0.05, 10.0)
    max_speed = _finite("body.max_speed", req.body.max_speed, 0.01, 100.0)

    if not req.HasField("route"):
        raise InvalidRequest("route is required")
    route = req.route
    n = len(route.centerline)
    if n > limits.max_route_points:
        raise RequestTooLarge(f"route.centerline has {n} points, limit {limits.max_route_points}")
    if n < 2:
        raise InvalidRequest(f"route.centerline needs at least 2 points, got {n}")
    centerline = np.array([(p.x, p.y) for p in route.centerline], dtype=float)
    if not np.all(np.isfinite(centerline)) or np.any(np.abs(centerline) > c):
        raise InvalidRequest("route.centerline points must be finite and within 1e6 m")
    if np.any(np.hypot(*np.diff(centerline, axis=0).T) < 1e-6):
        raise InvalidRequest("route.centerline has repeated consecutive points")
    lane_width = _finite("route.lane_width", route.lane_width, 0.3, 20.0)
    speed_limit = _finite("route.speed_limit", route.speed_limit, 0.01, 100.0)
    adjacent = tuple(
        _finite("route.adjacent_lane_offsets[]", o, -50, 50) for o in route.adjacent_lane_offsets
    )
    oncoming = tuple(
        _finite("route.oncoming_lane_offsets[]", o, -50, 50) for o in route.oncoming_lane_offsets
    )
    if len(adjacent) > 16 or len(oncoming) > 16:
        raise RequestTooLarge("at most 16 lane offsets per list")
    goal_s = _finite("route.goal_s", route.goal_s, 0.0, 1e7) if route.HasField("goal_s") else None

    grid = _grid(req.bev, limits) if req.HasField("bev") else None

    if len(req.objects) > limits.max_objects:
        raise RequestTooLarge(f"{len(req.objects)} objects, limit {limits.max_objects}")
    objects, seen = [], set()
    for i, o in enumerate(req.objects):
        name = f"objects[{i}]"
        oid = _text(f"{name}.object_id", o.object_id, limits.max_id_chars, required=True)
        if oid in seen:
            raise InvalidRequest(f"{name}.object_id {oid!r} is not unique")
        seen.add(oid)
        objects.append(
            DetectedObject(
                object_id=oid,
                label=_text(f"{name}.label", o.label, 64, required=True).strip().lower(),
                color=_text(f"{name}.color", o.color, 64, required=False).strip().lower(),
                x=_finite(f"{name}.position.x", o.position.x, -c, c),
                y=_finite(f"{name}.position.y", o.position.y, -c, c),
                length=_finite(f"{name}.length", o.length, 0.0, 100.0),
                width=_finite(f"{name}.width", o.width, 0.0, 100.0),
                yaw=_finite(f"{name}.yaw", o.yaw, -4 * math.pi, 4 * math.pi),
                vx=_finite(f"{name}.velocity.x", o.velocity.x, -100, 100),
                vy=_finite(f"{name}.velocity.y", o.velocity.y, -100, 100),
                confidence=_finite(f"{name}.confidence", o.confidence, 0.0, 1.0),
            )
        )

    jpeg = None
    if req.HasField("image"):
        if len(req.image.data) > limits.max_jpeg_bytes:
            raise RequestTooLarge(f"image has {len(req.image.data)} bytes, limit {limits.max_jpeg_bytes}")
        if req.image.encoding.lower() not in ("jpeg", "jpg"):
            raise InvalidRequest(f"image.encoding must be 'jpeg', got {req.image.encoding!r}")
        if not bytes(req.image.data[:3]) == b"\xff\xd8\xff":
            raise InvalidRequest("image.data is not a JPEG (missing SOI marker)")
        jpeg = bytes(req.image.data)

    question = _enum("question", req.question, QuestionKind)
    text = _text("text", req.text, limits.max_text_chars, required=question in (4, 5))
    return ReasonQuery(
        vehicle_id=vehicle_id,
        embodiment=embodiment,
        frame_id=frame_id,
        stamp_ns=int(req.frame.stamp_ns),
        x=x,
        y=y,
        yaw=yaw,
        speed=speed,
        yaw_rate=yaw_rate,
        length=length,
        width=width,
        max_speed=max_speed,
        centerline=centerline,
        lane_width=lane_width,
        speed_limit=speed_limit,
        adjacent_lane_offsets=adjacent,
        oncoming_lane_offsets=oncoming,
        goal_s=goal_s,
        grid=grid,
        objects=tuple(objects),
        jpeg=jpeg,
        question=question,
        text=text,
    )


def advice_to_proto(advice: Advice, frame_id: str, stamp_ns: int) -> reasoner_pb2.ReasonResponse:
    return reasoner_pb2.ReasonResponse(
        frame=common_pb2.FrameRef(frame_id=frame_id, stamp_ns=stamp_ns),
        action=int(advice.action),
        waypoints=[common_pb2.Point2D(x=float(px), y=float(py)) for px, py in advice.waypoints],
        target_speed=advice.target_speed,
        valid_for_s=advice.valid_for_s,
        confidence=advice.confidence,
        rationale=advice.rationale,
        backend=advice.backend,
        target_object_id=advice.target_object_id,
    )


def advice_from_proto(resp: reasoner_pb2.ReasonResponse) -> Advice:
    """The client's view of an answer. Raises InvalidRequest if the server sent nonsense (the vehicle
    must not act on it)."""
    action = _enum("response.action", resp.action, MetaAction)
    waypoints = np.array([(p.x, p.y) for p in resp.waypoints], dtype=float).reshape(-1, 2)
    if not np.all(np.isfinite(waypoints)):
        raise InvalidRequest("response waypoints must be finite")
    return Advice(
        action=action,
        waypoints=waypoints,
        target_speed=_finite("response.target_speed", resp.target_speed, 0.0, 100.0),
        valid_for_s=_finite("response.valid_for_s", resp.valid_for_s, 0.0, 3600.0),
        confidence=_finite("response.confidence", resp.confidence, 0.0, 1.0),
        rationale=resp.rationale,
        backend=resp.backend,
        target_object_id=resp.target_object_id,
        frame_id=resp.frame.frame_id,
        stamp_ns=int(resp.frame.stamp_ns),
    )


# --- building requests from the stack's own types (for the vehicle bridge) ----------------------------


def grid_to_proto(classes: np.ndarray, resolution: float, origin_x: float, origin_y: float, level: int = 1):
    classes = np.ascontiguousarray(classes, dtype=np.uint8)
    if classes.ndim != 2:
        raise ValueError(f"grid classes must be 2-D, got shape {classes.shape}")
    return reasoner_pb2.OccupancyGrid(
        rows=classes.shape[0],
        cols=classes.shape[1],
        resolution=resolution,
        origin_x=origin_x,
        origin_y=origin_y,
        encoding=reasoner_pb2.OccupancyGrid.ENCODING_ZLIB,
        data=zlib.compress(classes.tobytes(), level),
    )


def build_request(
    *,
    vehicle_id: str,
    embodiment: str | int,
    frame_id: str,
    stamp_ns: int,
    ego,
    body,
    route,
    grid=None,
    objects: Sequence[DetectedObject] = (),
    question: QuestionKind | int = QuestionKind.STUCK_BEHIND_OBSTACLE,
    text: str = "",
    jpeg: bytes | None = None,
    oncoming_lane_offsets: Sequence[float] = (),
) -> reasoner_pb2.ReasonRequest:
    """A ReasonRequest from planning.types.EgoState / Embodiment / RouteMap and perception.types.BevGrid
    (duck-typed: anything with the same attributes). `embodiment` is "car", "humanoid" or the enum number."""
    if isinstance(embodiment, str):
        try:
            embodiment = EmbodimentKind[embodiment.upper()]
        except KeyError:
            raise ValueError(f"embodiment must be 'car' or 'humanoid', got {embodiment!r}") from None
    req = reasoner_pb2.ReasonRequest(
        vehicle_id=vehicle_id,
        embodiment=int(embodiment),
        frame=common_pb2.FrameRef(frame_id=frame_id, stamp_ns=int(stamp_ns)),
        ego=reasoner_pb2.EgoState(
            pose=common_pb2.Pose2D(x=ego.x, y=ego.y, yaw=ego.yaw), speed=ego.speed, yaw_rate=ego.yaw_rate
        ),
        body=reasoner_pb2.BodyLimits(length=body.length, width=body.width, max_speed=body.max_speed),
        route=reasoner_pb2.Route(
            centerline=[
                common_pb2.Point2D(x=float(px), y=float(py)) for px, py in np.asarray(route.centerline)
            ],
            lane_width=route.lane_width,
            speed_limit=route.speed_limit,
            adjacent_lane_offsets=list(route.adjacent_lane_offsets),
            oncoming_lane_offsets=list(oncoming_lane_offsets),
        ),
        objects=[
            reasoner_pb2.DetectedObject(
                object_id=o.object_id,
                label=o.label,
                color=o.color,
                position=common_pb2.Point2D(x=o.x, y=o.y),
                length=o.length,
                width=o.width,
                yaw=o.yaw,
                velocity=common_pb2.Point2D(x=o.vx, y=o.vy),
                confidence=o.confidence,
            )
            for o in objects
        ],
        question=int(question),
        text=text,
    )
    if getattr(route, "goal_s", None) is not None:
        req.route.goal_s = route.goal_s
    if grid is not None:
        req.bev.CopyFrom(grid_to_proto(grid.classes, grid.resolution, grid.origin_x, grid.origin_y))
    if jpeg is not None:
        req.image.CopyFrom(reasoner_pb2.Image(encoding="jpeg", data=jpeg))
    return req

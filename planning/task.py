"""A task in words, on the planner's side: "walk to the red box" (scenario humanoid_task).

System 1 cannot read language. Given a sentence (`Planner.set_task`), the planner asks System 2
(question "text_task": the sentence plus the objects perception sees, in odom) and keeps its place
meanwhile. What comes back is judged here before anything changes (DriveVLM-Dual: the slow model only
advises):

- WALK_TO, waypoints to the object meant: followed only if System 1's own check passes (`walk_to_check`):
  every waypoint finite and within `task_max_reach_m` of the body, and the straight legs through them
  clear of obstacle cells (remembered by the planner) by half the body width plus its safety margin,
  except within `task_target_clearance_m` of the last waypoint: that is the object walked to, and except
  cells nearer the body than `task_min_object_range_m`: the swinging arms of the robot itself are placed
  there (its head camera sees no ground that close), and that zone is the safety checker's. The route
  is then replaced by body -> waypoints with its goal at the end (`route_through`), and the planner's own
  search and safety checker walk it: an obstacle that turns up is still avoided or stopped for.
- STOP ("already at the red box"): done. WAIT (nothing matching seen, or not understood): hold, ask
  again later; while walking, a WAIT brings nothing new and the last valid advice is kept.
- While walking the planner asks again every `task_requery_s`: one camera places a far object only
  roughly (a box the model reads as a vehicle is placed by a vehicle's sill height, about a quarter
  short), so the answer is refined as the body comes closer.
- The objects a query lists are those of `ObjectMemory`: tracked in odom over frames, not one frame's
  blobs, so a box seen while turning is still known when the question goes out.
- Anything else (pass advice, reroute, ...) is rejected and counted by the planner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perception.classes import OBSTACLE_CLASSES, Cls
from planning.occupancy import lookup_cells
from planning.types import EgoState, RouteMap

TASK_ACTIONS = ("walk_to", "stop", "wait")
# Solid things a walk may not pass through (pedestrians move: the planner's own yielding handles them).
_SOLID = (int(Cls.VEHICLE), int(Cls.OBSTACLE))


@dataclass
class TextTask:
    text: str
    state: str = "asking"  # "asking" (no answer followed yet), "walking" (on a WALK_TO route), "done"
    next_query_ns: int = 0

    def due(self, stamp_ns: int) -> bool:
        return self.state != "done" and stamp_ns >= self.next_query_ns


@dataclass
class _Track:
    label: str
    colour: str
    x: float  # odom, m: mean of the observations weighted by 1 / range (a nearer view places better)
    y: float
    width: float
    weight: float
    hits: int
    last_ns: int
    misses: int = 0  # frames in a row its place was seen free of objects


class ObjectMemory:
    """The objects seen over the last seconds, in odom, as what a query about a task lists.

    One frame of a swaying head camera is a poor witness: blobs flicker, jump by a metre between frames,
    and the robot's own limbs in its hi-vis livery show up as blobs near the bottom of the picture. So an
    observation joins the track of the same colour and label within `join_m` (grown with range), a track
    is reported once seen in `min_hits` frames, and one unseen for `memory_s` is forgotten, as is one
    whose place the BEV shows seen and free of objects in `max_misses` frames in a row (a misplaced
    blob must not stay a destination after the camera has looked there). Observations nearer than
    `min_range_m` are not taken: the camera sees no ground that close (what is placed there is the
    robot's own arm), and an object that near is where the walk ends anyway.
    """

    def __init__(
        self,
        *,
        min_range_m: float,
        join_m: float = 1.0,
        min_hits: int = 3,
        memory_s: float = 10.0,
        max_misses: int = 3,
    ) -> None:
        self.min_range_m, self.join_m, self.min_hits = min_range_m, join_m, min_hits
        self.memory_ns = round(memory_s * 1e9)
        self.max_misses = max_misses
        self.tracks: list[_Track] = []

    def update(self, objects, ego: EgoState, stamp_ns: int, seen_free=None) -> None:
        """seen_free(x, y) -> bool array: odom points the current BEV shows seen and free of objects
        (None: no negative evidence)."""
        c, s = math.cos(ego.yaw), math.sin(ego.yaw)
        matched: set[int] = set()
        for o in objects:
            rng = math.hypot(o.x, o.y)
            if rng < self.min_range_m:
                continue
            x, y = ego.x + c * o.x - s * o.y, ego.y + s * o.x + c * o.y
            join = max(self.join_m, 0.15 * rng)
            near = [
                t
                for t in self.tracks
                if t.label == o.label and t.colour == o.colour and math.hypot(t.x - x, t.y - y) <= join
            ]
            w = 1.0 / rng
            if near:
                t = min(near, key=lambda t: math.hypot(t.x - x, t.y - y))
                total = t.weight + w
                t.x, t.y = (t.x * t.weight + x * w) / total, (t.y * t.weight + y * w) / total
                t.width = (t.width * t.weight + o.width * w) / total
                t.weight, t.hits, t.last_ns, t.misses = total, t.hits + 1, stamp_ns, 0
                matched.add(id(t))
            else:
                self.tracks.append(_Track(o.label, o.colour, x, y, float(o.width), w, 1, stamp_ns))
                matched.add(id(self.tracks[-1]))
        unmatched = [t for t in self.tracks if id(t) not in matched]
        if seen_free is not None and unmatched:
            # the place and a ring of 0.4 m around it (the blob's cells lie at and behind its contact point)
            ring = np.array([[0.0, 0.0], [0.4, 0.0], [-0.4, 0.0], [0.0, 0.4], [0.0, -0.4]])
            for t in unmatched:
                pts = np.array([t.x, t.y]) + ring
                t.misses = t.misses + 1 if bool(np.all(seen_free(pts[:, 0], pts[:, 1]))) else 0
        self.tracks = [
            t for t in self.tracks if stamp_ns - t.last_ns <= self.memory_ns and t.misses < self.max_misses
        ]

    def confirmed(self) -> list[dict]:
        """The query's object list (odom): tracks seen in at least min_hits frames."""
        return [
            {
                "object_id": f"obj{i}",
                "label": t.label,
                "color": t.colour,
                "x": round(t.x, 3),
                "y": round(t.y, 3),
                "width": round(t.width, 3),
                "confidence": round(min(1.0, t.hits / 10.0), 3),  # seen in ten frames: seen plainly
            }
            for i, t in enumerate(self.tracks)
            if t.hits >= self.min_hits
        ]


def seen_free(grid, ego: EgoState, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Odom points the BEV grid shows seen (not UNKNOWN) and free of object classes."""
    cells = lookup_cells(grid, ego, np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    objects = np.isin(cells, [int(c) for c in OBSTACLE_CLASSES])
    return (cells != grid.UNKNOWN) & ~objects


def walk_to_check(
    waypoints: np.ndarray,
    ego: EgoState,
    obstacle_xy: np.ndarray,
    obstacle_cls: np.ndarray,
    *,
    max_reach_m: float,
    target_clearance_m: float,
    half_width: float,
    near_body_m: float,
) -> str:
    """'' if System 1 may walk the advised waypoints, else why not."""
    wp = np.asarray(waypoints, dtype=float).reshape(-1, 2)
    if len(wp) == 0:
        return "walk_to without waypoints"
    if not np.all(np.isfinite(wp)):
        return "walk_to waypoints are not finite"
    reach = float(np.max(np.hypot(wp[:, 0] - ego.x, wp[:, 1] - ego.y)))
    if reach > max_reach_m:
        return f"walk_to waypoint {reach:.0f} m away (at most {max_reach_m:.0f} m)"
    line = _densify(np.vstack([[ego.x, ego.y], wp]), 0.25)
    to_end = np.hypot(line[:, 0] - wp[-1, 0], line[:, 1] - wp[-1, 1])
    checked = line[to_end > target_clearance_m]
    solid = np.asarray(obstacle_xy, dtype=float).reshape(-1, 2)[np.isin(obstacle_cls, _SOLID)]
    solid = solid[np.hypot(solid[:, 0] - ego.x, solid[:, 1] - ego.y) > near_body_m]
    if len(checked) and len(solid):
        gap = np.hypot(checked[:, None, 0] - solid[None, :, 0], checked[:, None, 1] - solid[None, :, 1])
        hit = np.nonzero(gap.min(axis=1) < half_width)[0]
        if len(hit):
            k = int(hit[0])
            where = math.hypot(checked[k, 0] - ego.x, checked[k, 1] - ego.y)
            return f"walk_to path runs through an obstacle {where:.1f} m ahead"
    return ""


def route_through(ego: EgoState, waypoints: np.ndarray, like: RouteMap) -> RouteMap:
    """The route body -> waypoints (0.5 m apart, goal at the end), lane width and speed limit of `like`."""
    pts = _densify(np.vstack([[ego.x, ego.y], np.asarray(waypoints, dtype=float).reshape(-1, 2)]), 0.5)
    if len(pts) < 2 or math.hypot(*(pts[-1] - pts[0])) < 0.5:
        # already there: a short stub along the heading keeps the route well defined, goal at the body
        pts = np.array([[ego.x, ego.y], [ego.x + math.cos(ego.yaw), ego.y + math.sin(ego.yaw)]])
        return RouteMap(centerline=pts, lane_width=like.lane_width, speed_limit=like.speed_limit, goal_s=0.0)
    return RouteMap(centerline=pts, lane_width=like.lane_width, speed_limit=like.speed_limit)


def _densify(pts: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` metres along the polyline (its ends included; repeated points dropped)."""
    seg = np.hypot(*np.diff(pts, axis=0).T)
    keep = np.concatenate([[True], seg > 1e-6])
    pts, seg = pts[keep], seg[seg > 1e-6]
    if len(pts) < 2:
        return pts
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.append(np.arange(0.0, arc[-1], step), arc[-1])
    return np.stack([np.interp(s, arc, pts[:, 0]), np.interp(s, arc, pts[:, 1])], axis=1)

"""The built-in deliberative backend: deterministic, pure Python + numpy, uses only the request.

It is "System 2" in that it searches wider than the on-board planner may: a longer horizon, lateral
offsets across every lane it is told about, and options the vehicle may not take alone (using the
oncoming lane to pass a stalled vehicle when oncoming traffic leaves a long enough gap). Steps:

1. Text tasks ("walk to the red box") are parsed against the detected objects -> WALK_TO.
2. Obstacles (BEV obstacle cells and detected objects) go to route coordinates (s along, d left).
3. A dynamic-programming corridor search over stations s (1 m apart) x lateral offsets d finds the
   cheapest collision-free path that stays near the lane centre and changes offset smoothly, first
   within the lanes of our own direction, then (if that fails) also over the oncoming lane.
4. The answer: CONTINUE (nothing in the way), FOLLOW_CONES (a cone-shifted corridor), GO_SLOWLY (a
   nudge within our lanes), PASS_LEFT_ONCOMING (only with a long enough gap in oncoming traffic),
   WAIT (gap too short, ask again), REROUTE (every known lane blocked) or STOP.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np

from cloud_reasoner.backends.base import Backend
from cloud_reasoner.backends.route_frame import RouteFrame
from cloud_reasoner.query import Advice, EmbodimentKind, MetaAction, QuestionKind, ReasonQuery
from contracts.messages import points_in_footprints

# perception.classes.Cls values that block motion (VEHICLE, PEDESTRIAN, OBSTACLE), and OBSTACLE alone
_BLOCKING_CLASSES = (4, 5, 6)
_OBSTACLE_CLASS = 6
_BLOCKING_LUT = np.zeros(256, dtype=bool)
_BLOCKING_LUT[list(_BLOCKING_CLASSES)] = True
_CONE_LABELS = ("cone", "barrier", "barrel", "construction")
_MOVING_SPEED = 0.5  # m/s: slower objects count as static

_COLORS = (
    "red",
    "green",
    "blue",
    "yellow",
    "orange",
    "white",
    "black",
    "purple",
    "pink",
    "grey",
    "gray",
    "brown",
)
_SYNONYMS = {
    "cube": "box",
    "crate": "box",
    "boxes": "box",
    "cones": "cone",
    "car": "vehicle",
    "person": "pedestrian",
}
_TASK_RE = re.compile(
    r"\b(?:walk|go|move|head|navigate|come|get)\b(?:\s+(?:over|back))?\s+(?:to|towards?)\b(.*)"
)


# The on-board segmentation knows no "box" (perception/classes.py): a box is an object of the obstacle
# class, or of the vehicle class when it is too narrow to be a vehicle (the model reads a saturated box
# as a car's paint).
_BOX_LABELS = ("obstacle", "vehicle")
_BOX_MAX_WIDTH_M = 1.5


def _names(o, noun: str) -> bool:
    """Does the noun of a task ("box", "cone", "vehicle", ...) name this detected object?"""
    label = _SYNONYMS.get(o.label, o.label)
    if label == noun:
        return True
    return noun == "box" and label in _BOX_LABELS and o.width <= _BOX_MAX_WIDTH_M


class _Obstacles(NamedTuple):
    pts: np.ndarray  # (M, 2) odom
    half: np.ndarray  # (M,) half extent of each sample, m
    moving: np.ndarray  # (M,) bool
    cone: np.ndarray  # (M,) bool: a cone-like obstacle (OBSTACLE class cell or a cone object)
    speed: np.ndarray  # (M,) m/s
    unknown_speed_user: np.ndarray  # (M,) bool: a vehicle/pedestrian seen only in the BEV (speed unknown)


class DeliberativeBackend(Backend):
    name = "deliberative"
    blocking = False

    def __init__(
        self,
        horizon_m: float = 50.0,
        station_step_m: float = 2.0,
        lateral_step_m: float = 0.25,
        max_lateral_rate: float = 0.35,  # |dd/ds|: lateral metres per metre travelled
        pass_speed_fraction: float = 0.6,
        gap_margin_s: float = 3.0,
        pool_to_m: float = 0.5,
        min_seen_fraction: float = 0.5,
    ):
        self.horizon_m = horizon_m
        self.ds = station_step_m
        self.dd = lateral_step_m
        self.max_lateral_rate = max_lateral_rate
        self.pass_speed_fraction = pass_speed_fraction
        self.gap_margin_s = gap_margin_s
        self.pool_to_m = pool_to_m
        self.min_seen_fraction = min_seen_fraction

    # --- entry point ------------------------------------------------------------------------------

    def reason(self, query: ReasonQuery, timeout_s: float) -> Advice:
        if query.question in (QuestionKind.TEXT_TASK, QuestionKind.FREE_TEXT) or (
            query.embodiment == EmbodimentKind.HUMANOID and query.text.strip()
        ):
            return self._text_task(query)
        return self._drive(query)

    # --- humanoid text tasks ----------------------------------------------------------------------

    def _text_task(self, q: ReasonQuery) -> Advice:
        text = q.text.strip().lower()
        words = re.findall(r"[a-z]+", text)
        if words and words[0] in ("stop", "halt", "freeze"):
            return self._advice(MetaAction.STOP, 0.9, "told to stop")
        if words and words[0] in ("wait", "stay", "hold"):
            return self._advice(MetaAction.WAIT, 0.9, "told to wait", valid_for_s=5.0)
        match = _TASK_RE.search(text)
        if match is None:
            return self._advice(MetaAction.WAIT, 0.2, f"could not parse the task {q.text!r}", valid_for_s=1.0)
        target_words = [_SYNONYMS.get(w, w) for w in re.findall(r"[a-z]+", match.group(1))]
        target_words = [w for w in target_words if w not in ("the", "a", "an", "that", "this", "please")]
        color = next((w for w in target_words if w in _COLORS), "")
        color = "grey" if color == "gray" else color
        nouns = [w for w in target_words if w not in _COLORS]
        if not nouns:
            return self._advice(MetaAction.WAIT, 0.2, f"no object named in {q.text!r}", valid_for_s=1.0)
        label = nouns[0]
        candidates = [
            o
            for o in q.objects
            if _names(o, label) and (not color or o.color.replace("gray", "grey") == color)
        ]
        wanted = f"{color} {label}".strip()
        if not candidates:
            # short-lived: a robot that turns sees other things half a second later
            return self._advice(MetaAction.WAIT, 0.3, f"no {wanted} detected; look around", valid_for_s=0.5)
        # The nearest match: the one the speaker most likely means, and deterministic on ties (then by id).
        target = min(candidates, key=lambda o: (math.hypot(o.x - q.x, o.y - q.y), o.object_id))
        dx, dy = target.x - q.x, target.y - q.y
        dist = math.hypot(dx, dy)
        standoff = 0.5 * q.length + 0.5 * max(target.length, target.width) + 0.3
        if dist <= standoff:
            return self._advice(
                MetaAction.STOP, 0.9, f"already at the {wanted}", target_object_id=target.object_id
            )
        reach = dist - standoff
        ux, uy = dx / dist, dy / dist
        # Waypoints every ~1 m along the straight line: the on-board planner checks each for obstacles.
        n = max(1, math.ceil(reach / 1.0))
        t = np.linspace(reach / n, reach, n)
        waypoints = np.stack([q.x + ux * t, q.y + uy * t], axis=1)
        speed = min(q.max_speed, q.speed_limit) * 0.8
        return self._advice(
            MetaAction.WALK_TO,
            min(0.95, 0.5 + 0.5 * target.confidence) if len(candidates) == 1 else 0.6,
            f"walk to the {wanted} {target.object_id} {dist:.1f} m away",
            waypoints=waypoints,
            target_speed=speed,
            valid_for_s=max(5.0, 2.0 * reach / max(speed, 0.1)),
            target_object_id=target.object_id,
        )

    # --- driving ----------------------------------------------------------------------------------

    def _obstacles(self, q: ReasonQuery) -> _Obstacles:
        """Obstacle samples in odom: BEV obstacle cells (pooled to ~0.5 m) and detected objects'
        footprints sampled every 0.5 m, each with a half extent, a moving flag and its speed."""
        pts, half, moving, cone, speed, user = [], [], [], [], [], []
        if q.grid is not None:
            g = q.grid
            # Pool fine cells to ~0.5 m (a coarse cell is blocked if any of its cells is): 4-16x fewer samples
            # for the search, still finer than the 0.3 m margin around the footprint. Working on the few
            # blocked cells (nonzero) instead of pooling the whole grid keeps this cheap.
            f = max(1, int(self.pool_to_m / g.resolution))
            rows, cols = np.nonzero(_BLOCKING_LUT[g.classes])
            cols_c = g.classes.shape[1] // f + 1
            coarse, which = np.unique((rows // f) * cols_c + cols // f, return_inverse=True)
            is_obstacle = np.zeros(len(coarse), dtype=bool)
            is_obstacle[which[g.classes[rows, cols] == _OBSTACLE_CLASS]] = True
            is_user = np.zeros(len(coarse), dtype=bool)
            is_user[which[g.classes[rows, cols] != _OBSTACLE_CLASS]] = True  # VEHICLE or PEDESTRIAN
            cell = g.resolution * f
            bx = g.origin_x + (coarse % cols_c + 0.5) * cell
            by = g.origin_y + (coarse // cols_c + 0.5) * cell
            c, s = math.cos(q.yaw), math.sin(q.yaw)
            pts.append(np.stack([q.x + c * bx - s * by, q.y + s * bx + c * by], axis=1))
            half.append(np.full(len(bx), 0.5 * cell))
            moving.append(np.zeros(len(bx), dtype=bool))
            cone.append(is_obstacle)
            speed.append(np.zeros(len(bx)))
            # A road user's cells inside the footprint of an object the vehicle lists (its tracker knows
            # that object's velocity) are of known speed: that object's samples below carry it.
            if q.objects:
                odom = pts[-1]
                is_user &= ~points_in_footprints(q.objects, odom[:, 0], odom[:, 1])
            user.append(is_user)
        for o in q.objects:
            if o.label in ("road", "lane", "sidewalk"):
                continue
            # the footprint rectangle, sampled on a 0.5 m lattice (a circle around it would close lanes)
            n_l, n_w = max(1, math.ceil(o.length / 0.5)), max(1, math.ceil(o.width / 0.5))
            u = (np.arange(n_l) + 0.5) / n_l * o.length - 0.5 * o.length
            v = (np.arange(n_w) + 0.5) / n_w * o.width - 0.5 * o.width
            uu, vv = np.repeat(u, n_w), np.tile(v, n_l)
            c, s = math.cos(o.yaw), math.sin(o.yaw)
            pts.append(np.stack([o.x + c * uu - s * vv, o.y + s * uu + c * vv], axis=1))
            half.append(np.full(len(uu), 0.5 * max(o.length / n_l, o.width / n_w, 0.3)))
            v_abs = math.hypot(o.vx, o.vy)
            moving.append(np.full(len(uu), v_abs > _MOVING_SPEED))
            cone.append(np.full(len(uu), o.label in _CONE_LABELS))
            speed.append(np.full(len(uu), v_abs))
            user.append(np.zeros(len(uu), dtype=bool))
        if not pts:
            none = np.zeros(0, bool)
            return _Obstacles(np.zeros((0, 2)), np.zeros(0), none, none, np.zeros(0), none)
        return _Obstacles(*(np.concatenate(a) for a in (pts, half, moving, cone, speed, user)))

    def _max_lattice_step(self) -> float:
        """The largest lateral change per station the corridor search allows, in lattice steps.

        The offsets are a lattice `dd` apart, so a path can only change offset in multiples of `dd`.
        Rounding `max_lateral_rate * ds` *down* to the lattice (0.7 m -> 0.5 m with the defaults) would
        cap the rate at 0.25 m/m instead of the configured 0.35: a stalled car whose rear corner reaches
        ~1.1 m left of the lane centre, seen from the planner's standoff (~12.6 m), then left "no free
        corridor even over the oncoming lane" although a 0.35 m/m path clears it by metres. The nearest
        lattice step keeps the search's long-run rate within dd / (2 ds) of the configured one (the
        lattice itself places each offset only to +-dd/2). The path is only a guide: the planner builds
        its own within the vehicle's curvature limit and checks it with its own safety checker."""
        return max(self.dd, round(self.max_lateral_rate * self.ds / self.dd) * self.dd)

    def _corridor(
        self,
        s0: float,
        d0: float,
        s_obs: np.ndarray,
        d_obs: np.ndarray,
        r_obs: np.ndarray,
        q: ReasonQuery,
        d_lo: float,
        d_hi: float,
        penalised_above: float = math.inf,
    ) -> np.ndarray | None:
        """Cheapest smooth collision-free lateral offset per station (K,) from s0, or None.

        DP over stations x offsets: cost = offset from the lane centre + lateral change^2; a cell is
        blocked when an obstacle sample lies within the footprint (+ margin) around it. Offsets above
        `penalised_above` (the oncoming lane) cost so much that any path avoiding them wins: one search
        answers both "is there a way within our lanes?" and "is there one over the oncoming lane?"."""
        stations = s0 + np.arange(0.0, self.horizon_m + 1e-9, self.ds)
        # multiples of the step, so the lane centre (0) is always a candidate
        offsets = np.arange(math.ceil(d_lo / self.dd - 1e-9), math.floor(d_hi / self.dd + 1e-9) + 1) * self.dd
        if len(offsets) == 0:
            return None
        half_w = 0.5 * q.width + 0.3
        half_l = 0.5 * q.length + 0.5
        near = (s_obs > s0 - half_l - 2.0) & (s_obs < stations[-1] + half_l + 2.0)
        s_n, d_n, r_n = s_obs[near], d_obs[near], r_obs[near]
        # blocked[k, j]: some obstacle sample overlaps the footprint at station k and offset j. Separable:
        # (samples near station k) and (samples near offset j), joined by one matrix product.
        # Boolean matmul (an OR of ANDs) stays in numpy's own loops: no BLAS threads spinning in the server.
        by_station = np.abs(stations[None, :] - s_n[:, None]) <= (half_l + r_n)[:, None]
        by_offset = np.abs(offsets[None, :] - d_n[:, None]) <= (half_w + r_n)[:, None]
        free = ~(by_station.T @ by_offset)
        max_step = self._max_lattice_step()
        step = np.abs(offsets[:, None] - offsets[None, :])  # (to, from)
        reachable = step <= max_step + 1e-9
        cost = np.where(free[0] & (np.abs(offsets - d0) <= 0.5 * self.dd + 1e-9), 0.0, np.inf)
        if not np.isfinite(
            cost
        ).any():  # start cell blocked (already overlapping): nearest free within a step
            cost = np.where(free[0] & (np.abs(offsets - d0) <= max_step), 0.0, np.inf)
        # transition cost (to, from): squared lateral change, infinite beyond the lateral rate limit;
        # cell cost: distance from the lane centre, infinite where blocked.
        move_cost = np.where(reachable, 4.0 * step**2, np.inf)
        lateral = np.abs(offsets) * self.ds * 0.5 + np.where(offsets > penalised_above + 1e-9, 1e6, 0.0)
        cell_cost = np.where(free, lateral[None, :], np.inf)
        back = np.zeros((len(stations), len(offsets)), dtype=int)
        for k in range(1, len(stations)):
            trans = cost[None, :] + move_cost
            back[k] = trans.argmin(axis=1)
            cost = trans.min(axis=1) + cell_cost[k]
        if not np.isfinite(cost).any():
            return None
        j = int(np.argmin(cost + np.abs(offsets) * 2.0))  # end near the centre
        path = np.empty(len(stations))
        for k in range(len(stations) - 1, -1, -1):
            path[k] = offsets[j]
            j = back[k][j]
        return path

    def _drive(self, q: ReasonQuery) -> Advice:
        route = self._route_window(q)
        s_ego_arr, d_ego_arr = route.to_sd(np.array([[q.x, q.y]]))
        s_ego, d_ego = float(s_ego_arr[0]), float(d_ego_arr[0])
        full_length = float(np.hypot(*np.diff(q.centerline, axis=0).T).sum())
        goal_s = full_length if q.goal_s is None else min(q.goal_s, full_length)
        obs = self._obstacles(q)
        pts, half, moving, cone = obs.pts, obs.half, obs.moving, obs.cone
        s_obs, d_obs = route.to_sd(pts)
        w = q.lane_width
        cruise = min(q.speed_limit, q.max_speed)

        static = ~moving
        own_lo = -0.5 * w + 0.5 * q.width + 0.1
        own_hi = max([0.0, *q.adjacent_lane_offsets]) + 0.5 * w - 0.5 * q.width - 0.1
        ahead = (s_obs > s_ego) & (s_obs < min(goal_s, s_ego + self.horizon_m))
        in_lane = ahead & (np.abs(d_obs) < 0.5 * w + 0.5 * q.width)

        if q.question == QuestionKind.LOW_CONFIDENCE and not in_lane.any():
            return self._advice(
                MetaAction.GO_SLOWLY,
                0.6,
                "perception unsure but the lane ahead looks clear; go slowly",
                target_speed=0.4 * cruise,
                valid_for_s=3.0,
            )
        if not in_lane.any():
            return self._advice(
                MetaAction.CONTINUE,
                0.8,
                "nothing blocks the lane ahead",
                target_speed=cruise,
                valid_for_s=3.0,
            )
        if (in_lane & moving).any() and not (in_lane & static).any():
            return self._advice(
                MetaAction.WAIT, 0.7, "a moving road user is ahead in the lane; follow it", valid_for_s=2.0
            )
        blocker_s = float(s_obs[in_lane & static].min())
        n_cones = int((ahead & cone & static & (np.abs(d_obs) < 1.5 * w)).sum())
        cone_objects = sum(1 for o in q.objects if o.label in _CONE_LABELS)
        cones = cone_objects >= 2 or (
            cone_objects == 0 and n_cones >= 3 and q.grid is not None and self._count_blobs(q) >= 3
        )

        # One corridor search over our lanes and, when known, the oncoming lane (penalised: used only
        # if there is no way within our own lanes).
        onc = max(q.oncoming_lane_offsets) if q.oncoming_lane_offsets else None
        d_hi = own_hi if onc is None else onc + 0.5 * w - 0.5 * q.width - 0.1
        path = self._corridor(
            s_ego, d_ego, s_obs[static], d_obs[static], half[static], q, own_lo, d_hi, penalised_above=own_hi
        )
        if path is None:
            why = "no oncoming lane known" if onc is None else "no free corridor even over the oncoming lane"
            return self._blocked(q, route, s_ego, s_obs, d_obs, static, half, why)
        if path.max() <= own_hi + 1e-9:
            action = MetaAction.FOLLOW_CONES if cones else MetaAction.GO_SLOWLY
            why = (
                "cones shift the free corridor"
                if cones
                else "a static obstacle can be passed within our lanes"
            )
            return self._path_advice(route, s_ego, path, action, 0.75, why, 0.5 * cruise)

        # Over the oncoming lane: only with a long enough gap in oncoming traffic.
        out = np.abs(path) > 0.5 * w - 0.5 * q.width
        if not out.any():  # pragma: no cover  (the own-lane search would have found it)
            return self._path_advice(
                route, s_ego, path, MetaAction.GO_SLOWLY, 0.7, "passable in lane", 0.5 * cruise
            )
        k_last = int(np.nonzero(out)[0].max())
        occupied_len = (k_last + 1) * self.ds + q.length
        pass_speed = self.pass_speed_fraction * cruise
        t_needed = occupied_len / max(pass_speed, 0.1) + self.gap_margin_s
        # Oncoming road users: in the oncoming lane, ahead of us. Static ones were in the corridor search;
        # moving ones must not reach the end of our manoeuvre before we are back in lane.
        in_onc = np.abs(d_obs - onc) < 0.5 * w + 0.5
        end_s = s_ego + occupied_len
        speeds = obs.speed
        threats = in_onc & moving & (s_obs > s_ego - q.length)
        for so, vo in zip(s_obs[threats], speeds[threats], strict=True):
            time_to_end = (so - end_s) / max(vo, 0.1)
            if time_to_end < t_needed:
                return self._advice(
                    MetaAction.WAIT,
                    0.7,
                    f"stalled vehicle ahead; oncoming vehicle reaches the passing zone in "
                    f"{max(time_to_end, 0):.1f} s,"
                    f" passing needs {t_needed:.1f} s: wait for a gap",
                    valid_for_s=1.0,
                )
        # What we cannot judge, we do not pass: a road user seen only in the BEV (no speed) in the oncoming
        # lane ahead, or an oncoming lane mostly unseen over the manoeuvre itself.
        strictly_onc = np.abs(d_obs - onc) < 0.5 * w
        if (strictly_onc & obs.unknown_speed_user & (s_obs > s_ego)).any():
            return self._advice(
                MetaAction.WAIT,
                0.6,
                "a road user of unknown speed is in the oncoming lane: wait",
                valid_for_s=1.0,
            )
        seen_zone, seen = self._seen_fractions(q, route, s_ego, end_s, end_s + cruise * t_needed, onc)
        if seen_zone < self.min_seen_fraction:
            return self._advice(
                MetaAction.WAIT,
                0.5,
                f"only {seen_zone:.0%} of the oncoming lane over the pass is visible: wait",
                valid_for_s=1.0,
            )
        # (seen: over the manoeuvre and the distance oncoming traffic covers meanwhile; unseen cells there
        # lower the confidence: an oncoming car could be hidden)
        action = MetaAction.FOLLOW_CONES if cones else MetaAction.PASS_LEFT_ONCOMING
        why = (
            f"static blocker {blocker_s - s_ego:.1f} m ahead; oncoming lane free for the {t_needed:.1f} s "
            f"pass ({seen:.0%} of it seen)"
        )
        return self._path_advice(
            route, s_ego, path, action, 0.5 + 0.4 * seen, why, pass_speed, valid_for_s=2.0
        )

    def _route_window(self, q: ReasonQuery) -> RouteFrame:
        """The route from a little behind the ego to past the horizon: projections cost points x segments."""
        pts = q.centerline
        if len(pts) <= 64:
            return RouteFrame(pts)
        seg_len = np.hypot(*np.diff(pts, axis=0).T)
        s_at = np.concatenate([[0.0], np.cumsum(seg_len)])
        nearest = int(np.argmin(np.hypot(pts[:, 0] - q.x, pts[:, 1] - q.y)))
        lo = max(0, int(np.searchsorted(s_at, s_at[nearest] - 20.0)) - 1)
        hi = min(len(pts), int(np.searchsorted(s_at, s_at[nearest] + self.horizon_m + 30.0)) + 1)
        return RouteFrame(pts[lo:hi], s_offset=float(s_at[lo]))

    def _blocked(self, q, route, s_ego, s_obs, d_obs, static, half, why: str) -> Advice:
        """No corridor: a road blocked across all known lanes asks for a re-route, otherwise stop."""
        w = q.lane_width
        lanes = [0.0, *q.adjacent_lane_offsets, *q.oncoming_lane_offsets]
        ahead = static & (s_obs > s_ego) & (s_obs < s_ego + self.horizon_m)
        blocked_all = all((ahead & (np.abs(d_obs - lane) < 0.5 * w)).any() for lane in lanes)
        if blocked_all and len(lanes) > 1:
            return self._advice(
                MetaAction.REROUTE, 0.6, f"every lane is blocked ahead ({why}); turn around", valid_for_s=10.0
            )
        return self._advice(MetaAction.STOP, 0.7, f"blocked ahead and {why}: stop and hold", valid_for_s=3.0)

    def _seen_fractions(
        self, q: ReasonQuery, route: RouteFrame, s_from: float, s_mid: float, s_to: float, onc: float
    ) -> tuple[float, float]:
        """Fractions of the oncoming lane centre (sampled every metre) the BEV shows as known cells,
        over [s_from, s_mid) and over [s_from, s_to)."""
        samples = np.arange(s_from, max(s_to, s_from + 1.0), 1.0)
        if q.grid is None:
            return 0.0, 0.0
        g = q.grid
        c, s = math.cos(q.yaw), math.sin(q.yaw)
        xy = route.to_xy(samples, np.full(len(samples), onc))
        rx, ry = xy[:, 0] - q.x, xy[:, 1] - q.y
        col = np.floor((c * rx + s * ry - g.origin_x) / g.resolution).astype(int)
        row = np.floor((-s * rx + c * ry - g.origin_y) / g.resolution).astype(int)
        inside = (col >= 0) & (col < g.classes.shape[1]) & (row >= 0) & (row < g.classes.shape[0])
        known = np.zeros(len(samples), dtype=bool)
        known[inside] = g.classes[row[inside], col[inside]] != 255
        n_mid = max(1, int(np.searchsorted(samples, s_mid)))
        return float(known[:n_mid].mean()), float(known.mean())

    @staticmethod
    def _count_blobs(q: ReasonQuery) -> int:
        """8-connected blobs of OBSTACLE cells: several small ones look like a row of cones."""
        mask = q.grid.classes == _OBSTACLE_CLASS
        cells = set(zip(*np.nonzero(mask), strict=True))
        blobs = 0
        while cells:
            blobs += 1
            stack = [cells.pop()]
            while stack:
                r, c = stack.pop()
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        n = (r + dr, c + dc)
                        if n in cells:
                            cells.remove(n)
                            stack.append(n)
        return blobs

    def _path_advice(
        self, route, s_ego, path, action, confidence, why, speed, valid_for_s: float = 3.0
    ) -> Advice:
        # Waypoints every 2 m up to a few metres after the path is back at its final offset: out, past, in.
        stations = s_ego + np.arange(len(path)) * self.ds
        moved = np.nonzero(np.abs(np.diff(path)) > 1e-9)[0]
        end = len(path) if len(moved) == 0 else min(len(path), int(moved.max()) + 1 + int(6 / self.ds))
        keep = np.arange(0, end, max(1, round(2.0 / self.ds)))
        waypoints = route.to_xy(stations[keep], path[keep])
        return self._advice(
            action, confidence, why, waypoints=waypoints, target_speed=speed, valid_for_s=valid_for_s
        )

    def _advice(
        self,
        action: MetaAction,
        confidence: float,
        rationale: str,
        *,
        waypoints=None,
        target_speed: float = 0.0,
        valid_for_s: float = 3.0,
        target_object_id: str = "",
    ) -> Advice:
        return Advice(
            action=action,
            waypoints=np.zeros((0, 2)) if waypoints is None else np.asarray(waypoints, dtype=float),
            target_speed=float(target_speed),
            valid_for_s=float(valid_for_s),
            confidence=float(np.clip(confidence, 0.0, 1.0)),
            rationale=rationale[:300],
            backend=self.name,
            target_object_id=target_object_id,
        )

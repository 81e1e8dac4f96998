"""The Planner: one PerceptionOutput + EgoState in, one safe Trajectory out.

Per frame: locate the ego on the route, remember obstacle cells, decide the traffic-light stop, track
the lead, then sample lateral targets × desired speeds, roll each out with its stop constraints, check
each with the independent SafetyChecker and keep the cheapest safe one (else the braking fallback).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from contracts.messages import points_in_footprints
from perception.classes import Cls
from perception.tracker import ObjectTracker
from perception.types import PerceptionOutput
from planning.behaviour import BehaviourFsm, LeadTracker, LightDecision, LightLatch, Situation
from planning.occupancy import (
    Footprint,
    ObstacleMemory,
    footprint_clearance,
    lookup_cells,
    points_near,
    validate_grid,
)
from planning.params import PlannerParams
from planning.paths import Path, build_path, transition_length
from planning.pedestrians import PedestrianTracker, predicted_points
from planning.route import Route, wrap_angle
from planning.safety import MovingObstacle, SafetyChecker, fallback_trajectory
from planning.speed_profile import Lead, curve_speed_limit, rollout
from planning.system2 import (
    HOLD_ACTIONS,
    PASS_ACTIONS,
    PassPermission,
    System2,
    grid_payload,
    tracked_payload,
)
from planning.task import TASK_ACTIONS, ObjectMemory, TextTask, route_through, seen_free, walk_to_check
from planning.types import EgoState, Embodiment, RouteMap, Trajectory

_MAX_STAMP_SKEW_NS = 500_000_000


@dataclass
class PathAnalysis:
    path: Path
    ped_block_arc: float  # base_link arc where the (widened) footprint first meets a pedestrian
    ped_near: np.ndarray  # (K,) bool: path samples passing a pedestrian closely (drive slowly there)
    block_arc: float  # ... first meets a vehicle / obstacle cell
    block_s: float | None  # route s of the nearest blocking cell (the lead's rear)
    block_cls: int | None
    visible_arc: float  # base_link arc up to which the corridor was seen


@dataclass
class Candidate:
    traj: Trajectory
    cost: float
    target_d: float
    stop_reason: str


class Planner:
    def __init__(self, embodiment: Embodiment, route: RouteMap, params: PlannerParams | None = None):
        self.emb = embodiment
        self.p = params or PlannerParams()
        self.p.validate()
        self.route = Route(route)
        self.fp = Footprint.of(embodiment, embodiment.safety_margin)
        self.memory = ObstacleMemory(self.p.obstacle_memory_s, self.fp.front + self.p.visibility_min_distance)
        self.light = LightLatch(self.p)
        self.lead = LeadTracker(self.p)
        self.peds = PedestrianTracker()
        self.fsm = BehaviourFsm()
        self.prev_s: float | None = None
        self.prev_target: float | None = None
        self.prev_stamp: int | None = None
        # Route s of our lane's confirmed static blocker, kept while a detour around it is under way
        # (the lead tracker then follows the target lane's path and may lose it).
        self.static_block_s: float | None = None
        self.current_lane = 0.0
        lanes = [0.0]
        if embodiment.can_change_lane:
            lanes += [float(o) for o in route.adjacent_lane_offsets]
        self.lanes = lanes
        self.base_lanes = list(lanes)
        # System 2 may open the oncoming lane (never the planner alone); see planning/system2.py.
        oncoming = tuple(route.oncoming_lane_offsets) if embodiment.can_change_lane else ()
        self.system2 = System2(self.p, route.lane_width, oncoming)
        self.system2_query: dict | None = None  # the query this frame emitted, if any (for the bridge)
        self._last_plan: Trajectory | None = None  # of the last frame perception saw (held over drops)
        # A parking spot on the route holds the vehicle there (as if it were the goal) until
        # release_park() (the owner's drive request).
        self.park_s: float | None = route.park_s
        self.task: TextTask | None = None  # a task in words (planning/task.py)
        self.task_objects = ObjectMemory(min_range_m=self.p.task_min_object_range_m)
        self._task_arrived_ns: int | None = None
        # Road users over frames (perception/tracker.py): which of them stand still, for the checks of a
        # pass over the oncoming lane, and what a System 2 query lists.
        self.tracker = ObjectTracker()

    @property
    def offers_system2(self) -> bool:
        """Whether System 2 has something to advise here (an oncoming lane a pass may use, a task in
        words): only then do its counters belong in a run's result (the planning node, the direct loop)."""
        return self.system2.oncoming is not None or self.task is not None

    def release_park(self) -> None:
        """The drive request: leave the parking spot and drive on to the goal."""
        self.park_s = None

    def set_task(self, text: str) -> None:
        """A task in words: System 2 is asked what it means (a latched re-delivery changes nothing)."""
        if self.task is None or self.task.text != text:
            self.task = TextTask(text)
            self._task_arrived_ns = None
            self.task_objects = ObjectMemory(min_range_m=self.p.task_min_object_range_m)

    def _set_route(self, route: RouteMap) -> None:
        """Follow another route from here on (a WALK_TO): where we are on the old one means nothing."""
        self.route = Route(route)
        self.prev_s = self.prev_target = self.static_block_s = None
        self.park_s = route.park_s

    # ------------------------------------------------------------------------------------------------
    def plan(self, perception: PerceptionOutput, ego: EgoState) -> Trajectory:
        grid = perception.grid
        validate_grid(grid)
        stamp = int(perception.stamp_ns)
        if abs(int(ego.stamp_ns) - stamp) > _MAX_STAMP_SKEW_NS:
            raise ValueError(f"ego stamp {ego.stamp_ns} is more than 0.5 s from the frame stamp {stamp}")
        if self.prev_stamp is not None and stamp <= self.prev_stamp:
            raise ValueError(f"frame stamps must increase: {stamp} after {self.prev_stamp}")
        if not all(np.isfinite([ego.x, ego.y, ego.yaw, ego.speed])):
            raise ValueError(f"non-finite ego state {ego}")
        self.prev_stamp = stamp
        if perception.dropped:
            return self._without_frame(ego, stamp, perception.dropped)
        traj = self._plan_frame(perception, ego, stamp)
        self._last_plan = traj
        return traj

    def _without_frame(self, ego: EgoState, stamp: int, reason: str) -> Trajectory:
        """A frame perception could not use is treated like a late one: the last plan stays in force
        (its points keep their arrival times) for frame_hold_max_s after it was made; past that the car
        has been blind too long and brakes along its lane. Nothing is remembered from such a frame."""
        self.system2_query = None
        last = self._last_plan
        if last is not None and (stamp - last.stamp_ns) * 1e-9 <= self.p.frame_hold_max_s + 1e-9:
            held = last.restamped(stamp)
            return dataclasses.replace(held, debug=dict(last.debug, held_for=reason))
        s0, d0, heading_err = self._where_on_route(ego)
        v0 = max(float(ego.speed), 0.0)
        length = max(self.p.lookahead_min, self.p.horizon_s * v0 + 10.0)
        path = build_path(
            self.route, s0, d0, heading_err, d0, length, self.p.path_ds, self.p.lane_change_min_distance
        )
        return self._fallback(path, v0, stamp, f"no usable camera frame ({reason})")

    def _where_on_route(self, ego: EgoState) -> tuple[float, float, float]:
        """(s, d, heading error) of the ego on the route, searched near the last position so that loops
        do not confuse us."""
        window = (
            (None, None)
            if self.prev_s is None
            else (self.prev_s - self.p.route_window_back, self.prev_s + self.p.route_window_ahead)
        )
        s_arr, d_arr = self.route.project(np.array([[ego.x, ego.y]]), *window)
        s0, d0 = float(s_arr[0]), float(d_arr[0])
        return s0, d0, float(wrap_angle(ego.yaw - float(self.route.heading_at(s0))))

    def _plan_frame(self, perception: PerceptionOutput, ego: EgoState, stamp: int) -> Trajectory:
        grid = perception.grid
        p, emb = self.p, self.emb

        s0, d0, heading_err = self._where_on_route(ego)
        self.prev_s = s0
        v0 = max(float(ego.speed), 0.0)
        v_cap = min(self.route.map.speed_limit, emb.max_speed)
        front = self.fp.front - emb.safety_margin  # base_link → physical front bumper

        pts, cls = self.memory.update(grid, ego, stamp)
        self.tracker.update_from_grid(stamp, grid, ego.x, ego.y, ego.yaw)
        self.system2_query = None
        self._system2_advice(grid, ego, stamp, s0, d0, front, v0)
        if self.prev_s is None:  # the advice replaced the route (a WALK_TO): where are we on the new one?
            s_arr, d_arr = self.route.project(np.array([[ego.x, ego.y]]))
            s0, d0 = float(s_arr[0]), float(d_arr[0])
            self.prev_s = s0
            heading_err = float(wrap_angle(ego.yaw - float(self.route.heading_at(s0))))
        # A task in words is asked about whatever this frame's plan turns out to be (even a fallback).
        if self.task is not None and self._task_settled(stamp):
            self._task_frame(perception, ego, stamp)
        self.lanes = self.base_lanes + ([self.system2.permission.lane] if self.system2.permission else [])
        # A lateral target in a lane that is no longer open (a pass aborted or expired before the car
        # crossed the centre line) must not be pursued: it would stay a candidate as "the current target".
        half_lane = 0.5 * self.route.map.lane_width
        if self.prev_target is not None and min(abs(self.prev_target - o) for o in self.lanes) > half_lane:
            self.prev_target = None
        # Pedestrians are replaced by their cells swept over the next seconds at their tracked velocity.
        is_ped = cls == int(Cls.PEDESTRIAN)
        ped_pred = predicted_points(self.peds.update(stamp, pts[is_ped]), p.ped_predict_s)
        ped_pred = _stretch_towards(ped_pred, ego, p.ped_range_uncertainty, min_range=15.0)
        pts = np.concatenate([pts[~is_ped], ped_pred])
        cls = np.concatenate([cls[~is_ped], np.full(len(ped_pred), int(Cls.PEDESTRIAN), dtype=np.uint8)])
        current_lane = min(self.lanes, key=lambda o: abs(o - d0))
        target_now = self.prev_target if self.prev_target is not None else current_lane

        horizon_len = max(p.lookahead_min, p.horizon_s * max(v0, v_cap) + 10.0)
        analyses: dict[tuple[float, bool], PathAnalysis] = {}

        def analyse(target: float, quick: bool = False) -> PathAnalysis:
            """Path to a lateral target and what blocks it; `quick` blends over 60 % of the length
            (an alternative when an obstacle is close, still within the curvature limit)."""
            key = (target, quick)
            if key not in analyses:
                lc = transition_length(
                    v0,
                    target - d0,
                    self.route.map.lane_width,
                    p.lane_change_time,
                    p.lane_change_min_distance,
                    emb.max_curvature,
                )
                if quick:
                    lc = max(0.6 * lc, transition_length(0.0, target - d0, 1.0, 0.0, 0.0, emb.max_curvature))
                path = build_path(self.route, s0, d0, heading_err, target, horizon_len, p.path_ds, lc)
                analyses[key] = self._analyse(path, pts, cls, grid, ego, grid.resolution)
            return analyses[key]

        lane = analyse(target_now)
        # Track the first vehicle/obstacle in our lane.
        self.lead.update(stamp, lane.block_s)
        # A far object's BEV position is coarse (one image row spans metres at 30 m), so a far vehicle
        # can seem to move with us; its speed is trusted fully only when it is close. Underestimating
        # a lead's speed costs comfort, overestimating it costs the gap.
        lead_speed = 0.0
        if lane.block_s is not None:
            gap = lane.block_s - (s0 + front)
            span = max(p.lead_trust_far - p.lead_trust_near, 1e-6)
            lead_speed = self.lead.speed * float(np.clip((p.lead_trust_far - gap) / span, 0.0, 1.0))
        lead_moving = (
            lead_speed > p.static_speed_max
            and self.lead.static_for(stamp) < 0.5
            and lane.block_cls == int(Cls.VEHICLE)
        )
        blocker_static = lane.block_s is not None and (
            lane.block_cls == int(Cls.OBSTACLE) or self.lead.static_for(stamp) >= p.static_confirm_s
        )

        if blocker_static and abs(target_now - current_lane) < 0.5:
            self.static_block_s = lane.block_s
        elif self.static_block_s is not None and (
            abs(target_now - current_lane) < 0.5 or s0 + front > self.static_block_s + 2 * emb.length
        ):
            self.static_block_s = None
        own_block_s = lane.block_s if blocker_static else self.static_block_s
        self.current_lane = current_lane

        # Traffic light → an optional stop for the next stop line on the map.
        light_stop_s = self._light_stop(perception, stamp, s0, front, v0)
        goal_stop_s = self.route.goal_s + p.goal_stop_offset
        if self.park_s is not None and self.park_s < self.route.goal_s:
            goal_stop_s = min(goal_stop_s, self.park_s + p.goal_stop_offset)
        at_goal = s0 >= self.route.goal_s - p.goal_tolerance and v0 < 0.2
        if p.return_past_goal > 0 and s0 > goal_stop_s + p.return_past_goal:
            return self._return_to_goal(ego, v_cap, stamp)

        if perception.confidence < p.frame_confidence_min:
            return self._fallback(lane.path, v0, stamp, f"frame confidence {perception.confidence:.2f}")

        targets = {target_now, 0.0}
        allow_adjacent = blocker_static and len(self.lanes) > 1 and lane.block_arc < 60.0
        if allow_adjacent:
            targets.update(self.lanes)
        if blocker_static and p.lateral_samples > 0:
            # Nudges inside the current lane: pass an obstacle that only covers the lane's edge.
            room = max(0.0, 0.5 * (self.route.map.lane_width - emb.width)) + 0.3
            for k in range(1, p.lateral_samples + 1):
                for sign in (-1.0, 1.0):
                    off = sign * k * p.lateral_sample_step
                    if abs(off) <= room:
                        targets.add(current_lane + off)
        candidates: list[Candidate] = []
        for target in sorted(targets):
            variants = [False] if abs(target - d0) < 0.25 else [False, True]
            for quick in variants:
                candidates += self._candidates(
                    analyse(target, quick),
                    target,
                    target_now,
                    v0,
                    v_cap,
                    front,
                    light_stop_s,
                    goal_stop_s,
                    lead_speed if lead_moving else 0.0,
                    own_block_s,
                    pts,
                    cls,
                    stamp,
                    grid.resolution,
                )
        ok = [c for c in candidates if np.isfinite(c.cost)]
        if not ok:
            reasons = sorted({c.traj.debug.get("rejected", "") for c in candidates})
            fb = self._fallback(
                analyse(d0).path if abs(d0 - target_now) > 0.5 else lane.path,
                v0,
                stamp,
                "no safe candidate: " + "; ".join(reasons),
            )
            self.fsm.step(Situation(at_goal, False, False, False, False, False, True))
            return fb
        best = min(ok, key=lambda c: c.cost)
        self.prev_target = best.target_d
        situation = Situation(
            at_goal=at_goal,
            light_stop_relevant=best.stop_reason == "light",
            pedestrian_relevant=best.stop_reason == "pedestrian",
            blocker_relevant=best.stop_reason in ("obstacle", "lead"),
            blocker_static=best.stop_reason == "obstacle",
            lane_change_chosen=abs(best.target_d - current_lane) > 0.5,
            fallback=False,
        )
        label = self.fsm.step(situation)
        stuck = (
            own_block_s is not None
            and v0 < 0.3
            and abs(best.target_d - current_lane) < 0.5 * self.route.map.lane_width  # (nudges included)
            and best.stop_reason == "obstacle"
        )
        if self.system2.oncoming is not None and self.system2.update_stuck(stamp, stuck):
            self.system2_query = self._make_query(
                grid, ego, stamp, own_block_s, objects=tracked_payload(self.tracker)
            )
        debug = dict(
            best.traj.debug,
            s=s0,
            d=d0,
            target_d=best.target_d,
            lead_speed=lead_speed,
            lead_speed_raw=self.lead.speed,
            n_candidates=len(candidates),
            n_safe=len(ok),
            stop_reason=best.stop_reason,
            system2_pass=self.system2.permission is not None,
            system2_event=self.system2.last_event,
        )
        t = best.traj
        return Trajectory(
            t.stamp_ns, t.t, t.x, t.y, t.yaw, t.speed, behaviour=label, fallback=False, debug=debug
        )

    # ------------------------------------------------------------------------------------------------
    def _task_frame(self, perception: PerceptionOutput, ego: EgoState, stamp: int) -> None:
        """Remember this frame's objects and, when due, ask System 2 about the task."""
        task, grid = self.task, perception.grid
        if task.state != "done":
            self.task_objects.update(
                perception.objects, ego, stamp, seen_free=lambda x, y: seen_free(grid, ego, x, y)
            )
        if not task.due(stamp):
            return
        self.system2_query = self._make_query(
            grid,
            ego,
            stamp,
            None,
            question="text_task",
            text=task.text,
            objects=self.task_objects.confirmed(),
        )
        period = self.p.task_requery_s if task.state == "walking" else self.p.task_ask_s
        task.next_query_ns = stamp + round(period * 1e9)

    def _task_settled(self, stamp: int) -> bool:
        """task_settle_s after the task arrived: a body that just started up is still finding its stance
        (its camera too high or tilted places far objects at half their range)."""
        if self._task_arrived_ns is None:
            self._task_arrived_ns = stamp
        return (stamp - self._task_arrived_ns) * 1e-9 >= self.p.task_settle_s - 1e-9

    def _make_query(
        self,
        grid,
        ego: EgoState,
        stamp: int,
        block_s: float | None,
        question: str = "stuck_behind_obstacle",
        **extra,
    ) -> dict:
        """The System 2 query (JSON-able): what the bridge turns into a ReasonRequest. extra: e.g. the
        text and objects of a task in words."""
        frame_id = f"plan/{stamp}"
        self.system2.issue(stamp, frame_id)
        return {
            **extra,
            "frame_id": frame_id,
            "stamp_ns": int(stamp),
            "question": question,
            "embodiment": self.emb.name,
            "ego": {"x": ego.x, "y": ego.y, "yaw": ego.yaw, "speed": ego.speed, "yaw_rate": ego.yaw_rate},
            "body": {"length": self.emb.length, "width": self.emb.width, "max_speed": self.emb.max_speed},
            "oncoming_lane_offsets": [self.system2.oncoming] if self.system2.oncoming is not None else [],
            "blocker_s": block_s,
            "grid": grid_payload(grid),
        }

    def _system2_advice(self, grid, ego: EgoState, stamp: int, s0: float, d0: float, front: float, v0: float):
        """Judge the advice that arrived since the last frame and keep the pass permission up to date."""
        s2, half = self.system2, 0.5 * self.route.map.lane_width
        s_front = s0 + front
        standing = None  # the tracker's static objects, on the first lookup: most frames need none

        def lookup(x, y):
            # A road user the tracker knows to stand still is no oncoming traffic: to the oncoming-lane
            # check it is a static obstacle (which the safety checker keeps the car clear of anyway).
            nonlocal standing
            if standing is None:
                standing = self.tracker.static()
            cells = lookup_cells(grid, ego, x, y)
            if standing:
                user = (cells == int(Cls.VEHICLE)) | (cells == int(Cls.PEDESTRIAN))
                known = user & points_in_footprints(standing, x, y)
                cells = np.where(known, np.uint8(Cls.OBSTACLE), cells)
            return cells

        for a in s2.take_pending(stamp):
            if self.task is not None and a.action in TASK_ACTIONS:
                self._task_advice(a, ego)
                continue
            if a.action in HOLD_ACTIONS:
                s2.counters.advice_followed += 1  # the safe stop System 1 keeps anyway
                s2.hold(a.valid_until_ns)
                s2.last_event = f"{a.action}: {a.rationale}"
                continue
            why = ""
            if a.action not in PASS_ACTIONS:
                why = f"{a.action} cannot get the car past a blocked lane"
            elif self.static_block_s is None:
                why = "no static blocker ahead any more"
            elif s2.permission is not None:
                why = "a pass is already under way"
            else:
                s_wp, d_wp = self.route.project(a.waypoints, s0 - 20.0, s0 + 150.0)
                why = s2.waypoints_ok(a, s_wp, d_wp, s_front)
            if not why:
                out = np.nonzero(d_wp > half)[0]
                last = int(out.max())
                end_s = float(s_wp[last + 1]) if last + 1 < len(s_wp) else float(s_wp[last]) + 5.0
                need = s2.required_clear(s_front, end_s + 0.5 * self.emb.length, v0, a.target_speed)
                check = s2.oncoming_check(lookup, self.route, s_front, need, s2.oncoming, self.emb.width)
                if check.ok:
                    s2.permission = PassPermission(s2.oncoming, end_s, a.valid_until_ns, reason=a.action)
                    s2.counters.advice_followed += 1
                    s2.last_event = f"{a.action} granted (oncoming lane free over {check.required_m:.0f} m)"
                    continue
                why = check.reason
            s2.counters.advice_rejected_unsafe += 1
            s2.last_event = f"rejected {a.action}: {why}"

        perm = s2.permission
        if perm is None:
            return
        if not perm.committed and d0 + 0.5 * self.emb.width > half:
            perm.committed = True  # part of the car is over the centre line: finish the manoeuvre
        if perm.committed:
            past = self.static_block_s is None or s0 > self.static_block_s
            if d0 < 0.3 and s_front > perm.end_s and past:
                s2.permission = None
                s2.last_event = "pass complete"
            return
        if stamp > perm.expires_ns:
            s2.permission = None
            s2.last_event = "pass advice expired before the car pulled out"
            return
        need = s2.required_clear(s_front, perm.end_s + 0.5 * self.emb.length, v0, 6.0)
        check = s2.oncoming_check(lookup, self.route, s_front, need, perm.lane, self.emb.width)
        if not check.ok:
            s2.permission = None
            s2.counters.advice_aborted += 1
            s2.last_event = f"pass aborted: {check.reason}"

    def _task_advice(self, a, ego: EgoState) -> None:
        """An answer about the task in words (planning/task.py): walk, stop, or wait."""
        task, s2 = self.task, self.system2
        if task.state == "done":
            s2.last_event = f"task done: {a.action} not needed"
            return
        if a.action == "stop":
            task.state = "done"
            s2.counters.advice_followed += 1
            s2.last_event = f"task done: {a.rationale}"
            return
        if a.action == "wait":
            if task.state == "walking":
                s2.last_event = f"kept the last walk_to ({a.rationale})"  # nothing new: keep walking
                return
            s2.counters.advice_followed += 1
            task.next_query_ns = max(task.next_query_ns, a.valid_until_ns)
            s2.last_event = f"wait: {a.rationale}"
            return
        why = walk_to_check(
            a.waypoints,
            ego,
            self.memory.xy,
            self.memory.cls,
            max_reach_m=self.p.task_max_reach_m,
            target_clearance_m=self.p.task_target_clearance_m,
            half_width=0.5 * self.emb.width + self.emb.safety_margin,
            near_body_m=self.p.task_min_object_range_m,
        )
        if why:
            s2.counters.advice_rejected_unsafe += 1
            s2.last_event = f"rejected walk_to: {why}"
            return
        self._set_route(route_through(ego, a.waypoints, self.route.map))
        task.state = "walking"
        s2.counters.advice_followed += 1
        s2.last_event = f"walk_to: {a.rationale}"

    def _analyse(
        self, path: Path, pts: np.ndarray, cls: np.ndarray, grid, ego: EgoState, res: float
    ) -> PathAnalysis:
        p = self.p
        fp = Footprint.of(self.emb, self.emb.safety_margin + 0.5 * res)
        radius = fp.half_length + abs(fp.center_offset) + fp.half_width + p.ped_lateral_margin
        near = points_near(pts, path.x, path.y, radius)
        is_ped = cls == int(Cls.PEDESTRIAN)
        ped_pts, other_pts = pts[near & is_ped], pts[near & ~is_ped]
        other_cls = cls[near & ~is_ped]
        fp_ped = Footprint(fp.center_offset, fp.half_length, fp.half_width + p.ped_lateral_margin)
        ped_clear = footprint_clearance(fp_ped, path.x, path.y, path.yaw, ped_pts)
        ped_block = _first_contact_arc(path.arc, ped_clear)
        ped_near = ped_clear < p.ped_caution_distance
        clear = footprint_clearance(fp, path.x, path.y, path.yaw, other_pts)
        hit = clear <= 0.0
        block_arc = _first_contact_arc(path.arc, clear)
        block_s, block_cls = None, None
        if np.isfinite(block_arc):
            k = int(np.argmax(hit))
            c, s = np.cos(path.yaw[k]), np.sin(path.yaw[k])
            dx, dy = other_pts[:, 0] - path.x[k], other_pts[:, 1] - path.y[k]
            lx = c * dx + s * dy - fp.center_offset
            ly = -s * dx + c * dy
            inside = (np.abs(lx) <= fp.half_length) & (np.abs(ly) <= fp.half_width)
            s_pts, _ = self.route.project(other_pts[inside], path.s_route[0] - 5.0, path.s_route[-1] + 5.0)
            j = int(np.argmin(s_pts))
            block_s, block_cls = float(s_pts[j]), int(other_cls[inside][j])
        visible = self._visible_arc(path, grid, ego, fp)
        return PathAnalysis(path, ped_block, ped_near, block_arc, block_s, block_cls, visible)

    def _visible_arc(self, path: Path, grid, ego: EgoState, fp: Footprint) -> float:
        """Arc up to which the corridor in front of the footprint was seen (not UNKNOWN)."""
        p = self.p
        across = np.linspace(-fp.half_width, fp.half_width, 5)
        c, s = np.cos(path.yaw)[:, None], np.sin(path.yaw)[:, None]
        fx = path.x[:, None] + fp.front * c - across[None, :] * s
        fy = path.y[:, None] + fp.front * s + across[None, :] * c
        unknown = (lookup_cells(grid, ego, fx, fy) == grid.UNKNOWN).mean(axis=1) > p.unknown_fraction_blocked
        # The camera's near blind zone is tolerated: it was seen when it was farther away.
        scan = path.arc >= p.visibility_min_distance
        if not np.any(scan):
            return float("inf")
        first = int(np.argmax(scan))
        if unknown[first]:
            return 0.0  # nothing seen beyond the blind zone: do not drive into it
        blocked = unknown & scan
        return _first_arc(path.arc, blocked) if np.any(blocked) else float("inf")

    def _light_stop(
        self, perception: PerceptionOutput, stamp: int, s0: float, front: float, v0: float
    ) -> float | None:
        """base_link route s at which to stop for the next stop line, or None to go."""
        ahead = [sl.s for sl in self.route.map.stop_lines if sl.s > s0 + front - 0.5]
        if not ahead or min(ahead) - (s0 + front) > self.p.light_relevance_distance:
            self.light.update(perception.traffic_light, stamp, float("inf"), v0)
            return None
        line = min(ahead)
        stop_s = line - self.p.stop_line_margin - front
        decision = self.light.update(perception.traffic_light, stamp, stop_s - s0, v0)
        return stop_s if decision == LightDecision.STOP else None

    def _candidates(
        self,
        a: PathAnalysis,
        target: float,
        target_now: float,
        v0: float,
        v_cap: float,
        front: float,
        light_stop_s: float | None,
        goal_s: float,
        lead_speed: float,
        lane_block_s: float | None,
        pts: np.ndarray,
        cls: np.ndarray,
        stamp: int,
        res: float,
    ) -> list[Candidate]:
        p, emb, path = self.p, self.emb, a.path
        stops = {
            "pedestrian": a.ped_block_arc - p.ped_yield_distance,
            "goal": path.arc_of_route_s(goal_s),
        }
        if light_stop_s is not None:
            stops["light"] = path.arc_of_route_s(light_stop_s)
        lead, moving = None, None
        detour_passes = False
        static_pts = pts
        if a.block_s is not None and lead_speed > 0.0 and target == target_now:
            # Moving lead in our lane: IDM gap instead of a stop, and its cells predicted forward.
            lead = Lead(path.arc_of_route_s(a.block_s), lead_speed)
            s_pts, d_pts = self.route.project(pts, path.s_route[0] - 5.0, path.s_route[-1] + 5.0)
            is_lead = (
                (cls == int(Cls.VEHICLE))
                & (s_pts >= a.block_s - 0.5)
                & (s_pts <= a.block_s + 8.0)
                & (np.abs(d_pts - target) <= self.route.map.lane_width / 2 + 0.5)
            )
            moving = MovingObstacle(s_pts[is_lead], d_pts[is_lead], lead_speed)
            static_pts = pts[~is_lead]
            stops["obstacle"] = float("inf")
        else:
            # The overtake gap leaves room to steer out around a blocker later; a blocker beyond the goal
            # (the ego can stop at the goal with the standstill gap to spare) is never passed, so
            # standing back for it would only stop the ego short of the goal.
            beyond_goal = a.block_s is not None and a.block_s - front - p.min_gap >= goal_s
            # A detour around our lane's static blocker that, keeping the standstill gap to what blocks
            # its own lane, already gets the ego a vehicle length past that blocker's rear need not stand
            # back: it is not going to steer out again there. (A detour that ends beside or before our
            # blocker keeps the overtake gap: it gains nothing.)
            detour_passes = bool(
                lane_block_s is not None
                and abs(target - self.current_lane) > 0.5
                and a.block_s is not None
                and a.block_s - p.min_gap >= lane_block_s + emb.length
            )
            # (an oncoming lane counts: System 2 may open it, and a pass needs the room to steer out)
            may_pass = len(self.lanes) > 1 or self.system2.oncoming is not None
            can_pass = may_pass and not beyond_goal and not detour_passes
            gap = max(p.min_gap, p.overtake_gap) if can_pass else p.min_gap
            stops["obstacle"] = a.block_arc - gap
        stop_reason = min(stops, key=stops.get)
        stop_arc = max(stops[stop_reason], 0.0)
        # where the ego has arrived (the goal or the parking spot itself; the stop is goal_stop_offset past)
        reach_arc = path.arc_of_route_s(goal_s - p.goal_stop_offset)
        # Seen free space moves with us, so it caps the speed (stop within what was seen) rather than
        # being a stop point: v ≤ sqrt(2 · comfort_decel · visible distance).
        v_visible = float(np.sqrt(2.0 * emb.comfort_decel * max(a.visible_arc, 0.0)))
        # Pass pedestrians near the road slowly: a walker can step out faster than we could stop
        # from full speed (and far pedestrians' BEV positions are coarse).
        ped_cap = np.where(a.ped_near, p.ped_caution_speed, np.inf)
        v_limit = np.minimum(curve_speed_limit(path.arc, path.kappa, v_cap, emb, p, ped_cap), v_visible)
        checker = SafetyChecker(emb, self.route, res)
        out = []
        n_speed = p.speed_samples
        fractions = np.linspace(1.0, 0.0, n_speed) if n_speed > 1 else np.array([1.0])
        braking_dist = v0 * v0 / (2.0 * emb.comfort_decel) + v0 * p.time_headway + p.min_gap + 10.0
        for frac in fractions:
            r = rollout(path.arc, v_limit, v0, frac * v_cap, stop_arc, lead, front, emb, p)
            x, y, yaw = path.interp(r.arc)
            traj = Trajectory(stamp, r.t, x, y, yaw, r.v, debug={"v_desired": float(frac * v_cap)})
            res_ = checker.check(traj, static_pts, moving)
            if not res_.ok:
                out.append(
                    Candidate(
                        Trajectory(stamp, r.t, x, y, yaw, r.v, debug={"rejected": res_.reason}),
                        float("inf"),
                        target,
                        stop_reason,
                    )
                )
                continue
            # Mean position over the horizon (of candidates that end at the same stop point, the one
            # getting there sooner, not by creeping, wins) plus where the candidate will eventually
            # get: its end position plus the end speed's worth of travel, but never past its stop
            # point (standing before an obstacle is worth less than passing it at speed).
            eventual = min(float(r.arc[-1]) + float(r.v[-1]) * 0.5 * p.horizon_s, max(stop_arc, r.arc[-1]))
            progress = (float(np.mean(r.arc)) + eventual) / max(v_cap * p.horizon_s, 1e-6)
            # Prefer the route lane, except when it is blocked by a static blocker: then standing
            # behind it forever would always cost less than any detour around it.
            lateral = 0.0 if lane_block_s is not None else abs(target) / max(self.route.map.lane_width, 1e-6)
            comfort = float(np.mean(r.a**2)) / max(emb.max_accel**2, 1e-6)
            clearance = max(0.0, p.clearance_soft - res_.min_clearance) / p.clearance_soft
            switch = float(abs(target - target_now) > 0.25)
            # Behind our lane's static blocker every candidate that does not get past it is a dead end
            # (it will wait there forever); without this, waiting costs nothing and beats any detour.
            # A detour that does not move (zero desired speed) is no way out either.
            dead_end = float(lane_block_s is not None and not (detour_passes and frac > 0.0))
            # The same holds for a plan that ends short of the goal while the goal is the stop: from a
            # standstill a few decimetres before it, standing cost less than the short hop (its
            # acceleration costs comfort, its progress is tiny), so a car that came to rest just short
            # of the goal stood there until the time limit (issue 24 item 8, route completion 0.9997).
            if stop_reason == "goal" and eventual < reach_arc - 1e-6:
                dead_end = 1.0
            cost = (
                -p.w_progress * progress
                + p.w_progress * 0.5 * dead_end
                + p.w_lateral * lateral
                + p.w_comfort * comfort
                + p.w_clearance * clearance
                + p.w_switch * switch
            )
            binding = stop_reason if stops[stop_reason] <= braking_dist else ""
            lead_close = lead is not None and lead.arc - front <= braking_dist
            if lead_close and binding in ("", "goal"):
                binding = "lead"
            out.append(Candidate(traj, cost, target, binding))
        return out

    def _return_to_goal(self, ego: EgoState, speed: float, stamp: int) -> Trajectory:
        """Straight from the ego back to the goal at `speed` (return_past_goal)."""
        gx, gy, _ = self.route.pose_at(self.route.goal_s)
        gx, gy = float(gx), float(gy)
        dist = max(float(np.hypot(gx - ego.x, gy - ego.y)), 1e-3)
        n = max(2, int(np.ceil(dist / self.p.path_ds)) + 1)
        f = np.linspace(0.0, 1.0, n)
        x, y = ego.x + f * (gx - ego.x), ego.y + f * (gy - ego.y)
        yaw = np.full(n, np.arctan2(gy - ego.y, gx - ego.x))
        v = max(speed, 0.1)
        return Trajectory(
            stamp, f * dist / v, x, y, yaw, np.full(n, v), behaviour="return_to_goal", debug={"s": 0.0}
        )

    def _fallback(self, path: Path, v0: float, stamp: int, reason: str) -> Trajectory:
        return fallback_trajectory(path, v0, stamp, self.emb, self.p.horizon_s, self.p.dt, reason)


def _first_arc(arc: np.ndarray, mask: np.ndarray) -> float:
    return float(arc[int(np.argmax(mask))]) if np.any(mask) else float("inf")


def _first_contact_arc(arc: np.ndarray, clearance: np.ndarray) -> float:
    """Arc where the footprint first touches: between the last clear sample and the first touching
    one, the clearance of the clear sample bounds how much farther it could go (path samples are
    path_ds apart, which would otherwise overestimate the free distance by up to path_ds)."""
    hit = clearance <= 0.0
    if not np.any(hit):
        return float("inf")
    k = int(np.argmax(hit))
    if k == 0:
        return 0.0
    return float(min(arc[k], arc[k - 1] + clearance[k - 1]))


def _stretch_towards(pts: np.ndarray, ego: EgoState, fraction: float, min_range: float) -> np.ndarray:
    """Add copies of far points pulled towards the ego by up to `fraction` of their range.

    A monocular BEV places a far object's ground contact coarsely (one image row spans metres at
    30 m) and tends to report it too far while it holds a row; assuming it may be nearer makes the
    planner react early and gently instead of late and hard.
    """
    if fraction <= 0 or len(pts) == 0:
        return pts
    rel = pts - np.array([ego.x, ego.y])
    rng = np.hypot(rel[:, 0], rel[:, 1])
    far = rng > min_range
    if not np.any(far):
        return pts
    copies = [pts]
    for w in (1.0 / 3.0, 2.0 / 3.0, 1.0):
        scale = 1.0 - fraction * w
        copies.append(np.array([ego.x, ego.y]) + rel[far] * scale)
    return np.concatenate(copies)

"""The behaviour layer: traffic-light latch, lead tracking, and a small explicit state machine that
names what the ego is doing and gates lane changes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from perception.types import LightState, TrafficLightObservation
from planning.params import PlannerParams

FOLLOW_LANE = "follow_lane"
STOP_RED_LIGHT = "stop_red_light"
YIELD_PEDESTRIAN = "yield_pedestrian"
FOLLOW_LEAD = "follow_lead"
STOP_FOR_OBSTACLE = "stop_for_obstacle"
CHANGE_LANE = "change_lane"
GOAL_REACHED = "goal_reached"
FALLBACK_STOP = "fallback_stop"


class LightDecision(Enum):
    GO = 0
    STOP = 1


class LightLatch:
    """Turns noisy per-frame light observations into a stop/go decision for the next stop line.

    RED (already at red_confidence_min, a lower bar than the others) → stop. YELLOW → stop only if
    we can with yellow_max_decel (and then stay committed until GREEN). GREEN → go. NONE / low
    confidence → keep stopping only if a red (or committed yellow) was seen within light_memory_s;
    otherwise go (the map alone never stops us: state comes only from perception).
    """

    def __init__(self, params: PlannerParams):
        self.p = params
        self.last_stop_ns: int | None = None  # last frame that said "stop"
        self.committed = False

    def update(
        self, obs: TrafficLightObservation, stamp_ns: int, dist_to_stop: float, speed: float
    ) -> LightDecision:
        confident = obs.confidence >= self.p.light_confidence_min and obs.state != LightState.NONE
        if confident and obs.state == LightState.GREEN:
            self.committed, self.last_stop_ns = False, None
            return LightDecision.GO
        # A red needs less evidence than a green: a false red costs a stop at the line, a missed red
        # costs a violation.
        if obs.state == LightState.RED and obs.confidence >= self.p.red_confidence_min:
            self.committed, self.last_stop_ns = True, stamp_ns
            return LightDecision.STOP
        if confident and obs.state == LightState.YELLOW:
            can_stop = dist_to_stop > 0 and speed * speed / (2.0 * dist_to_stop) <= self.p.yellow_max_decel
            if self.committed or can_stop:
                self.committed, self.last_stop_ns = True, stamp_ns
                return LightDecision.STOP
            return LightDecision.GO
        # Unseen or unsure: conservative only right after a stop-worthy observation.
        if (
            self.committed
            and self.last_stop_ns is not None
            and stamp_ns - self.last_stop_ns <= int(self.p.light_memory_s * 1e9)
        ):
            return LightDecision.STOP
        self.committed = False
        return LightDecision.GO


class LeadTracker:
    """Estimates the speed of the first blocking object in the lane from its route position over frames
    (stamps give dt), and how long it has been static."""

    def __init__(self, params: PlannerParams):
        self.p = params
        self.history: deque[tuple[int, float]] = deque()  # short window: speed
        self.long_history: deque[tuple[int, float]] = deque()  # long window: "static for how long"
        self.speed = 0.0
        self.dropouts = 0  # consecutive frames the lead was missing or jumped farther away

    def reset(self) -> None:
        self.history.clear()
        self.long_history.clear()
        self.speed = 0.0
        self.dropouts = 0

    def update(self, stamp_ns: int, lead_s: float | None) -> None:
        # Perception flickers: a lead missing, or replaced by something farther, for a single frame
        # is a blip, and resetting on it would restart the "static for" clock (a parked car flickering
        # once a second was never confirmed static, so never overtaken). Two frames in a row are real.
        # A nearer new lead resets at once: its speed then reads 0, the cautious side.
        if self.history and stamp_ns <= self.history[-1][0]:
            raise ValueError(f"lead tracker: stamps must increase ({stamp_ns} after {self.history[-1][0]})")
        if lead_s is None:
            self.dropouts += 1
            if self.dropouts > 1 or not self.history:
                self.reset()
            return
        if self.history:
            t_last, s_last = self.history[-1]
            predicted = s_last + self.speed * (stamp_ns - t_last) * 1e-9
            if abs(lead_s - predicted) > self.p.lead_jump_reset:
                self.dropouts += 1
                if lead_s > predicted and self.dropouts == 1:
                    return
                self.reset()  # a different object became the lead
        self.dropouts = 0
        self.history.append((stamp_ns, lead_s))
        window_ns = int(self.p.lead_speed_window_s * 1e9)
        while len(self.history) > 2 and stamp_ns - self.history[0][0] > window_ns:
            self.history.popleft()
        self.long_history.append((stamp_ns, lead_s))
        long_ns = int(max(2.0 * self.p.static_confirm_s, 3.0) * 1e9)
        while len(self.long_history) > 2 and stamp_ns - self.long_history[0][0] > long_ns:
            self.long_history.popleft()
        if len(self.history) >= 2:
            # Least-squares slope over the window: robust to one-cell jitter of the grid.
            t = np.array([h[0] for h in self.history], dtype=float) * 1e-9
            s = np.array([h[1] for h in self.history])
            t -= t.mean()
            self.speed = max(float(np.dot(t, s - s.mean()) / max(np.dot(t, t), 1e-12)), 0.0)

    def static_for(self, stamp_ns: int) -> float:
        """How long (s) the lead's position has stayed within static_position_tolerance. A position band,
        not the speed estimate: the BEV position of an object jitters by a cell or two as the ego
        approaches, which makes a differentiated speed flicker around any threshold."""
        if not self.long_history or self.speed > 2.0 * self.p.static_speed_max:
            return 0.0
        lo = hi = self.long_history[-1][1]
        since = self.long_history[-1][0]
        for t, s in reversed(self.long_history):
            lo, hi = min(lo, s), max(hi, s)
            if hi - lo > self.p.static_position_tolerance:
                break
            since = t
        return (stamp_ns - since) * 1e-9


@dataclass(frozen=True)
class Situation:
    """What the planner found this frame, for the state machine."""

    at_goal: bool
    light_stop_relevant: bool  # stopping for a light at a stop line ahead binds the speed
    pedestrian_relevant: bool
    blocker_relevant: bool  # a vehicle / obstacle ahead in the lane binds the speed
    blocker_static: bool
    lane_change_chosen: bool  # the chosen trajectory moves to another lane centre
    fallback: bool


class BehaviourFsm:
    """States and transitions, by priority. goal_reached is absorbing; fallback_stop is left as soon as
    a safe candidate exists again."""

    def __init__(self) -> None:
        self.state = FOLLOW_LANE

    def step(self, s: Situation) -> str:
        if self.state == GOAL_REACHED or s.at_goal:
            self.state = GOAL_REACHED
        elif s.fallback:
            self.state = FALLBACK_STOP
        elif s.lane_change_chosen:
            self.state = CHANGE_LANE
        elif s.light_stop_relevant:
            self.state = STOP_RED_LIGHT
        elif s.pedestrian_relevant:
            self.state = YIELD_PEDESTRIAN
        elif s.blocker_relevant:
            self.state = STOP_FOR_OBSTACLE if s.blocker_static else FOLLOW_LEAD
        else:
            self.state = FOLLOW_LANE
        return self.state

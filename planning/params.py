"""Planner and embodiment parameters, loaded strictly from dicts (bringup YAML).

Unknown keys raise: a typo in a parameter file must never silently fall back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from contracts.embodiment import load as load_embodiment
from planning.types import Embodiment

T = TypeVar("T")


def strict_from_dict(cls: type[T], d: dict[str, Any], what: str) -> T:
    """Build dataclass `cls` from `d`, rejecting keys it does not know and casting numbers."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} parameters must be a mapping, got {type(d).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ValueError(
            f"unknown {what} parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        # Field types are strings here (postponed annotations); cast so YAML ints become floats.
        kind = str(known[key].type)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{what} parameter {key} must be true/false, got {value!r}")
            kwargs[key] = value
        elif kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{what} parameter {key} must be a number, got {value!r}")
            if kind == "int" and value != int(value):
                raise ValueError(f"{what} parameter {key} must be an integer, got {value!r}")
            kwargs[key] = int(value) if kind == "int" else float(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


@dataclass(frozen=True)
class PlannerParams:
    # Sampling and horizon.
    horizon_s: float = 5.0  # trajectory length in time
    dt: float = 0.1  # trajectory point spacing, s
    path_ds: float = 0.5  # spacing of the geometric path samples, m
    lateral_samples: int = 1  # extra lateral targets around each lane centre (0 = lane centres only)
    lateral_sample_step: float = 0.5  # m between those extra lateral targets
    speed_samples: int = 4  # desired-speed samples per lateral target (fractions of the cap)
    lookahead_min: float = 20.0  # minimum path length planned, m (so a stopped ego still sees ahead)
    # Speed limits.
    max_lateral_accel: float = 2.5  # m/s², curvature-limited speed
    speed_tau: float = 1.0  # s, time constant to reach a desired speed
    # Stopping rules (distances from the front bumper unless said otherwise).
    ped_yield_distance: float = 3.0  # m kept between the front bumper and a pedestrian
    # m, extra corridor half-width in which pedestrians make us yield; small, because walkers heading for
    # the lane are covered by their predicted motion and a walker standing at the kerb must not stop us.
    ped_lateral_margin: float = 0.5
    ped_predict_s: float = 3.0  # s a walking pedestrian is extrapolated ahead (constant velocity)
    ped_caution_distance: float = 2.5  # m beyond the yield corridor: pedestrians this close cap the speed
    ped_caution_speed: float = 5.0  # m/s while passing such pedestrians
    # Far pedestrians may be this fraction of their range nearer than the BEV says (coarse far range).
    ped_range_uncertainty: float = 0.2
    stop_line_margin: float = 0.5  # m, front bumper stops this far before the stop line
    min_gap: float = 2.5  # m, standstill gap to a lead vehicle or static obstacle
    time_headway: float = 1.5  # s, IDM desired time gap
    idm_delta: float = 4.0  # reserved: the rollout uses only IDM's interaction term (cruise has its own law)
    # m/s²; reserved: leads are predicted at constant speed and replanning at 20 Hz handles their braking
    lead_assumed_decel: float = 6.0
    # m before goal_s from which a standstill counts as "goal reached". 0: the ego aims goal_stop_offset
    # past the goal, so a standstill short of it (after a spurious stop) must drive on, not declare victory.
    goal_tolerance: float = 0.0
    # base_link stops this far past goal_s: the goal counts once reached, so aim a little beyond it.
    goal_stop_offset: float = 0.5
    # Traffic lights.
    light_confidence_min: float = 0.5  # for GREEN and YELLOW observations
    red_confidence_min: float = 0.25  # RED counts with less evidence: missing a red is the costly error
    light_memory_s: float = 5.0  # a red seen this recently still counts while the light is unseen
    light_relevance_distance: float = 60.0  # m: only stop lines this close ahead are governed by the light
    yellow_max_decel: float = 4.0  # m/s²: stop for yellow only if this braking suffices
    # Tracking and lane change.
    lead_speed_window_s: float = 0.6  # s of gap history used to estimate the lead speed
    lead_jump_reset: float = 3.0  # m: a jump larger than this in the lead position means a new object
    static_speed_max: float = 0.5  # m/s: a lead slower than this is "static"
    lead_trust_near: float = 15.0  # m from the front bumper: closer, the lead's speed estimate is used fully
    lead_trust_far: float = 30.0  # m: farther, it is not used (treated as static, the cautious side)
    static_confirm_s: float = 1.0  # s a vehicle must be static before we overtake it
    static_position_tolerance: float = 0.8  # m the lead's position may wander and still be "static"
    # m kept before a static blocker when another lane exists: room to steer out around it later.
    overtake_gap: float = 10.0
    lane_change_time: float = 3.0  # s of travel for a lateral transition
    lane_change_min_distance: float = 10.0  # m
    obstacle_memory_s: float = 4.0  # s obstacle cells stay remembered after leaving the view
    # Unknown space.
    unknown_fraction_blocked: float = 0.6  # a corridor slice more unknown than this is not "seen free"
    # m of unseen corridor right ahead tolerated (the camera's near blind zone, seen when it was farther)
    visibility_min_distance: float = 3.0
    # Scoring weights.
    # Progress must outweigh lateral + switch cost, or a free adjacent lane would never be taken; the
    # lateral cost must outweigh the switch cost, or the ego would never return to its route lane.
    w_progress: float = 2.0
    w_lateral: float = 0.5
    w_comfort: float = 0.3
    w_clearance: float = 1.0
    w_switch: float = 0.2  # penalise changing the lateral target chosen last time (hysteresis)
    clearance_soft: float = 1.5  # m beyond the margin where clearance stops costing
    # Route localisation: the ego is projected onto the route only within this window around its last
    # route position (m back, m ahead), so a route that passes near itself does not snap to its other part.
    route_window_back: float = 30.0
    route_window_ahead: float = 60.0
    # m beyond the goal's stop point after which the plan is a straight walk back to the goal; 0 = never.
    # A car stops at its goal; a walking policy that cannot stop may pass a goal a metre off and, with
    # the route extrapolated ahead, would walk on forever.
    return_past_goal: float = 0.0
    # Frame quality.
    frame_confidence_min: float = 0.3  # below this the frame is not trusted: fallback stop
    # A frame perception dropped (malformed image) is treated like a late one: the last plan stays in
    # force this long after it was made (a few camera periods), then the fallback stop takes over.
    frame_hold_max_s: float = 0.3
    # System 2 (planning/system2.py): when to ask, and System 1's checks of pass advice.
    system2_stuck_s: float = 2.0  # s standing behind a static blocker with no way past before asking
    system2_requery_s: float = 2.0  # s between queries while still stuck (unanswered or failed)
    oncoming_speed_max: float = 8.0  # m/s assumed for oncoming traffic when sizing the free gap a pass needs
    # m ahead of the front bumper the camera BEV reliably shows (its x range is 40 m from base_link);
    # farther, the pass relies on oncoming drivers braking for a car in their lane (RSS)
    oncoming_sight_m: float = 34.0
    oncoming_unknown_max: float = 0.3  # fraction of the checked oncoming lane that may be unseen
    pass_accel: float = 1.5  # m/s² assumed when estimating how long a pass takes
    pass_margin_s: float = 1.0  # s added to that estimate
    # A task in words (planning/task.py): asking System 2 and checking its WALK_TO.
    task_settle_s: float = 0.5  # s after the task arrives before the first query (a body starting up settles)
    # s between queries while no answer is followed yet: the body turns meanwhile, so successive queries
    # see the yard from other headings (it "looks around")
    task_ask_s: float = 0.5
    task_requery_s: float = 1.5  # s between queries while walking to the object (refines its place)
    task_max_reach_m: float = 25.0  # farthest advised waypoint System 1 accepts
    task_target_clearance_m: float = 1.5  # m before the last waypoint where obstacle cells are the target
    # nearer object blobs are not remembered, nor obstacle cells held against a walk_to: the robot itself
    task_min_object_range_m: float = 2.0

    @classmethod
    def from_dict(cls, d: dict) -> PlannerParams:
        p = strict_from_dict(cls, d, "planner")
        p.validate()
        return p

    def validate(self) -> None:
        if self.dt <= 0 or self.horizon_s <= self.dt:
            raise ValueError(
                f"planner needs 0 < dt < horizon_s, got dt={self.dt}, horizon_s={self.horizon_s}"
            )
        if self.path_ds <= 0:
            raise ValueError(f"planner path_ds must be positive, got {self.path_ds}")
        if self.speed_samples < 1 or self.lateral_samples < 0:
            raise ValueError("planner needs speed_samples >= 1 and lateral_samples >= 0")
        if not (self.task_ask_s > 0 and self.task_requery_s > 0 and self.task_max_reach_m > 0):
            raise ValueError("planner needs task_ask_s, task_requery_s and task_max_reach_m > 0")
        if self.task_settle_s < 0:
            raise ValueError(f"planner task_settle_s must be >= 0, got {self.task_settle_s}")


def embodiment_from_dict(d: dict) -> Embodiment:
    """Embodiment from a parameter mapping; unknown keys raise ValueError naming them."""
    e = strict_from_dict(Embodiment, d, "embodiment")
    for key in (
        "length",
        "width",
        "max_speed",
        "max_accel",
        "max_decel",
        "comfort_decel",
        "max_yaw_rate",
        "max_curvature",
    ):
        if not getattr(e, key) > 0:
            raise ValueError(f"embodiment {key} must be positive, got {getattr(e, key)}")
    if e.safety_margin < 0 or e.wheelbase < 0:
        raise ValueError("embodiment safety_margin and wheelbase must be non-negative")
    return e


def embodiment_for(node_params: dict[str, Any]) -> Embodiment:
    """The Embodiment a planning or control node builds: the file its `body` parameter names
    (contracts/embodiments/, default the car), with any `embodiment.<field>` overrides on top."""
    base = load_embodiment(node_params.get("body", "car")).planning_fields()
    return embodiment_from_dict({**base, **node_params.get("embodiment", {})})


# The bodies' planning fields, from their embodiment files (for tests and benchmarks).
CAR = load_embodiment("car").planning_fields()
HUMANOID = load_embodiment("humanoid").planning_fields()

"""Single-frame and few-frame planner behaviour on hand-built grids (base_link boxes, ego at origin)."""

import numpy as np
import pytest

from perception.classes import Cls
from perception.types import LightState
from planning.occupancy import Footprint, footprint_clearance
from planning.params import PlannerParams
from planning.planner import Planner
from tests.planning.helpers import (
    CAR_EMB,
    FRAME_NS,
    HUMANOID_EMB,
    ego,
    perception,
    put_box,
    road_grid,
    straight_route,
)


def assert_no_overlap(traj, grid, emb, cls_set=(Cls.VEHICLE, Cls.PEDESTRIAN, Cls.OBSTACLE)):
    """Ego at the origin with yaw 0, so base_link == odom: the raw footprint must miss every cell."""
    xs, ys = grid.cell_centers()
    mask = np.isin(grid.classes, [int(c) for c in cls_set])
    pts = np.stack([xs[mask], ys[mask]], axis=1)
    clear = footprint_clearance(Footprint.of(emb, 0.0), traj.x, traj.y, traj.yaw, pts)
    assert np.all(clear > 0.0), f"min clearance {clear.min():.2f}"


def assert_can_stop_before(traj, emb, limit_front):
    """The plan never puts the front past limit_front, and its end state can still stop before it with
    comfortable braking (a receding-horizon plan need not reach standstill within its horizon)."""
    front = traj.x + emb.rear_to_center + emb.length / 2
    assert front.max() <= limit_front + 1e-6
    assert front[-1] + traj.speed[-1] ** 2 / (2 * emb.comfort_decel) <= limit_front + 1e-6
    assert np.all(np.diff(traj.speed[traj.t > 2.0]) <= 1e-9)  # braking towards it


def plan_frames(planner, grid, n, speed=0.0, light=LightState.NONE, light_conf=0.0, x=0.0):
    tr = None
    for k in range(n):
        stamp = (k + 1) * FRAME_NS
        tr = planner.plan(perception(grid, stamp, light, light_conf), ego(stamp, x=x, speed=speed))
    return tr


def test_empty_lane_accelerates_to_limit_along_centerline():
    tr = plan_frames(Planner(CAR_EMB, straight_route(speed_limit=10.0)), road_grid(), 1, speed=0.0)
    assert tr.behaviour == "follow_lane" and not tr.fallback
    assert np.max(tr.speed) == pytest.approx(10.0, abs=0.3)
    assert np.all(np.diff(tr.speed[tr.t < 2.0]) >= -1e-9)  # accelerating at first
    acc = np.diff(tr.speed) / np.diff(tr.t)
    assert acc.max() <= CAR_EMB.max_accel + 1e-6
    assert np.max(np.abs(tr.y)) < 1e-6
    assert 0.1 <= np.diff(tr.t).max() <= 0.2 and 4.0 <= tr.t[-1] <= 6.0


def test_speed_limit_respected_at_speed():
    tr = plan_frames(Planner(CAR_EMB, straight_route(speed_limit=8.0)), road_grid(), 1, speed=8.0)
    assert np.max(tr.speed) <= 8.0 + 1e-6


def test_obstacle_no_adjacent_lane_stops_before_it():
    grid = put_box(road_grid(), Cls.OBSTACLE, 25.0, 26.0, -0.8, 0.8)
    tr = plan_frames(Planner(CAR_EMB, straight_route()), grid, 1, speed=8.0)
    assert tr.behaviour == "stop_for_obstacle" and not tr.fallback
    assert_can_stop_before(tr, CAR_EMB, 25.0 - 2.5)  # min_gap before the box
    assert_no_overlap(tr, grid, CAR_EMB)


def test_obstacle_with_free_adjacent_lane_changes_lane_and_clears_it():
    grid = put_box(road_grid(), Cls.OBSTACLE, 30.0, 31.0, -0.8, 0.8)
    tr = plan_frames(Planner(CAR_EMB, straight_route(adjacent=[3.5])), grid, 1, speed=8.0)
    assert tr.behaviour == "change_lane" and not tr.fallback
    assert tr.x[-1] > 31.0 and tr.y.max() > 2.5
    assert_no_overlap(tr, grid, CAR_EMB)


def test_obstacle_with_occupied_adjacent_lane_stops():
    grid = put_box(road_grid(), Cls.OBSTACLE, 30.0, 31.0, -0.8, 0.8)
    grid = put_box(grid, Cls.VEHICLE, 28.0, 36.0, 2.6, 4.4)
    tr = plan_frames(Planner(CAR_EMB, straight_route(adjacent=[3.5])), grid, 1, speed=8.0)
    assert tr.behaviour == "stop_for_obstacle" and np.max(np.abs(tr.y)) < 0.6
    assert_can_stop_before(tr, CAR_EMB, 30.0 - 2.5)
    assert_no_overlap(tr, grid, CAR_EMB)


def test_static_vehicle_is_overtaken_only_after_it_was_static_for_a_while():
    grid = put_box(road_grid(), Cls.VEHICLE, 30.0, 34.5, -0.9, 0.9)
    planner = Planner(CAR_EMB, straight_route(adjacent=[3.5]))
    first = plan_frames(planner, grid, 1, speed=5.0)
    assert first.behaviour == "stop_for_obstacle"  # might still be a slow lead
    for k in range(2, 45):  # ~2.1 s of frames with the vehicle in the same place
        stamp = k * FRAME_NS
        later = planner.plan(perception(grid, stamp), ego(stamp, speed=5.0))
    assert later.behaviour == "change_lane"


def test_red_light_stops_before_the_line_and_green_passes():
    route = straight_route(stop_lines=[30.0])
    red = plan_frames(
        Planner(CAR_EMB, route), road_grid(), 1, speed=8.0, light=LightState.RED, light_conf=0.9
    )
    assert red.behaviour == "stop_red_light"
    assert_can_stop_before(red, CAR_EMB, 30.0 - 0.5)  # stop_line_margin
    green = plan_frames(
        Planner(CAR_EMB, route), road_grid(), 1, speed=8.0, light=LightState.GREEN, light_conf=0.9
    )
    assert green.behaviour == "follow_lane" and green.x[-1] > 35.0


def test_light_memory_only_after_a_recent_red():
    route = straight_route(stop_lines=[30.0])
    never_red = plan_frames(Planner(CAR_EMB, route), road_grid(), 1, speed=8.0, light=LightState.NONE)
    assert never_red.x[-1] > 35.0  # the map alone never stops us
    planner = Planner(CAR_EMB, route)
    plan_frames(planner, road_grid(), 1, speed=8.0, light=LightState.RED, light_conf=0.9)
    unsure = planner.plan(
        perception(road_grid(), 2 * FRAME_NS, LightState.GREEN, 0.2), ego(2 * FRAME_NS, speed=8.0)
    )
    assert unsure.behaviour == "stop_red_light"  # low-confidence green right after red: keep stopping
    late = 2 * FRAME_NS + int(6e9)
    gone = planner.plan(perception(road_grid(), late, LightState.NONE, 0.0), ego(late, speed=8.0))
    assert gone.behaviour == "follow_lane"


def test_yellow_stops_only_when_it_can():
    route = straight_route(stop_lines=[40.0])
    far = plan_frames(
        Planner(CAR_EMB, route), road_grid(), 1, speed=10.0, light=LightState.YELLOW, light_conf=0.9
    )
    assert far.behaviour == "stop_red_light"
    near = plan_frames(
        Planner(CAR_EMB, straight_route(stop_lines=[10.0])),
        road_grid(),
        1,
        speed=14.0,
        light=LightState.YELLOW,
        light_conf=0.9,
    )
    assert near.behaviour != "stop_red_light" and near.x[-1] > 10.0


def test_pedestrian_in_corridor_yields_and_goes_when_clear():
    grid = put_box(road_grid(), Cls.PEDESTRIAN, 20.0, 20.5, -0.3, 0.2)
    planner = Planner(CAR_EMB, straight_route(adjacent=[3.5]))
    tr = plan_frames(planner, grid, 1, speed=8.0)
    assert tr.behaviour == "yield_pedestrian"
    assert_can_stop_before(tr, CAR_EMB, 20.0 - 3.0)  # ped_yield_distance
    near_edge = put_box(road_grid(), Cls.PEDESTRIAN, 20.0, 20.5, 1.6, 2.1)  # beside the lane, within margin
    assert (
        plan_frames(Planner(CAR_EMB, straight_route()), near_edge, 1, speed=8.0).behaviour
        == "yield_pedestrian"
    )
    far_side = put_box(road_grid(), Cls.PEDESTRIAN, 20.0, 20.5, 6.0, 6.5)  # on the sidewalk, away
    assert plan_frames(Planner(CAR_EMB, straight_route()), far_side, 1, speed=8.0).behaviour == "follow_lane"


def test_lead_vehicle_braking_keeps_gap():
    """A lead at 8 m/s then braking at 6 m/s²: the planned trajectory never closes the gap."""
    planner = Planner(CAR_EMB, straight_route(speed_limit=12.0))
    lead_x, lead_v, ego_x, ego_v = 25.0, 8.0, 0.0, 8.0
    dt = FRAME_NS * 1e-9
    for k in range(200):
        stamp = (k + 1) * FRAME_NS
        t = stamp * 1e-9
        rel = lead_x - ego_x
        grid = put_box(road_grid(), Cls.VEHICLE, rel, rel + 4.5, -0.9, 0.9)
        tr = planner.plan(perception(grid, stamp), ego(stamp, x=ego_x, speed=ego_v))
        # Follow the plan exactly (perfect tracking) to isolate the planner.
        ego_x = float(np.interp(dt, tr.t, tr.x))
        ego_v = float(np.interp(dt, tr.t, tr.speed))
        lead_v = lead_v if t < 3.0 else max(lead_v - 6.0 * dt, 0.0)
        lead_x += lead_v * dt
        gap = lead_x - (ego_x + CAR_EMB.rear_to_center + CAR_EMB.length / 2)
        assert gap > 1.0, f"gap {gap:.2f} m at t={t:.2f}s"
    assert tr.behaviour in ("follow_lead", "stop_for_obstacle") and ego_v < 0.1
    assert gap < 6.0  # stopped close behind it, not far back


def test_blocked_everywhere_close_ahead_falls_back():
    grid = put_box(road_grid(), Cls.VEHICLE, 4.0, 12.0, -10.0, 10.0)  # wall 0.4 m ahead of the bumper
    tr = plan_frames(Planner(CAR_EMB, straight_route(adjacent=[3.5])), grid, 1, speed=10.0)
    assert tr.fallback and tr.behaviour == "fallback_stop"
    acc = np.diff(tr.speed) / np.diff(tr.t)
    assert acc.min() == pytest.approx(-CAR_EMB.max_decel) and tr.speed[-1] == 0.0


def test_unknown_ahead_caps_speed_but_unknown_far_does_not():
    blind = road_grid()
    blind.classes[:, 40:] = blind.UNKNOWN  # only 10 m seen
    tr = plan_frames(Planner(CAR_EMB, straight_route(speed_limit=14.0)), blind, 1, speed=6.0)
    assert tr.speed.max() <= np.sqrt(2 * CAR_EMB.comfort_decel * 10.0) + 0.5
    nothing = road_grid()
    nothing.classes[:] = nothing.UNKNOWN
    stop = plan_frames(Planner(CAR_EMB, straight_route()), nothing, 1, speed=6.0)
    assert stop.speed[-1] == 0.0


def test_low_frame_confidence_falls_back():
    planner = Planner(CAR_EMB, straight_route())
    tr = planner.plan(perception(road_grid(), 1, confidence=0.1), ego(1, speed=5.0))
    assert tr.fallback


def test_goal_stop():
    tr = plan_frames(Planner(CAR_EMB, straight_route(goal_s=30.0)), road_grid(), 1, speed=8.0)
    limit = 30.0 + PlannerParams().goal_stop_offset
    assert tr.x.max() <= limit + 1e-6
    assert tr.x[-1] + tr.speed[-1] ** 2 / (2 * CAR_EMB.comfort_decel) <= limit + 1e-6


def test_humanoid_same_code_small_footprint_low_speed():
    # The humanoid's routes cap it at 2.5 m/s, below its embodiment limit (3.5 m/s admits its surges):
    # the plan reaches the lower of the two.
    route = straight_route(speed_limit=2.5)
    assert HUMANOID_EMB.max_speed > 2.5
    tr = plan_frames(Planner(HUMANOID_EMB, route), road_grid(), 1, speed=0.0)
    assert tr.speed.max() == pytest.approx(2.5, abs=0.05)
    grid = put_box(road_grid(), Cls.OBSTACLE, 6.0, 6.5, -0.4, 0.4)
    stop = plan_frames(Planner(HUMANOID_EMB, route), grid, 1, speed=2.0)
    assert stop.behaviour == "stop_for_obstacle" and stop.speed[-1] == 0.0
    assert_no_overlap(stop, grid, HUMANOID_EMB)
    # A gap far too narrow for the car is enough for the humanoid.
    narrow = put_box(road_grid(), Cls.OBSTACLE, 6.0, 6.5, 0.8, 3.0)  # 1.6 m wide gap
    narrow = put_box(narrow, Cls.OBSTACLE, 6.0, 6.5, -3.0, -0.8)
    assert plan_frames(Planner(HUMANOID_EMB, route), narrow, 1, speed=1.0).x[-1] > 7.0
    assert plan_frames(Planner(CAR_EMB, route), narrow, 1, speed=1.0).x[-1] < 6.0


def test_deterministic_and_validates_input():
    grid = put_box(road_grid(), Cls.OBSTACLE, 30.0, 31.0, -0.8, 0.8)
    a = plan_frames(Planner(CAR_EMB, straight_route(adjacent=[3.5])), grid, 3, speed=8.0)
    b = plan_frames(Planner(CAR_EMB, straight_route(adjacent=[3.5])), grid, 3, speed=8.0)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.speed, b.speed)
    planner = Planner(CAR_EMB, straight_route())
    planner.plan(perception(road_grid(), 10 * FRAME_NS), ego(10 * FRAME_NS))
    with pytest.raises(ValueError, match="increase"):
        planner.plan(perception(road_grid(), 9 * FRAME_NS), ego(9 * FRAME_NS))
    with pytest.raises(ValueError, match="stamp"):
        planner.plan(perception(road_grid(), 20 * FRAME_NS), ego(0))


def test_pedestrian_waiting_at_the_kerb_slows_but_does_not_stop_us():
    grid = put_box(road_grid(), Cls.PEDESTRIAN, 15.0, 15.5, -3.3, -2.8)
    planner = Planner(CAR_EMB, straight_route())
    tr = plan_frames(planner, grid, 30, speed=8.0)  # standing still for 1.5 s: no predicted motion
    assert tr.behaviour == "follow_lane"
    passing = (tr.x + CAR_EMB.rear_to_center + CAR_EMB.length / 2 > 13.0) & (tr.x < 16.0)
    assert np.all(tr.speed[passing] <= PlannerParams().ped_caution_speed + 1e-6)
    assert tr.x[-1] > 20.0


def test_red_needs_less_confidence_than_green():
    route = straight_route(stop_lines=[30.0])
    weak_red = plan_frames(
        Planner(CAR_EMB, route), road_grid(), 1, speed=8.0, light=LightState.RED, light_conf=0.3
    )
    assert weak_red.behaviour == "stop_red_light"
    planner = Planner(CAR_EMB, route)
    plan_frames(planner, road_grid(), 1, speed=8.0, light=LightState.RED, light_conf=0.9)
    stamp = 2 * FRAME_NS
    weak_green = planner.plan(perception(road_grid(), stamp, LightState.GREEN, 0.3), ego(stamp, speed=8.0))
    assert weak_green.behaviour == "stop_red_light"  # a weak green does not release a red


@pytest.mark.parametrize("cls", [Cls.VEHICLE, Cls.OBSTACLE])
def test_blocker_beyond_the_goal_does_not_stop_us_short_of_it(cls):
    # Regression (car_lane_follow seed 4): the road's end ~14 m ahead read as a vehicle; the 10 m
    # overtake gap then held the stopped ego 1 m short of the goal for good. A blocker beyond the goal
    # is never passed, so only the standstill gap applies — and that gap is still kept.
    goal = 1.5
    grid = put_box(road_grid(), cls, 13.5, 15.0, -1.5, 1.5)
    planner = Planner(CAR_EMB, straight_route(adjacent=[3.5], goal_s=goal))
    tr = plan_frames(planner, grid, 3, speed=0.0)
    assert not tr.fallback
    assert tr.x.max() >= goal, f"plan ends at {tr.x.max():.2f}, short of the goal {goal}"
    assert_can_stop_before(tr, CAR_EMB, 13.5 - PlannerParams().min_gap)
    assert_no_overlap(tr, grid, CAR_EMB)


def test_blocker_before_the_goal_still_keeps_the_overtake_gap():
    # The same blocker with the goal beyond it: stand back (overtake gap) so the ego can steer around.
    grid = put_box(road_grid(), Cls.VEHICLE, 20.0, 21.5, -1.5, 1.5)
    planner = Planner(CAR_EMB, straight_route(adjacent=[3.5], goal_s=100.0))
    tr = plan_frames(planner, grid, 1, speed=0.0)
    front = tr.x + CAR_EMB.rear_to_center + CAR_EMB.length / 2
    assert front.max() <= 20.0 - PlannerParams().overtake_gap + 1e-6


def test_static_blocker_close_ahead_detours_even_if_the_adjacent_lane_is_not_free_far_ahead():
    # Regression (car_static_obstacle seed 9): stopped 9 m behind a parked car with a few vehicle
    # cells 20 m ahead in the adjacent lane, every detour could only creep forward before stopping
    # again, and the route-lane preference (lateral cost) made standing still forever the cheapest.
    grid = put_box(road_grid(), Cls.OBSTACLE, 9.0, 13.5, -1.0, 1.0)
    grid = put_box(grid, Cls.VEHICLE, 20.0, 21.0, 2.0, 3.0)
    planner = Planner(CAR_EMB, straight_route(adjacent=[3.5]))
    tr = plan_frames(planner, grid, 3, speed=0.0)
    assert not tr.fallback
    assert tr.behaviour == "change_lane" and tr.y.max() > 1.0
    assert tr.x.max() + CAR_EMB.rear_to_center + CAR_EMB.length / 2 < 20.0  # still stops before them
    assert_no_overlap(tr, grid, CAR_EMB)


def test_lead_tracker_static_clock_survives_single_frame_blips():
    # Regression (car_static_obstacle seed 9): the parked car vanished from the lane for one frame
    # about once a second (something farther became the "lead"), which restarted the static clock, so
    # the car was never confirmed static and never overtaken.
    from planning.behaviour import LeadTracker

    tracker = LeadTracker(PlannerParams())
    stamps = [(k + 1) * FRAME_NS for k in range(60)]  # ~3 s
    for k, stamp in enumerate(stamps):
        s = 30.0
        if k % 20 == 10:
            s = 48.0  # one-frame jump farther away
        if k % 20 == 15:
            s = None  # one-frame dropout
        tracker.update(stamp, s)
    assert tracker.static_for(stamps[-1]) > 2.5
    # Two frames in a row are a real change; a nearer object resets at once (cautious side).
    tracker.update(stamps[-1] + FRAME_NS, None)
    tracker.update(stamps[-1] + 2 * FRAME_NS, None)
    assert tracker.static_for(stamps[-1] + 2 * FRAME_NS) == 0.0
    tracker.update(stamps[-1] + 3 * FRAME_NS, 30.0)
    tracker.update(stamps[-1] + 4 * FRAME_NS, 20.0)
    assert len(tracker.history) == 1 and tracker.history[0][1] == 20.0


@pytest.mark.parametrize("short_by", [0.05, 0.1, 0.3])
def test_standing_just_short_of_the_goal_drives_on_to_it(short_by):
    """Issue 24 item 8 (car_lane_follow ended at route completion 0.9997 with time_limit on some seeds): at
    rest a few centimetres before the goal, standing still cost less than the short hop to the stop point
    goal_stop_offset past it, so the car never arrived. A plan that ends short of the goal is a dead end."""
    goal = 20.0
    planner = Planner(CAR_EMB, straight_route(goal_s=goal))
    tr = plan_frames(planner, road_grid(), 3, speed=0.0, x=goal - short_by)
    assert not tr.fallback
    assert float(tr.speed.max()) > 0.2, "the plan stands still short of the goal"
    assert tr.x.max() >= goal

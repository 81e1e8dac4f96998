"""return_past_goal: a body that cannot stop walks back to a goal it passed; the car's default is off."""

import numpy as np

from planning.params import PlannerParams
from planning.planner import Planner
from tests.planning.helpers import CAR_EMB, FRAME_NS, HUMANOID_EMB, ego, perception, road_grid, straight_route


def test_past_the_goal_the_plan_walks_straight_back_to_it():
    params = PlannerParams(return_past_goal=0.5, goal_stop_offset=0.5)
    planner = Planner(HUMANOID_EMB, straight_route(length=20.0, speed_limit=2.5, goal_s=10.0), params)
    # 1.5 m past the goal, 1.2 m to its side, facing away from it
    tr = planner.plan(perception(road_grid(), FRAME_NS), ego(FRAME_NS, x=11.5, y=1.2, speed=2.4))
    assert tr.behaviour == "return_to_goal" and not tr.fallback
    assert (tr.x[0], tr.y[0]) == (11.5, 1.2)
    assert np.hypot(tr.x[-1] - 10.0, tr.y[-1]) < 1e-9
    assert np.all(np.diff(tr.t) > 0) and np.all(tr.speed > 0)


def test_before_the_goal_and_for_the_car_nothing_changes():
    route = straight_route(length=20.0, speed_limit=2.5, goal_s=10.0)
    near = Planner(HUMANOID_EMB, route, PlannerParams(return_past_goal=0.5)).plan(
        perception(road_grid(), FRAME_NS), ego(FRAME_NS, x=10.8, speed=1.0)
    )
    assert near.behaviour != "return_to_goal"  # within goal_stop_offset + return_past_goal
    assert PlannerParams().return_past_goal == 0.0  # the car's tuning: stop, never turn back
    car = Planner(CAR_EMB, straight_route(length=60.0, goal_s=30.0)).plan(
        perception(road_grid(), FRAME_NS), ego(FRAME_NS, x=40.0, speed=0.0)
    )
    assert car.behaviour != "return_to_goal"

"""The humanoid as the Simulation's ego: time grid, sensors, ground-truth metrics, scenario hosting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contracts import clock
from contracts.messages import JointEffortCommand
from contracts.semantics import Tag
from planning.locomotion import LocomotionController
from planning.path_follow import POLICY_MAX_EFFORT, PathFollowParams, PathLocomotion, target_on_path
from planning.types import Trajectory
from sim.engine import Simulation
from sim.hosting import all_scenario_names, embodiment_of, open_simulation
from sim.humanoid import GEARS, POWER
from sim.humanoid_sim import HumanoidSimulation
from sim.scenarios import SCENARIO_NAMES

CAR_KEYS = {
    "scenario", "seed", "success", "collisions", "red_light_violations", "route_completion",
    "offroad_time_s", "min_ttc_s", "max_abs_accel", "max_abs_jerk", "sim_time_s", "safe_stop",
    "events", "done_reason",
}  # fmt: skip


def _efforts(controller, proprio, target) -> JointEffortCommand:
    a = controller.step(proprio, target)
    return JointEffortCommand(proprio.stamp_ns, tuple(np.asarray(POLICY_MAX_EFFORT) * np.clip(a, -1, 1)))


def test_hosting_picks_the_embodiment_by_scenario_name():
    assert set(SCENARIO_NAMES) < set(all_scenario_names())
    assert {"humanoid_goals", "humanoid_push"} <= set(all_scenario_names())
    assert embodiment_of("car_red_light") == "car" and embodiment_of("humanoid_goals") == "humanoid"
    with pytest.raises(ValueError, match="unknown scenario"):
        embodiment_of("humanoid_dance")
    with open_simulation("humanoid_goals", 0, render_frames=False) as sim:
        assert isinstance(sim, HumanoidSimulation)
    with open_simulation("car_lane_follow", 0, render_frames=False) as sim:
        assert isinstance(sim, Simulation)
    # the car's list is unchanged: perception's dataset cycles through it by seed
    assert not any(n.startswith("humanoid") for n in SCENARIO_NAMES)


def test_time_grid_one_control_period_per_advance_camera_every_third():
    with HumanoidSimulation("humanoid_goals", 1) as sim:
        first = sim.advance(None)
        assert first.clock_ns == 0 and first.camera is not None and first.camera.stamp_ns == 0
        assert len(first.odometry) == len(first.imu) == len(first.proprioception) == 1
        cameras = []
        for k in range(1, 7):
            b = sim.advance(None)
            assert b.clock_ns == k * clock.CONTROL_PERIOD_NS
            assert b.proprioception[0].stamp_ns == b.odometry[0].stamp_ns == b.clock_ns
            cameras.append(b.camera is not None)
        assert cameras == [False, False, True, False, False, True]


def test_its_own_camera_tags_the_body_as_ego():
    with HumanoidSimulation("humanoid_goals", 2, render_ground_truth=True) as sim:
        assert sim.world.tag_lut()[sim.body.body_id + 1] == int(Tag.EGO)
        # look straight down from the head: the torso and legs fill the view
        eye, _ = sim.body.head_camera_pose(sim.camera_model)
        from sim.camera import _rot_zyx, render

        frame = render(
            sim._client, sim.camera_model, eye, _rot_zyx(0.0, math.radians(80), 0.0), sim.palette,
            sim.world.tag_lut(), 0, True,
        )  # fmt: skip
        assert (frame.tags == int(Tag.EGO)).mean() > 0.05


def test_walking_on_ground_truth_reaches_the_goals_and_reports_car_fields(policy):
    controller = LocomotionController(policy)
    with HumanoidSimulation("humanoid_goals", 0, render_frames=False) as sim:
        cmd = None
        while True:
            b = sim.advance(cmd)
            if sim.done:
                break
            cmd = _efforts(controller, b.proprioception[0], sim.spec.goals[sim.goal_index])
        r = sim.result()
    assert set(r) >= CAR_KEYS
    assert r["done_reason"] == "goal_reached" and r["success"]
    assert r["goals_reached"] == r["goals_total"] == len(sim.spec.goals)
    assert r["collisions"] == 0 and r["falls"] == 0 and r["route_completion"] == 1.0
    assert [e["goal"] for e in r["events"] if e["kind"] == "goal_reached"] == list(range(r["goals_total"]))


def test_a_limp_body_falls_and_the_run_ends():
    with HumanoidSimulation("humanoid_goals", 3, render_frames=False) as sim:
        sim.advance(None)
        while not sim.done:
            sim.advance(JointEffortCommand(0, (0.0,) * 17))
        r = sim.result()
    assert r["falls"] == 1 and r["recoveries"] == 0 and not r["success"]
    assert r["done_reason"] == "fallen"
    assert r["sim_time_s"] < 10.0


def test_walking_into_an_obstacle_is_a_collision(policy):
    controller = LocomotionController(policy)
    with HumanoidSimulation("humanoid_goals", 4, render_frames=False, time_limit_s=8.0) as sim:
        sx, sy = sim.spec.start[:2]
        o = min(
            (o for o in sim.spec.obstacles if o.kind == "box"), key=lambda o: math.hypot(o.x - sx, o.y - sy)
        )
        # aim 5 m beyond the nearest box, straight through it
        d = math.hypot(o.x - sx, o.y - sy)
        target = (o.x + 5 * (o.x - sx) / d, o.y + 5 * (o.y - sy) / d)
        cmd = None
        while not sim.done and sim.collisions == 0:
            b = sim.advance(cmd)
            cmd = _efforts(controller, b.proprioception[0], target)
        r = sim.result()
    assert r["collisions"] >= 1 and not r["success"]
    assert any(e["kind"] == "collision" for e in r["events"])
    assert r["min_ttc_s"] == 0.0


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown humanoid scenario"):
        HumanoidSimulation("car_lane_follow", 0)
    with HumanoidSimulation("humanoid_goals", 0, render_frames=False) as sim:
        sim.advance(None)
        with pytest.raises(ValueError, match="effort must have shape"):
            sim.advance(JointEffortCommand(0, (1.0, 2.0)))
        with pytest.raises(ValueError, match="finite"):
            sim.advance(JointEffortCommand(0, (math.nan,) * 17))
    with pytest.raises(RuntimeError, match="closed"):
        sim.advance(None)


def test_push_scenario_throws_boxes(policy):
    controller = LocomotionController(policy)
    with HumanoidSimulation("humanoid_push", 5, render_frames=False, time_limit_s=8.0) as sim:
        cmd = None
        while True:
            b = sim.advance(cmd)
            if sim.done:
                break
            cmd = _efforts(controller, b.proprioception[0], sim.spec.goals[sim.goal_index])
        r = sim.result()
    assert r["boxes_thrown"] >= 1
    assert any(e["kind"] == "box_thrown" for e in r["events"])


def test_route_map_is_the_leg_to_the_next_goal():
    with HumanoidSimulation("humanoid_goals", 6, render_frames=False) as sim:
        chain = [sim.spec.start[:2], *sim.spec.goals]
        for k in range(len(sim.spec.goals)):
            assert sim.route_version == k
            route = np.asarray(sim.route_map()["centerline"])
            assert np.allclose(route[0], chain[k], atol=1e-3) and np.allclose(
                route[-1], chain[k + 1], atol=1e-3
            )
            assert np.max(np.hypot(*np.diff(route, axis=0).T)) <= 1.0 + 1e-9
            sim.agent.goal_index += 1  # as if the goal had been reached
        assert sim.route_version == len(sim.spec.goals) - 1  # the last leg stays


# --- planning.path_follow ---------------------------------------------------------------------------


def test_target_on_path_walks_lookahead_from_the_nearest_point():
    x, y = np.array([0.0, 4.0, 4.0]), np.array([0.0, 0.0, 4.0])
    assert target_on_path(x, y, (1.0, 0.3), 2.0) == pytest.approx((3.0, 0.0))
    assert target_on_path(x, y, (3.5, -0.2), 2.0) == pytest.approx((4.0, 1.5))
    assert target_on_path(x, y, (4.0, 3.5), 2.0) == pytest.approx((4.0, 4.0))  # clamped to the end
    assert target_on_path(x[:1], y[:1], (9.0, 9.0), 2.0) == (0.0, 0.0)
    with pytest.raises(ValueError):
        target_on_path([], [], (0, 0), 1.0)


def test_effort_limits_are_the_bodys_motors():
    assert np.array_equal(np.asarray(POLICY_MAX_EFFORT), POWER * np.asarray(GEARS, dtype=float))
    with pytest.raises(ValueError, match="unknown locomotion parameter"):
        PathFollowParams.from_dict({"look_ahead": 1.0})
    with pytest.raises(ValueError, match="17 positive"):
        PathFollowParams.from_dict({"max_effort": [1.0, 2.0]})


def test_path_locomotion_steers_by_the_path(policy):
    """Walking a straight path north-east gets the body there (no camera, no planner)."""
    loco = PathLocomotion(PathFollowParams(lookahead=2.0), LocomotionController(policy))
    path = Trajectory(
        0, np.arange(30.0), np.arange(30.0) * 0.5, np.arange(30.0) * 0.5, np.zeros(30), np.ones(30)
    )
    with HumanoidSimulation("humanoid_goals", 7, render_frames=False, time_limit_s=6.0) as sim:
        start = np.asarray(sim.spec.start[:2])
        path = Trajectory(0, path.t, path.x + start[0], path.y + start[1], path.yaw, path.speed)
        loco.set_path(path)
        cmd = None
        while True:
            b = sim.advance(cmd)
            if sim.done or sim.t >= 5.0:
                break
            cmd = JointEffortCommand(b.clock_ns, tuple(loco.step(b.proprioception[0])))
        end = np.asarray(b.proprioception[0].parts_mean_xy) - start
    assert end[0] > 3.0 and end[1] > 3.0 and abs(end[0] - end[1]) < 1.5

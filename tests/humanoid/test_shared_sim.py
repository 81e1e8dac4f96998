"""Car and humanoid in one world (sim/shared_sim.py): layout, both cameras' tags, one clock, collisions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contracts import clock
from contracts.messages import DriveCommand, JointEffortCommand
from contracts.semantics import Tag
from planning.locomotion import LocomotionController
from planning.path_follow import POLICY_MAX_EFFORT
from sim.hosting import embodiment_of, open_simulation
from sim.shared_sim import SharedSimulation


def test_layout_puts_the_humanoids_goals_across_the_cars_road():
    with SharedSimulation("shared_crossing", 0, render_frames=False) as sim:
        assert embodiment_of("shared_crossing") == "shared"
        assert sim.spec.pedestrians == [] and len(sim.spec.crosswalks) == 1
        kerb, across, _ = sim.humanoid.goals
        road = sim.spec.roads[0]
        _, lat_kerb = road.reference.project(*kerb)
        _, lat_across = road.reference.project(*across)
        assert lat_kerb * lat_across < 0  # opposite sides of the road
        assert min(abs(lat_kerb), abs(lat_across)) > road.half_width  # both on the sidewalks
        with SharedSimulation("shared_crossing", 0, render_frames=False) as again:  # same seed, same layout
            assert again.humanoid.goals == sim.humanoid.goals
            assert np.array_equal(again.spec.route.points, sim.spec.route.points)


def test_one_clock_both_robots_sensors_and_their_own_ego_tags():
    with open_simulation("shared_crossing", 1, render_ground_truth=True) as sim:
        first = sim.advance()
        assert first.car.camera is not None and first.humanoid.camera is not None
        assert first.car.camera.stamp_ns == first.humanoid.camera.stamp_ns == 0
        stamps = []
        for _ in range(3):
            b = sim.advance(DriveCommand(0, 0.0, 0.0), None)
            stamps.append((b.clock_ns, b.car.camera is not None, b.humanoid.camera is not None))
        assert stamps == [
            (clock.CONTROL_PERIOD_NS, False, False),
            (2 * clock.CONTROL_PERIOD_NS, False, False),
            (3 * clock.CONTROL_PERIOD_NS, True, True),
        ]
        assert b.humanoid.proprioception[0].stamp_ns == b.car.odometry[0].stamp_ns == b.clock_ns
        # the car's camera sees the humanoid as a pedestrian; the humanoid's sees the car as a vehicle
        lut = sim.world.tag_lut()
        assert lut[sim.humanoid.body.body_id + 1] == int(Tag.PEDESTRIAN)
        assert lut[sim.world.ego_id + 1] == int(Tag.EGO)
        # put the humanoid 12 m ahead of the car, facing it: each sees the other
        x, y, h = sim.spec.route.sample(sim.spec.ego_start_s + 12.0)
        sim.humanoid.body.reset(x, y, h + math.pi, np.random.default_rng(0))
        car_view = sim.render_camera(ground_truth=True)
        humanoid_view = sim.render_humanoid_camera(ground_truth=True)
        assert (car_view.tags == int(Tag.PEDESTRIAN)).sum() > 20
        assert (humanoid_view.tags == int(Tag.VEHICLE)).sum() > 20
        assert not (humanoid_view.tags == int(Tag.PEDESTRIAN)).any()


def test_the_car_hitting_the_humanoid_is_a_collision_of_both():
    with SharedSimulation("shared_crossing", 2, render_frames=False) as sim:
        x, y, h = sim.spec.route.sample(sim.spec.ego_start_s + 8.0)
        sim.humanoid.body.reset(x, y, h, np.random.default_rng(0))
        sim.advance()
        while not sim.done:
            sim.advance(DriveCommand(sim.stamp_ns, 8.0, 0.0), None)
        r = sim.result()
    assert r["done_reason"] == "collision" and not r["success"] and not r["car_success"]
    assert r["collisions"] >= 2 and r["humanoid_collisions"] >= 1
    assert {e["robot"] for e in r["events"] if e["kind"] == "collision"} == {"car", "humanoid"}


def test_the_humanoid_walks_its_mission_in_the_shared_world(policy):
    controller = LocomotionController(policy)
    with SharedSimulation("shared_crossing", 3, render_frames=False, time_limit_s=30.0) as sim:
        h = sim.humanoid
        cmd = None
        while not sim.done and not h.finished:
            b = sim.advance(DriveCommand(0, 0.0, 0.0), cmd)  # the car waits at its start
            pr = b.humanoid.proprioception[0]
            a = controller.step(pr, h.goals[min(h.goal_index, len(h.goals) - 1)])
            cmd = JointEffortCommand(pr.stamp_ns, tuple(np.asarray(POLICY_MAX_EFFORT) * np.clip(a, -1, 1)))
        r = sim.result()
    assert r["goals_reached"] == r["goals_total"] == 3 and r["humanoid_collisions"] == 0
    assert r["humanoid_success"] and not r["car_success"]  # the car never moved
    assert r["done_reason"] == ""  # not done: the car has not reached its goal yet


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match="unknown shared scenario"):
        SharedSimulation("car_lane_follow", 0)


def test_the_cars_perception_sees_the_humanoid_as_a_pedestrian():
    """The shipped segmentation model on the car's camera, the humanoid standing 8 m ahead across the lane."""
    from perception.classes import Cls
    from perception.pipeline import Perceiver

    with SharedSimulation("shared_crossing", 9, render_ground_truth=True) as sim:
        perceiver = Perceiver(sim.camera_model)
        x, y, h = sim.spec.route.sample(sim.spec.ego_start_s + 11.6)
        sim.humanoid.body.reset(x, y, h + math.pi / 2, np.random.default_rng(0))
        frame = sim.render_camera(ground_truth=True)
        perceiver.process(0, frame.rgb)
        mask = frame.tags == int(Tag.PEDESTRIAN)
        assert mask.sum() > 20
        assert (perceiver.last_classes[mask] == int(Cls.PEDESTRIAN)).mean() > 0.5

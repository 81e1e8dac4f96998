"""World building, rendering and determinism of the sim package."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contracts import scenarios
from contracts.messages import DriveCommand
from contracts.semantics import Tag
from sim.engine import Simulation
from sim.scenarios import SCENARIO_NAMES


def _drive(sim: Simulation, n: int, speed: float = 6.0, yaw_rate: float = 0.0):
    batch = sim.advance(None)
    for _ in range(n):
        batch = sim.advance(DriveCommand(batch.clock_ns, speed, yaw_rate))
    return batch


def test_every_car_world_has_one_registry_entry_and_back():
    assert scenarios.names("car") == SCENARIO_NAMES
    assert set(SCENARIO_NAMES) == {
        "car_lane_follow",
        "car_static_obstacle",
        "car_red_light",
        "car_pedestrian_crossing",
        "car_lead_vehicle",
        "car_park_and_lend",
        "car_stalled_vehicle",
        "car_construction_zone",
    }


def test_unknown_scenario_lists_valid_names():
    with pytest.raises(ValueError, match="car_lane_follow"):
        Simulation("car_flying", 0)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
@pytest.mark.parametrize("seed", [0, 1, -5, 2**40, 2**70])
def test_every_scenario_builds(name, seed):
    with Simulation(name, seed, render_frames=False) as sim:
        rm = sim.route_map()
        json.dumps(rm)
        assert len(rm["centerline"]) > 100
        assert 120.0 <= rm["goal_s"] <= 250.0
        batch = sim.advance(None)
        assert batch.odometry[0].stamp_ns == 0


def test_same_seed_same_everything():
    def run():
        with Simulation("car_pedestrian_crossing", 7, render_ground_truth=True, odom_noise=0.2) as sim:
            b = _drive(sim, 8)
            return b, json.dumps(sim.result(), sort_keys=True), sim.route_map()

    b1, r1, m1 = run()
    b2, r2, m2 = run()
    assert np.array_equal(b1.camera.rgb, b2.camera.rgb)
    assert np.array_equal(b1.camera.tags, b2.camera.tags)
    assert b1.odometry == b2.odometry
    assert r1 == r2 and m1 == m2


def test_different_seeds_differ():
    with Simulation("car_lane_follow", 1) as a, Simulation("car_lane_follow", 2) as b:
        assert a.route_map() != b.route_map()


def test_ground_truth_flag_does_not_change_rgb_or_physics():
    with (
        Simulation("car_lead_vehicle", 3) as plain,
        Simulation("car_lead_vehicle", 3, render_ground_truth=True) as gt,
    ):
        bp, bg = _drive(plain, 5), _drive(gt, 5)
        assert bp.camera.tags is None and bp.camera.depth_m is None
        assert bg.camera.tags is not None and bg.camera.depth_m is not None
        assert np.array_equal(bp.camera.rgb, bg.camera.rgb)
        assert bp.odometry == bg.odometry


def test_appearance_seed_changes_look_not_geometry():
    with Simulation("car_lane_follow", 4) as a, Simulation("car_lane_follow", 4, appearance_seed=11) as b:
        fa, fb = a.render_camera(), b.render_camera()
        assert a.route_map() == b.route_map()
        assert np.array_equal(fa.tags, fb.tags)
        assert not np.array_equal(fa.rgb, fb.rgb)


def test_advance_time_grid():
    with Simulation("car_lane_follow", 0) as sim:
        b0 = sim.advance(None)
        assert b0.camera.stamp_ns == 0 and [o.stamp_ns for o in b0.odometry] == [0]
        b1 = sim.advance(DriveCommand(0, 1.0, 0.0))
        assert [o.stamp_ns for o in b1.odometry] == [16_500_000, 33_000_000, 49_500_000]
        assert [i.stamp_ns for i in b1.imu] == [16_500_000, 33_000_000, 49_500_000]
        assert b1.camera.stamp_ns == 49_500_000 == b1.clock_ns == sim.stamp_ns
        assert b1.camera.rgb.shape == (120, 160, 3) and b1.camera.rgb.dtype == np.uint8


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("car_lane_follow", {Tag.ROAD, Tag.LANE_MARKING, Tag.SIDEWALK, Tag.BACKGROUND, Tag.EGO}),
        ("car_lead_vehicle", {Tag.VEHICLE}),
        ("car_static_obstacle", {Tag.ROAD}),
        ("car_pedestrian_crossing", {Tag.PEDESTRIAN}),
        ("car_red_light", {Tag.TRAFFIC_LIGHT_RED}),
    ],
)
def test_tags_cover_expected_classes(name, expected):
    with Simulation(name, 0) as sim:
        spec = sim.spec
        if spec.stop_lines:
            sim.teleport_ego(spec.stop_lines[0].route_s - 15.0)
        if spec.pedestrians:
            sim.teleport_ego(spec.crosswalks[0].s - 15.0)
            sim.set_time(spec.pedestrians[0].trigger_time_s + 3.0)
        if spec.obstacles:
            sim.teleport_ego(spec.route.project(spec.obstacles[0].x, spec.obstacles[0].y)[0] - 15.0)
            expected = expected | {Tag.VEHICLE if spec.obstacles[0].kind == "parked_car" else Tag.OBSTACLE}
        tags = set(np.unique(sim.render_camera().tags).tolist())
        assert expected <= tags, f"missing {expected - tags}"


def test_traffic_light_tag_follows_phase():
    with Simulation("car_red_light", 0) as sim:
        sim.teleport_ego(sim.spec.stop_lines[0].route_s - 12.0)
        light = sim.spec.lights[0]
        t_green = light.phases[0][1] + 1.0
        sim.set_time(t_green)
        tags = set(np.unique(sim.render_camera().tags).tolist())
        assert Tag.TRAFFIC_LIGHT_GREEN in tags and Tag.TRAFFIC_LIGHT_RED not in tags


def test_pose_jitter_moves_the_view_and_is_validated():
    with Simulation("car_lane_follow", 0) as sim:
        a = sim.render_camera()
        b = sim.render_camera(pose_jitter=(0, 0, 0.3, 0.05, 0.05, 0.1))
        assert not np.array_equal(a.rgb, b.rgb)
        with pytest.raises(ValueError, match="6 values"):
            sim.render_camera(pose_jitter=(0, 0))


def test_several_simulations_coexist():
    with Simulation("car_lane_follow", 0) as a:
        ref = a.render_camera().rgb
        with Simulation("car_red_light", 5) as b:
            b.render_camera()
            assert np.array_equal(a.render_camera().rgb, ref)


def test_route_map_round_trips_through_planning_schema():
    from planning.types import RouteMap

    with Simulation("car_red_light", 2, render_frames=False) as sim:
        d = sim.route_map()
        rm = RouteMap.from_dict(json.loads(json.dumps(d)))
        assert rm.to_dict() == d
        assert len(rm.stop_lines) == 1 and rm.stop_lines[0].s < rm.goal_s
        spacing = np.hypot(*np.diff(rm.centerline, axis=0).T)
        assert spacing.min() > 0.9 and spacing.max() < 1.1


def test_same_seed_is_identical_across_processes():
    """ROS nodes run the sim in another process: the frame and metrics must not depend on the process."""
    import hashlib
    import subprocess
    import sys

    code = (
        "import hashlib, json\n"
        "from sim.engine import Simulation\n"
        "from contracts.messages import DriveCommand\n"
        "with Simulation('car_lead_vehicle', 9) as sim:\n"
        "    b = sim.advance(None)\n"
        "    for _ in range(10):\n"
        "        b = sim.advance(DriveCommand(b.clock_ns, 5.0, 0.05))\n"
        "    digest = hashlib.sha256(b.camera.rgb.tobytes()).hexdigest()\n"
        "    print(digest, json.dumps(sim.result(), sort_keys=True))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    with Simulation("car_lead_vehicle", 9) as sim:
        b = sim.advance(None)
        for _ in range(10):
            b = sim.advance(DriveCommand(b.clock_ns, 5.0, 0.05))
        here = (
            hashlib.sha256(b.camera.rgb.tobytes()).hexdigest()
            + " "
            + json.dumps(sim.result(), sort_keys=True)
        )
    assert out == here

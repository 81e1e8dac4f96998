"""The humanoid on the shared stack through ROS: the same perception and planning executables as the car
with other parameter files, a locomotion node, exact proprioception/effort conversions, and a short
lockstep run that is deterministic and walks towards its first goal."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fleetpilot_bringup.graphs import get_graph
from fleetpilot_nodes import conversions as conv

from contracts.messages import Proprioception
from fleetpilot.graph_runner import run_scenario


def _proprio(stamp: int = 123_456_789) -> Proprioception:
    rng = np.random.default_rng(0)
    lower = -np.linspace(0.5, 2.0, 17)
    return Proprioception(
        stamp_ns=stamp,
        joint_pos=rng.uniform(-0.5, 0.5, 17),
        joint_vel=rng.normal(size=17),
        joint_lower=lower,
        joint_upper=-lower * 0.5,
        torso_xyz=rng.normal(size=3),
        torso_rpy=rng.normal(size=3),
        torso_lin_vel=rng.normal(size=3),
        torso_ang_vel=rng.normal(size=3),
        parts_mean_xy=rng.normal(size=2),
        foot_contact=np.array([1.0, 0.0]),
    )


NAMES = tuple(f"j{i}" for i in range(17))


def test_proprioception_round_trips_exactly_through_joint_state():
    pr = _proprio()
    msg = conv.joint_state_from_proprioception(pr, NAMES)
    assert list(msg.name[:17]) == list(NAMES) and conv.stamp_of(msg) == pr.stamp_ns
    back = conv.proprioception_from_joint_state(msg, pr.joint_lower, pr.joint_upper)
    for field in ("joint_pos", "joint_vel", "torso_xyz", "torso_rpy", "torso_lin_vel", "parts_mean_xy"):
        assert np.array_equal(getattr(back, field), getattr(pr, field)), field
    assert np.array_equal(back.torso_ang_vel, pr.torso_ang_vel)
    assert np.array_equal(back.foot_contact, pr.foot_contact)


def test_joint_state_with_missing_entries_is_a_clear_error():
    pr = _proprio()
    msg = conv.joint_state_from_proprioception(pr, NAMES)
    msg.name = list(msg.name)[:-1]
    with pytest.raises(ValueError, match="joint_states must list 17 joints"):
        conv.proprioception_from_joint_state(msg, pr.joint_lower, pr.joint_upper)


def test_effort_command_round_trips_and_rejects_other_joints():
    effort = np.linspace(-40, 40, 17)
    msg = conv.joint_effort_to_msg(5_000, NAMES, effort)
    cmd = conv.joint_effort_from_msg(msg, NAMES)
    assert cmd.stamp_ns == 5_000 and np.array_equal(np.asarray(cmd.effort), effort)
    with pytest.raises(ValueError, match="must name exactly"):
        conv.joint_effort_from_msg(msg, tuple(reversed(NAMES)))


def test_humanoid_runs_the_cars_perception_and_planning_executables_with_other_files():
    car, humanoid = get_graph("car_sim"), get_graph("humanoid_sim")
    assert humanoid.namespace == "/humanoid"
    assert [n.name for n in humanoid.nodes] == ["sim", "perception", "planning", "locomotion"]
    for name in ("sim", "perception", "planning"):
        a, b = car.node(name), humanoid.node(name)
        assert (a.package, a.executable) == (b.package, b.executable)
        assert [p.name for p in a.parameters] == ["car.yaml"] and [p.name for p in b.parameters] == [
            "humanoid.yaml"
        ]


def test_locomotion_node_limits_are_the_bodys():
    from fleetpilot_nodes.locomotion_node import DEFAULT_LOWER, DEFAULT_UPPER

    from sim.humanoid_walk import FlatGround

    with FlatGround(0) as ground:
        assert ground.body.joint_lower.tolist() == DEFAULT_LOWER
        assert ground.body.joint_upper.tolist() == DEFAULT_UPPER


def _strip(result: dict) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "wall_time_s"}, sort_keys=True)


def test_short_humanoid_lockstep_run_is_deterministic_and_walks_to_its_goal():
    kwargs = dict(
        graph="humanoid_sim",
        embodiment_params="humanoid.yaml",
        overrides={"sim": {"time_limit_s": 2.5}},
        timeout_s=60,
    )
    a = run_scenario("humanoid_goals", 0, **kwargs)
    b = run_scenario("humanoid_goals", 0, **kwargs)
    assert not a.get("timed_out"), a
    assert a["frames"] >= int(2.5 / 0.0495)
    assert _strip(a) == _strip(b)
    # it walked along the route towards the first goal (2.4 m/s for ~2 s after standing up), upright
    assert a["route_completion"] > 0.08 and a["falls"] == 0 and a["collisions"] == 0
    assert a["done_reason"] == "time_limit" and a["goals_total"] >= 3
    assert math.isfinite(a["min_ttc_s"])


def test_shared_sim_is_one_sim_and_both_stacks_in_their_namespaces(tmp_path):
    from fleetpilot.launcher import node_commands

    g = get_graph("shared_sim")
    full = {n.key: n.full_namespace(g.namespace) for n in g.nodes}
    assert full == {
        "sim": "/",
        "car/perception": "/car",
        "car/planning": "/car",
        "car/control": "/car",
        "humanoid/perception": "/humanoid",
        "humanoid/planning": "/humanoid",
        "humanoid/locomotion": "/humanoid",
    }
    car, humanoid = get_graph("car_sim"), get_graph("humanoid_sim")
    for key, node in ((n.key, n) for n in g.nodes if n.namespace):
        alone = (car if node.namespace == "car" else humanoid).node(node.name)
        assert (node.executable, node.parameters) == (alone.executable, alone.parameters), key
    commands = dict(node_commands("shared_sim", {"sim": {"seed": 3}}, tmp_path))
    assert list(commands) == list(full)
    for key, argv in commands.items():
        assert f"__ns:={full[key]}" in argv


def test_a_node_namespace_must_be_relative(tmp_path):
    from fleetpilot_bringup.graphs import GraphError, load_graphs

    bad = tmp_path / "graphs.yaml"
    bad.write_text(
        "g:\n  namespace: /\n  nodes:\n    - {name: a, namespace: /car, package: p, executable: e}\n"
    )
    with pytest.raises(GraphError, match="namespace must be relative"):
        load_graphs(bad)
    bad.write_text(
        "g:\n  namespace: /\n  nodes:\n"
        "    - {name: a, namespace: car, package: p, executable: e}\n"
        "    - {name: a, namespace: car, package: p, executable: e}\n"
    )
    with pytest.raises(GraphError, match="duplicate node names"):
        load_graphs(bad)


def test_short_shared_lockstep_run_moves_both_robots_deterministically():
    kwargs = dict(
        graph="shared_sim", embodiment_params=None, overrides={"sim": {"time_limit_s": 1.5}}, timeout_s=60
    )
    a = run_scenario("shared_crossing", 1, **kwargs)
    b = run_scenario("shared_crossing", 1, **kwargs)
    assert not a.get("timed_out"), a
    assert _strip(a) == _strip(b)
    assert a["frames"] >= int(1.5 / 0.0495) and a["done_reason"] == "time_limit"
    assert a["route_completion"] > 0.0  # the car drove: its cmd_vel reached the one sim
    assert a["humanoid_route_completion"] > 0.0  # the humanoid walked: its efforts did too
    assert a["collisions"] == 0 and a["falls"] == 0

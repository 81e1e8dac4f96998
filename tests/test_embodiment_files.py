"""Each body's numbers exist once: its embodiment file (issue 19, acceptance 3).

The planner and controller (planning.params), the nodes' parameter defaults and the parameter files of
fleetpilot_bringup, and the simulated car (sim.world, sim.ego) must all see the file's values; the
loader refuses a file with a typo, a missing key or contradicting limits.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from contracts import embodiment
from planning.params import embodiment_for

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "ros_ws" / "src" / "fleetpilot_bringup" / "fleetpilot_bringup" / "config"
BODY_NODES = ("planning", "control")  # the nodes that take a `body`


def _body_node_sections():
    """(file, node, its ros__parameters) for every bringup section of a node that takes a body."""
    for path in sorted(CONFIG.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        if not isinstance(doc, dict):
            continue
        for key, section in doc.items():
            node = str(key).rsplit("/", 1)[-1]
            if node in BODY_NODES and isinstance(section, dict):
                yield path.name, node, section.get("ros__parameters", {})


def test_both_bodies_have_a_file_and_it_loads():
    assert {"car", "humanoid"} <= set(embodiment.known())
    for body in embodiment.known():
        spec = embodiment.load(body)
        assert spec.name == body


@pytest.mark.parametrize("where", list(_body_node_sections()), ids=lambda w: f"{w[0]}:{w[1]}")
def test_parameter_files_name_a_body_and_state_none_of_its_numbers(where):
    file, node, params = where
    assert params.get("body") in embodiment.known(), f"{file} {node}: no known body"
    assert "embodiment" not in params, f"{file} {node}: body numbers belong in contracts/embodiments/"
    # what the node and the direct runner build from that section is the file's body
    built = embodiment_for(params)
    assert built.__dict__ == embodiment.load(params["body"]).planning_fields()


def test_node_parameter_defaults_are_the_files_values():
    pytest.importorskip("rclpy")
    from fleetpilot_nodes import control_node, planning_node

    for body in embodiment.known():
        fields = embodiment.load(body).planning_fields()
        for module in (planning_node, control_node):
            spec = module.parameter_spec(body)
            assert {k: spec[f"embodiment.{k}"].default for k in fields} == fields


def test_the_simulated_car_is_the_cars_file():
    from sim import ego, world

    car = embodiment.load("car")
    assert (car.length, car.width, car.height) == (world.CAR_LENGTH, world.CAR_WIDTH, world.CAR_HEIGHT)
    assert (car.rear_overhang, car.wheelbase) == (world.CAR_REAR_OVERHANG, world.CAR_WHEELBASE)
    assert (
        car.wheelbase,
        car.max_steer,
        car.max_accel,
        car.max_decel,
    ) == (ego.WHEELBASE, ego.MAX_STEER, ego.MAX_ACCEL, ego.MAX_DECEL)
    assert car.max_speed < ego.MAX_SPEED  # the drivetrain admits what the planner may ask
    assert math.isclose(car.max_curvature, math.tan(car.max_steer) / car.wheelbase)


def test_each_simulated_body_is_commanded_as_its_file_says():
    """The sim node subscribes to what the file names; the simulations state which file is theirs."""
    from sim.engine import Simulation
    from sim.humanoid_sim import HumanoidSimulation

    assert embodiment.load(Simulation.embodiment).command == "cmd_vel"
    assert embodiment.load(HumanoidSimulation.embodiment).command == "joint_effort"


def _doc(body: str = "car") -> dict:
    return yaml.safe_load(embodiment.path_of(body).read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["footprint"].update(lenght=4.0), "unknown key"),
        (lambda d: d["limits"].pop("max_decel"), "missing key"),
        (lambda d: d["limits"].update(max_curvature=0.2), "exactly one"),
        (lambda d: d["limits"].update(max_speed=-1.0), "max_speed must be positive"),
        (lambda d: d["limits"].update(max_speed="fast"), "finite number"),
        (lambda d: d["planning"].update(can_change_lane="yes"), "true/false"),
        (lambda d: d["footprint"].update(rear_overhang=9.0), "rear_overhang"),
        (lambda d: d.update(wings=2), "unknown key"),
        (lambda d: d.update(command="throttle"), "command must be one of"),
        (lambda d: d.pop("command"), "missing key"),
    ],
)
def test_a_bad_embodiment_file_is_refused_with_what_is_wrong(tmp_path, change, message):
    doc = _doc()
    change(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match=message):
        embodiment.load(path)


def test_unknown_body_and_broken_yaml_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="known bodies: car, humanoid"):
        embodiment.load("robot_dog")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [car\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        embodiment.load(broken)

"""Every world speaks sim/robots.py: it names its robots (body, camera, route) and steps them all at once.
The one direct loop (fleetpilot/direct_loop.py) relies on nothing else, so a world that breaks this
breaks that loop for its scenarios."""

from __future__ import annotations

import pytest

from contracts import embodiment, scenarios
from fleetpilot.direct_loop import STACKS, build_stack
from planning.types import RouteMap
from sim.hosting import open_simulation

# one scenario of each world: each body's own and the shared one
WORLDS = [
    scenarios.names(world)[0] for world in dict.fromkeys(s.embodiment for s in scenarios.SCENARIOS.values())
]


@pytest.mark.parametrize("scenario", WORLDS)
def test_every_world_names_its_robots_and_steps_all_of_them(scenario):
    hosted_by = scenarios.get(scenario).embodiment
    with open_simulation(scenario, 0) as world:
        robots = world.robots()
        names = [r.name for r in robots]
        assert names and len(set(names)) == len(names), names
        for robot in robots:
            body = embodiment.load(robot.embodiment)  # a body with a file, whose command a stack serves
            assert body.command in STACKS
            assert robot.camera_model.width > 0 and robot.camera_model.height > 0
            assert len(RouteMap.from_dict(robot.route_map()).centerline) >= 2
            assert isinstance(robot.route_version(), int)
            assert robot.drive_requested() is False  # nobody asked yet
        if len(robots) == 1:
            assert robots[0].embodiment == hosted_by
        else:  # the shared world holds each body once
            assert sorted(r.embodiment for r in robots) == sorted(scenarios.bodies())
        first = world.step({})  # no command yet: every robot still gets its sensors
        assert set(first) == set(names)
        assert all(batch.odometry for batch in first.values())
        assert all(batch.camera is not None for batch in first.values())  # t = 0 is a camera frame


def test_a_robot_gets_the_stack_its_body_command_asks_for():
    with open_simulation("shared_crossing", 0) as world:
        stacks = {r.embodiment: build_stack(r) for r in world.robots()}
    for body, stack in stacks.items():
        assert isinstance(stack, STACKS[embodiment.load(body).command]), (body, type(stack).__name__)
    assert len({type(s) for s in stacks.values()}) == 2  # a car and a walking body: two kinds of stack

"""Turn one graph of the table into a launch_ros LaunchDescription.

launch and launch_ros are imported inside the function: they exist on a ROS 2 distribution but are not
installable as wheels here, and tests must still be able to import and inspect this module.
"""

from __future__ import annotations

import os

from fleetpilot_bringup.graphs import get_graph


def graph_launch_description(graph_name: str):
    from launch import LaunchDescription
    from launch_ros.actions import Node

    from sim.heap import child_env_for_fixed_heap

    graph = get_graph(graph_name)
    # Every node process starts with the fixed heap, as under `fleetpilot launch` (sim/heap.py says why).
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", **child_env_for_fixed_heap(os.environ)}
    actions = []
    for n in graph.nodes:
        parameters: list = [str(f) for f in n.parameters]
        if n.params:
            parameters.append(dict(n.params))
        actions.append(
            Node(
                package=n.package,
                executable=n.executable,
                name=n.name,
                namespace=n.full_namespace(graph.namespace),
                parameters=parameters,
                remappings=list(n.remappings.items()),
                output="screen",
                additional_env=dict(env),
            )
        )
    return LaunchDescription(actions)

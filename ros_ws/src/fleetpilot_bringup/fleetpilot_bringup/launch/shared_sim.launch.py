"""`ros2 launch fleetpilot_bringup shared_sim.launch.py`: the shared_sim graph from config/graphs.yaml."""

GRAPH = "shared_sim"


def generate_launch_description():
    from fleetpilot_bringup.graph_launch import graph_launch_description

    return graph_launch_description(GRAPH)

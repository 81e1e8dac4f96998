"""`ros2 launch fleetpilot_bringup humanoid_sim.launch.py`: the humanoid_sim graph from config/graphs.yaml."""

GRAPH = "humanoid_sim"


def generate_launch_description():
    from fleetpilot_bringup.graph_launch import graph_launch_description

    return graph_launch_description(GRAPH)

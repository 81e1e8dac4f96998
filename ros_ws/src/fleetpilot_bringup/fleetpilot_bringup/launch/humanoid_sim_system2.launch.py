"""`ros2 launch fleetpilot_bringup humanoid_sim_system2.launch.py`: the humanoid_sim_system2 graph
(humanoid_sim plus the System 2 reasoner bridge, for tasks in words) from config/graphs.yaml."""

GRAPH = "humanoid_sim_system2"


def generate_launch_description():
    from fleetpilot_bringup.graph_launch import graph_launch_description

    return graph_launch_description(GRAPH)

"""`ros2 launch fleetpilot_bringup car_sim_system2.launch.py`: the car_sim_system2 graph (car_sim plus
the System 2 reasoner bridge) from config/graphs.yaml."""

GRAPH = "car_sim_system2"


def generate_launch_description():
    from fleetpilot_bringup.graph_launch import graph_launch_description

    return graph_launch_description(GRAPH)

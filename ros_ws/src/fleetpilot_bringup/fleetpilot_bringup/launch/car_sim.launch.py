"""`ros2 launch fleetpilot_bringup car_sim.launch.py`: the car_sim graph from config/graphs.yaml."""

GRAPH = "car_sim"


def generate_launch_description():
    from fleetpilot_bringup.graph_launch import graph_launch_description

    return graph_launch_description(GRAPH)

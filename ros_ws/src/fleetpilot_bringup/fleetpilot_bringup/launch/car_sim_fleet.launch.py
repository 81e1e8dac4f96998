"""`ros2 launch fleetpilot_bringup car_sim_fleet.launch.py`: car_sim plus the fleet agent (graphs.yaml).

The fleet agent needs vehicle_id and token_file: pass them with a parameter file of your own."""

GRAPH = "car_sim_fleet"


def generate_launch_description():
    from fleetpilot_bringup.graph_launch import graph_launch_description

    return graph_launch_description(GRAPH)

from setuptools import setup

package_name = "fleetpilot_nodes"
# One console script per node; the executable name is also the module name, which the pip-only
# launcher runs as `python -m fleetpilot_nodes.<executable>` (see fleetpilot_bringup/graphs.py).
NODES = [
    "sim_node",
    "perception_node",
    "planning_node",
    "control_node",
    "locomotion_node",
    "fleet_agent_node",
    "reasoner_bridge_node",
]

setup(
    name=package_name,
    version="0.1.0",
    packages=[package_name],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="fleetpilot maintainers",
    maintainer_email="maintainers@fleetpilot.dev",
    description="Thin ROS 2 nodes (sim, perception, planning, control, locomotion) around fleetpilot's core",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"{n} = {package_name}.{n}:main" for n in NODES]},
)

from glob import glob

from setuptools import setup

package_name = "fleetpilot_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=[package_name],
    # Config and launch files live inside the Python package (so pip-only installs have them too) and
    # are also installed to share/ where ament_index and `ros2 launch` look for them.
    package_data={package_name: ["config/*.yaml", "launch/*.py"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/config", glob(f"{package_name}/config/*.yaml")),
        (f"share/{package_name}/launch", glob(f"{package_name}/launch/*.launch.py")),
    ],
    install_requires=["setuptools", "pyyaml"],
    zip_safe=True,
    maintainer="fleetpilot maintainers",
    maintainer_email="maintainers@fleetpilot.dev",
    description="Graph table, parameter files and launch files for fleetpilot",
    license="Apache-2.0",
)

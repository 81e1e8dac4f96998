import os
from pathlib import Path

import pytest

# Stay on loopback so concurrent test runs and helpers never see each other's graphs.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("AMENT_PREFIX_PATH", str(Path(__file__).resolve().parents[2] / ".venv"))

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/ros" in str(item.fspath):
            item.add_marker(pytest.mark.ros)

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


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained, tiny segmentation network at the camera size: exercises the graph, not quality."""
    torch = pytest.importorskip("torch")
    from perception.model import SegNetLite
    from perception.train import export_onnx

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export_onnx(SegNetLite(width=4).eval(), path, 120, 160)
    return path


@pytest.fixture
def fast_overrides(tiny_model_path) -> dict:
    """A short lockstep run with the tiny model; the planner trusts every frame so the car moves."""
    return {
        "perception": {"model_path": str(tiny_model_path)},
        "planning": {"planner.frame_confidence_min": 0.0},
        "sim": {"time_limit_s": 3.0},
    }

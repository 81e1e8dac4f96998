"""Shared fixtures: a synthetic camera, synthetic labelled frames, and a tiny exported model."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.messages import CameraModel
from perception.classes import Cls

H, W = 120, 160


def make_camera(pitch: float = 0.1, z: float = 1.5) -> CameraModel:
    return CameraModel(width=W, height=H, fx=80.0, fy=80.0, cx=79.5, cy=59.5, x=0.5, y=0.0, z=z, pitch=pitch)


def synthetic_frames(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cartoon road scenes: sky, grey road with a white stripe, a red box of random size/place."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((n, H, W, 3), np.uint8)
    labels = np.zeros((n, H, W), np.uint8)
    for i in range(n):
        horizon = int(rng.integers(50, 70))
        rgb[i, :horizon] = (120, 170, 230)
        rgb[i, horizon:] = (90, 90, 90)
        labels[i, horizon:] = Cls.ROAD
        c = int(rng.integers(40, 120))
        rgb[i, horizon:, c : c + 3] = 240
        labels[i, horizon:, c : c + 3] = Cls.LANE_MARKING
        r0, c0 = int(rng.integers(horizon - 10, horizon + 20)), int(rng.integers(0, W - 30))
        rgb[i, r0 : r0 + 20, c0 : c0 + 25] = (200, 30, 30)
        labels[i, r0 : r0 + 20, c0 : c0 + 25] = Cls.VEHICLE
    return rgb, labels


@pytest.fixture(name="make_camera", scope="session")
def make_camera_fixture():
    return make_camera


@pytest.fixture(name="synthetic_frames", scope="session")
def synthetic_frames_fixture():
    return synthetic_frames


@pytest.fixture(scope="session")
def camera() -> CameraModel:
    return make_camera()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """(torch net, onnx path) of an untrained width-4 network — exercises export and runtime only."""
    import torch

    from perception.model import SegNetLite
    from perception.train import export_onnx

    torch.manual_seed(0)
    net = SegNetLite(width=4).eval()
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export_onnx(net, path, H, W)
    return net, path

"""The perception node starts on the vehicle's active OTA slot (issue 20): a real repository served on
loopback, a real update into slot A, then the node given `ota_dir` runs that model and names it, by
content digest, slot and version, in every perception/status; when the new model fails its health window
the node swaps back between two frames, without dropping one."""

import hashlib
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import latched_qos, stream_qos
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from cloud_reasoner.ota.publish import publish_model
from cloud_reasoner.ota.repository import Keys, Repository
from cloud_reasoner.ota.server import RepositoryServer
from cloud_reasoner.ota.updater import ModelUpdater
from contracts.messages import CameraFrame, CameraModel
from fleetpilot.graph_runner import ComposedGraph, _make_executor, _ros_context
from perception.inference import DEFAULT_MODEL_PATH


def _install(tmp_path, model) -> Path:
    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True))
    publish_model(repo, keys, model, "segnet.onnx", "1")
    car = tmp_path / "car"
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(car, repo.root_bytes())
        result = ModelUpdater(car, f"{server.url}/metadata/", f"{server.url}/targets/").update("segnet.onnx")
    assert result["result"] == "installed", result
    return car


def _perceive_frames(tmp_path, perception_params: dict, frames: int, until=None) -> tuple[list[dict], dict]:
    """Feed `frames` camera frames (stamps in order) to a perception node; each frame's status values.
    `until(node)`: wait (at most 30 s) for it before reading the node's result fields."""
    camera = CameraModel(160, 120, 100.0, 100.0, 79.5, 59.5, x=1.5, y=0.0, z=1.4, pitch=0.1)
    statuses: dict[int, DiagnosticArray] = {}
    with _ros_context() as ctx:
        graph = ComposedGraph(
            ctx,
            overrides={"*": {"reliable_qos": True}, "perception": perception_params},
            only=("perception",),
            tmpdir=tmp_path,
        )
        feeder = Node("feeder", namespace="/car", context=ctx)
        qos = stream_qos(True)
        pub_image = feeder.create_publisher(Image, "camera/image_raw", qos)
        pub_info = feeder.create_publisher(CameraInfo, "camera/camera_info", qos)
        pub_mount = feeder.create_publisher(PoseStamped, "camera/mount", latched_qos())
        feeder.create_subscription(
            DiagnosticArray, "perception/status", lambda m: statuses.setdefault(conv.stamp_of(m), m), qos
        )
        executor = _make_executor(ctx)
        for node in [feeder, *graph.nodes.values()]:
            executor.add_node(node)
        try:
            pub_mount.publish(conv.camera_mount_to_pose(camera))
            rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
            for k in range(1, frames + 1):
                stamp = 49_500_000 * k
                deadline = time.monotonic() + 20.0
                while stamp not in statuses and time.monotonic() < deadline:
                    pub_info.publish(conv.camera_info_from_model(camera, stamp))
                    pub_image.publish(conv.image_from_frame(CameraFrame(stamp, rgb)))
                    for _ in range(20):
                        executor.spin_once(timeout_sec=0.05)
                        if stamp in statuses:
                            break
                assert stamp in statuses, f"no perception/status for frame {k}"
            node = graph.nodes["perception"]
            deadline = time.monotonic() + 30.0
            while until is not None and not until(node) and time.monotonic() < deadline:
                time.sleep(0.05)
            fields = node.result_fields()
        finally:
            executor.shutdown()
            graph.destroy()
            feeder.destroy_node()
    values = [{kv.key: kv.value for kv in statuses[s].status[0].values} for s in sorted(statuses)]
    return values, fields


def test_perception_runs_the_active_slot_and_names_it_in_its_status(tiny_model_path, tmp_path):
    car = _install(tmp_path, tiny_model_path)
    values, fields = _perceive_frames(tmp_path, {"ota_dir": str(car)}, 1)
    want = hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    assert values[-1]["perception_model_sha256"] == want
    assert (values[-1]["perception_model_slot"], values[-1]["perception_model_version"]) == ("A", "1")
    assert fields == {
        "perception_model_sha256": want,
        "perception_model_slot": "A",
        "perception_model_version": "1",
    }
    # the start counted as a boot of the new model (greenboot's attempt counter)
    assert ModelUpdater.local(car).state()["boot"]["attempts"] == 1


def test_a_model_failing_its_health_window_is_swapped_out_between_two_frames(tiny_model_path, tmp_path):
    """The tiny untrained model is unsure of every pixel: its window fails, the node rolls it back and
    the very next frame runs the model the vehicle had before (here the shipped one)."""
    car = _install(tmp_path, tiny_model_path)
    params = {"ota_dir": str(car), "ota_health_frames": 3, "ota_health_min_confidence": 0.9}
    values, _ = _perceive_frames(tmp_path, params, 5)
    assert len(values) == 5  # no frame dropped at the swap
    tiny = hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    shipped = hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest()
    assert [v["perception_model_sha256"] for v in values] == [tiny] * 3 + [shipped] * 2
    assert all(v["frames_dropped"] == "0" for v in values)
    state = ModelUpdater.local(car).state()
    assert state["active"] is None and "health window" in state["history"][-1]["reason"]


def test_a_shadow_model_is_measured_beside_the_active_one_and_never_drives(tiny_model_path, tmp_path):
    # the shadow runs at nice 19: on a busy machine it may lag the frames, never hold them up
    values, fields = _perceive_frames(
        tmp_path,
        {"shadow_model_path": str(tiny_model_path)},
        4,
        until=lambda node: node.shadow.summary()["shadow_frames"] >= 1,
    )
    shipped = hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest()
    assert all(v["perception_model_sha256"] == shipped for v in values)  # the active model drives
    assert fields["shadow_model_sha256"] == hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    assert fields["shadow_frames"] >= 1 and fields["shadow_disagreement"] > 0.2, fields
    assert "shadow_disagreement" in values[-1] and "shadow_class_iou" not in values[-1]

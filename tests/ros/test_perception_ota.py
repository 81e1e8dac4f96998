"""The perception node starts on the vehicle's active OTA slot (issue 20): a real repository served on
loopback, a real update into slot A, then the node given `ota_dir` runs that model and names it, by
content digest, slot and version, in every perception/status."""

import hashlib
import time

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


def test_perception_runs_the_active_slot_and_names_it_in_its_status(tiny_model_path, tmp_path):
    keys = Keys.generate(tmp_path / "keys")
    repo = Repository.init(tmp_path / "repo", Keys.load(tmp_path / "keys", offline=True))
    publish_model(repo, keys, tiny_model_path, "segnet.onnx", "1")
    car = tmp_path / "car"
    with RepositoryServer(repo.dir) as server:
        ModelUpdater.provision(car, repo.root_bytes())
        result = ModelUpdater(car, f"{server.url}/metadata/", f"{server.url}/targets/").update("segnet.onnx")
    assert result["result"] == "installed", result

    stamp = 49_500_000 * 3
    camera = CameraModel(160, 120, 100.0, 100.0, 79.5, 59.5, x=1.5, y=0.0, z=1.4, pitch=0.1)
    statuses: list[DiagnosticArray] = []
    with _ros_context() as ctx:
        graph = ComposedGraph(
            ctx,
            overrides={"*": {"reliable_qos": True}, "perception": {"ota_dir": str(car)}},
            only=("perception",),
            tmpdir=tmp_path,
        )
        feeder = Node("feeder", namespace="/car", context=ctx)
        qos = stream_qos(True)
        pub_image = feeder.create_publisher(Image, "camera/image_raw", qos)
        pub_info = feeder.create_publisher(CameraInfo, "camera/camera_info", qos)
        pub_mount = feeder.create_publisher(PoseStamped, "camera/mount", latched_qos())
        feeder.create_subscription(DiagnosticArray, "perception/status", statuses.append, qos)
        executor = _make_executor(ctx)
        for node in [feeder, *graph.nodes.values()]:
            executor.add_node(node)
        try:
            pub_mount.publish(conv.camera_mount_to_pose(camera))
            rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
            deadline = time.monotonic() + 20.0
            while not statuses and time.monotonic() < deadline:
                pub_info.publish(conv.camera_info_from_model(camera, stamp))
                pub_image.publish(conv.image_from_frame(CameraFrame(stamp, rgb)))
                for _ in range(20):
                    executor.spin_once(timeout_sec=0.05)
            node = graph.nodes["perception"]
            fields = node.result_fields()
        finally:
            executor.shutdown()
            graph.destroy()
            feeder.destroy_node()
    assert statuses, "no perception/status"
    values = {kv.key: kv.value for kv in statuses[-1].status[0].values}
    want = hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    assert values["perception_model_sha256"] == want
    assert (values["perception_model_slot"], values["perception_model_version"]) == ("A", "1")
    assert fields == {
        "perception_model_sha256": want,
        "perception_model_slot": "A",
        "perception_model_version": "1",
    }
    # the start counted as a boot of the new model (greenboot's attempt counter)
    assert ModelUpdater.local(car).state()["boot"]["attempts"] == 1

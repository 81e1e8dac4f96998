"""Node-level tests in one process: perception → planning → control answer a frame by its stamp."""

import math
import time

import numpy as np
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import latched_qos, stream_qos
from geometry_msgs.msg import PoseStamped, TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from contracts.messages import CameraFrame, CameraModel, Odometry
from fleetpilot.graph_runner import ComposedGraph, _make_executor, _ros_context
from planning.types import RouteMap


def test_stack_answers_one_frame_with_its_stamp(tiny_model_path, tmp_path):
    stamp = 49_500_000 * 7
    camera = CameraModel(160, 120, 100.0, 100.0, 79.5, 59.5, x=1.5, y=0.0, z=1.4, pitch=0.1)
    route = RouteMap(np.stack([np.arange(0.0, 200.0), np.zeros(200)], axis=1), 3.5, 10.0)
    answers = []
    with _ros_context() as ctx:
        stack = ComposedGraph(
            ctx,
            overrides={"*": {"reliable_qos": True}, "perception": {"model_path": str(tiny_model_path)}},
            only=("perception", "planning", "control"),
            tmpdir=tmp_path,
        )
        feeder = Node("feeder", namespace="/car", context=ctx)
        qos = stream_qos(True)
        pubs = {
            "image": feeder.create_publisher(Image, "camera/image_raw", qos),
            "info": feeder.create_publisher(CameraInfo, "camera/camera_info", qos),
            "odom": feeder.create_publisher(OdometryMsg, "odom", stream_qos(True, 20)),
            "mount": feeder.create_publisher(PoseStamped, "camera/mount", latched_qos()),
            "route": feeder.create_publisher(String, "map/route", latched_qos()),
        }
        feeder.create_subscription(TwistStamped, "cmd_vel", answers.append, qos)
        executor = _make_executor(ctx)
        for node in [feeder, *stack.nodes.values()]:
            executor.add_node(node)
        try:
            pubs["mount"].publish(conv.camera_mount_to_pose(camera))
            pubs["route"].publish(conv.route_to_msg(route))
            rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
            # odometry for the two control periods before the frame must not confuse the sync
            for k in (2, 1, 0):
                pubs["odom"].publish(
                    conv.odometry_to_msg(Odometry(stamp - k * 16_500_000, 5.0, 0.0, 0.0, 2.0, 0, 0))
                )
            pubs["info"].publish(conv.camera_info_from_model(camera, stamp))
            pubs["image"].publish(conv.image_from_frame(CameraFrame(stamp, rgb)))
            deadline = time.monotonic() + 20.0
            while not answers and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
        finally:
            executor.shutdown()
            feeder.destroy_node()
            stack.destroy()
    assert len(answers) == 1, "the stack did not answer the frame"
    cmd = conv.drive_command_from_twist(answers[0])
    assert cmd.stamp_ns == stamp
    assert math.isfinite(cmd.speed) and math.isfinite(cmd.yaw_rate)


def test_parameters_from_files_reach_the_nodes(tiny_model_path, tmp_path):
    with _ros_context() as ctx:
        stack = ComposedGraph(
            ctx,
            overrides={"perception": {"model_path": str(tiny_model_path), "threads": 2}},
            only=("perception", "planning"),
            tmpdir=tmp_path,
        )
        try:
            perception, planning = stack.nodes["perception"], stack.nodes["planning"]
            assert perception.get_namespace() == "/car"
            assert perception.p["threads"] == 2  # override file beats car.yaml
            assert perception.get_parameter("use_sim_time").value is True
            assert planning.embodiment.name == "car" and planning.embodiment.length == 4.5
        finally:
            stack.destroy()


def test_lockstep_sim_resends_an_unanswered_batch_with_the_same_stamp(tmp_path):
    """A consumer that missed a batch (late discovery) gets it again; the sim does not advance."""
    seen: list[int] = []
    with _ros_context() as ctx:
        g = ComposedGraph(
            ctx,
            overrides={
                "*": {"reliable_qos": True},
                "sim": {"lockstep": True, "lockstep_resend_s": 0.2, "time_limit_s": 5.0},
            },
            only=("sim",),
            tmpdir=tmp_path,
        )
        sim = g.nodes["sim"]
        peer = Node("peer", namespace="/car", context=ctx)
        cmd_pub = peer.create_publisher(TwistStamped, "cmd_vel", stream_qos(True))

        def on_image(msg: Image) -> None:
            stamp = conv.stamp_of(msg)
            seen.append(stamp)
            if seen.count(stamp) == 2:  # pretend the first copy was lost
                cmd_pub.publish(conv.twist_from_command(conv.DriveCommand(stamp, 1.0, 0.0)))

        peer.create_subscription(Image, "camera/image_raw", on_image, stream_qos(True))
        executor = _make_executor(ctx)
        executor.add_node(sim)
        executor.add_node(peer)
        try:
            deadline = time.monotonic() + 10.0
            while sim.frames < 3 and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
        finally:
            executor.shutdown()
            peer.destroy_node()
            g.destroy()
    assert sim.frames == 3 and sim.resends >= 2
    first, second = sorted(set(seen))[:2]
    assert seen[:3] == [first, first, second]  # same stamp twice, then the next frame

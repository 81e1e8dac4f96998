"""Perception as a ROS 2 node: camera image + camera_info (same stamp) → BEV grids and status.

Publishes perception/occupancy (display grid: 0 free ground, 100 obstacle, −1 unknown),
perception/semantic_grid (data = perception.classes.Cls ids, −1 unknown; the planner's input),
perception/status (DiagnosticArray, header.stamp = frame stamp: traffic light, confidence, latency,
frames dropped by reason) and,
with `objects: true`, perception/objects (std_msgs/String, JSON: the object blobs of the frame, placed,
sized and colour-named; conversions.objects_to_msg).

A malformed frame (wrong encoding, size or stride, data shorter or longer than its header says, a
camera_info without intrinsics) is dropped, never raised: it is answered as a frame perception could not
see (an ERROR status naming the reason, an all-unknown grid), counted per reason, logged rate-limited.
"""

from __future__ import annotations

import time
from collections import Counter

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from contracts.messages import FrameRejected
from fleetpilot_nodes import conversions as conv
from fleetpilot_nodes.node_params import COMMON_PARAMS, Param, declare, latched_qos, stream_qos
from fleetpilot_nodes.stamp_sync import LastAnswer, StampLog, StampSync
from perception.types import PerceptionOutput, model_fields


def parameter_spec() -> dict[str, Param]:
    return {
        **COMMON_PARAMS,
        "model_path": Param("", "ONNX segmentation model; '' = the model shipped with perception"),
        "ota_dir": Param(
            "",
            "the vehicle's OTA folder (ota provision): its active slot's model wins over model_path",
        ),
        "shadow_model_path": Param(
            "", "shadow mode: a candidate model run on the same frames, off the control path; '' = off"
        ),
        "ota_health_frames": Param(
            100, "a new OTA model's health window, camera frames (then good or rolled back)"
        ),
        "ota_health_min_confidence": Param(0.5, "the window fails below this mean frame confidence"),
        "threads": Param(1, "onnxruntime intra-op threads"),
        "min_object_pixels": Param(
            4, "object blobs (vehicle, pedestrian, obstacle) smaller than this many pixels are noise"
        ),
        # passed to perception.bev.BevProjector as its keyword arguments
        "objects": Param(
            False, "also publish perception/objects (what a task in words refers to, e.g. 'the red box')"
        ),
        "bev.x_range": Param([0.0, 40.0], "BEV grid extent along x (forward) in base_link, [min, max] m"),
        "bev.y_range": Param([-10.0, 10.0], "BEV grid extent along y (left) in base_link, [min, max] m"),
        "bev.resolution": Param(0.25, "BEV cell size, m"),
        "bev.obstacle_depth": Param(
            1.0, "how far behind its ground contact an obstacle is assumed to extend, m"
        ),
    }


def make_bev(p: dict) -> dict:
    """The Perceiver's BEV keyword arguments from the flat bev.* parameters."""
    return {
        "x_range": tuple(float(v) for v in p["bev.x_range"]),
        "y_range": tuple(float(v) for v in p["bev.y_range"]),
        "resolution": float(p["bev.resolution"]),
        "obstacle_depth": float(p["bev.obstacle_depth"]),
    }


class PerceptionNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("perception", **kwargs)
        self.p = declare(self, parameter_spec())
        qos = stream_qos(bool(self.p["reliable_qos"]))
        self.pub_occ = self.create_publisher(OccupancyGrid, "perception/occupancy", qos)
        self.pub_sem = self.create_publisher(OccupancyGrid, "perception/semantic_grid", qos)
        self.pub_status = self.create_publisher(DiagnosticArray, "perception/status", qos)
        self.pub_objects = (
            self.create_publisher(String, "perception/objects", qos) if self.p["objects"] else None
        )
        self.perceiver = None
        self.model = self._supervisor()  # which model runs, across an update's health window
        self.shadow = None
        if self.p["shadow_model_path"]:
            from perception.shadow import ShadowRunner

            self.shadow = ShadowRunner(self.p["shadow_model_path"])
        self._mount: PoseStamped | None = None
        self._waiting: tuple[Image, CameraInfo] | None = None  # a frame that arrived before the mount
        self.stage_ms: StampLog = StampLog()  # per camera stamp, wall time of process() (bench_loop)
        self.dropped: Counter[str] = Counter()  # camera frames not used, by FrameRejected.reason
        self._answer = LastAnswer()
        self._sync = StampSync(["image", "info"], self._on_frame, queue_size=4, on_repeat=self._answer.repeat)
        self.create_subscription(
            Image, "camera/image_raw", lambda m: self._sync.add("image", conv.stamp_of(m), m), qos
        )
        self.create_subscription(
            CameraInfo, "camera/camera_info", lambda m: self._sync.add("info", conv.stamp_of(m), m), qos
        )
        self.create_subscription(PoseStamped, "camera/mount", self._on_mount, latched_qos())

    def _supervisor(self):
        """A start of the stack is a boot of the OTA updater, which never hands out a slot whose bytes do
        not verify; a model not yet proven gets its health window (cloud_reasoner/ota/health.py)."""
        from cloud_reasoner.ota.health import HealthCriteria, ModelSupervisor
        from cloud_reasoner.ota.updater import UpdateRefused

        criteria = HealthCriteria(
            frames=int(self.p["ota_health_frames"]),
            min_mean_confidence=float(self.p["ota_health_min_confidence"]),
        )
        try:
            supervisor = ModelSupervisor(self.p["ota_dir"], self.p["model_path"], criteria)
        except UpdateRefused as exc:
            raise ValueError(f"ota_dir: {exc}") from None
        if supervisor.rolled_back_at_start:
            self.get_logger().warning(f"OTA: rolled back at start to slot {supervisor.slot or '(none)'}")
        return supervisor

    def result_fields(self) -> dict:
        """Which model this run saw with (the scenario JSON), by content digest; the shadow's telemetry."""
        if self.perceiver is None:
            return {}
        out = model_fields(self.perceiver.model.sha256, self.model.slot or "", self.model.version or "")
        if self.shadow is not None:
            out.update(self.shadow.summary())
        return out

    def destroy_node(self) -> None:
        if self.shadow is not None:
            self.shadow.close()
        super().destroy_node()

    def _on_mount(self, msg: PoseStamped) -> None:
        self._mount = msg
        if self._waiting is not None:
            image, info = self._waiting
            self._waiting = None
            self._on_frame(image, info)

    def _on_frame(self, image: Image, info: CameraInfo) -> None:
        if self._mount is None:
            self._waiting = (image, info)  # only the latest: an older frame is stale anyway
            return
        from perception.pipeline import dropped_output

        try:
            out = self._perceive(image, info)
        except FrameRejected as exc:
            # A bad frame must not take the node (and with it the launch) down. It is answered like any
            # other frame, as one perception could not see (the planner holds its last plan, then stops),
            # counted by reason in every status from now on, and logged at most once a second.
            self.dropped[exc.reason] += 1
            self.get_logger().warning(
                f"dropping camera frame {conv.stamp_of(image)}: {exc} "
                f"({sum(self.dropped.values())} dropped so far)",
                throttle_duration_sec=1.0,
            )
            out = dropped_output(conv.stamp_of(image), exc.reason, make_bev(self.p))
        # objects, semantic grid and status first: planning fires on them; the display grid can come last
        if self.pub_objects is not None:
            objects = conv.objects_to_msg(out.stamp_ns, out.objects)
            self._answer.publish(out.stamp_ns, self.pub_objects, objects)
        self._answer.publish(out.stamp_ns, self.pub_sem, conv.semantic_grid_from_bev(out.grid, out.stamp_ns))
        model = None
        if self.perceiver is not None:  # per frame: the model's fields and the shadow's counters only
            model = model_fields(self.perceiver.model.sha256, self.model.slot or "", self.model.version or "")
            if self.shadow is not None:
                model.update(self.shadow.counters())
        status = conv.perception_status(out, dropped=self.dropped, model=model)
        self._answer.publish(out.stamp_ns, self.pub_status, status)
        # The display grid is for people (RViz, recordings): build it only when someone listens.
        if self.pub_occ.get_subscription_count() > 0:
            self._answer.publish(out.stamp_ns, self.pub_occ, conv.occupancy_from_bev(out.grid, out.stamp_ns))
        swap = self.model.observe(out.confidence, dropped=bool(out.dropped))
        if swap is not None:  # the health window failed: the next frame runs the model rolled back to
            self.get_logger().warning(
                f"OTA: new model rolled back ({swap['reason']}); next frame: {swap['path']}"
            )
            self.perceiver = None

    def _perceive(self, image: Image, info: CameraInfo) -> PerceptionOutput:
        """Raises FrameRejected for an image or camera_info the stack cannot use."""
        if self.perceiver is None:
            from perception.pipeline import Perceiver

            camera = conv.camera_model_from_ros(info, self._mount)
            self.perceiver = Perceiver(
                camera,
                model_path=self.model.path,
                threads=int(self.p["threads"]),
                bev=make_bev(self.p),
                min_object_pixels=int(self.p["min_object_pixels"]),
                objects=self.pub_objects is not None,
            )
        elif (info.width, info.height) != (self.perceiver.camera.width, self.perceiver.camera.height):
            raise FrameRejected(
                "camera_info",
                f"camera_info says {info.width}x{info.height}, the camera was set up as "
                f"{self.perceiver.camera.width}x{self.perceiver.camera.height}",
            )
        frame = conv.frame_from_image(image)
        t0 = time.perf_counter()
        out = self.perceiver.process(frame.stamp_ns, frame.rgb)
        self.stage_ms[frame.stamp_ns] = (time.perf_counter() - t0) * 1e3
        if self.shadow is not None:  # never waits: a busy shadow drops the frame
            self.shadow.submit(frame.rgb, self.perceiver.last_classes)
        return out


NODE_CLASS = PerceptionNode


def main(args: list[str] | None = None) -> None:
    from fleetpilot_nodes.node_main import run_node

    run_node(PerceptionNode, args)


if __name__ == "__main__":
    main()

"""A malformed camera message on a live graph: the frame is dropped, counted and reported, the car drives
on (issue 24, item 1). Before the fix the first bad image raised in the perception node's callback and
took the whole graph down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetpilot.graph_runner import run_scenario

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "perception" / "models" / "segnet.onnx"


def _image(width: int, height: int, encoding: str = "rgb8", step: int | None = None, data: bytes = b""):
    from sensor_msgs.msg import Image

    msg = Image()
    msg.width, msg.height, msg.encoding = width, height, encoding
    msg.step = width * 3 if step is None else step
    msg.data = data
    return msg


def _kinds():
    """(name, topic, builder, the reason perception must count). Builders take the camera's size."""
    from sensor_msgs.msg import CameraInfo

    def info_other_size(w, h):
        msg = CameraInfo()
        msg.width, msg.height = w // 2, h // 2
        msg.k = [100.0, 0.0, w / 4, 0.0, 100.0, h / 4, 0.0, 0.0, 1.0]
        return msg

    return [
        ("short data", "image", lambda w, h: _image(w, h, data=bytes(w * h * 3 // 2)), "data_size"),
        ("zero width", "image", lambda w, h: _image(0, h, data=b""), "empty"),
        ("encoding 'weird'", "image", lambda w, h: _image(w, h, "weird", data=bytes(w * h * 3)), "encoding"),
        (
            "encoding 16UC1",
            "image",
            lambda w, h: _image(w, h, "16UC1", step=w * 2, data=bytes(w * h * 2)),
            "encoding",
        ),
        ("huge header", "image", lambda w, h: _image(100_000, 100_000, data=bytes(100)), "data_size"),
        (
            "padded rows",
            "image",
            lambda w, h: _image(w, h, step=w * 3 + 4, data=bytes((w * 3 + 4) * h)),
            "step",
        ),
        ("other size", "image", lambda w, h: _image(w // 2, h // 2, data=bytes(w * h * 3 // 4)), "size"),
        ("camera_info of another size", "info", info_other_size, "camera_info"),
    ]


class Injector:
    """A second publisher on the camera topics: every `every` camera frames (after `warmup`) it sends one
    malformed message stamped for the next frame, and it watches perception/status for those stamps."""

    def __init__(self, ctx, namespace: str, warmup: int = 20, every: int = 12) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from fleetpilot_nodes import conversions as conv
        from fleetpilot_nodes.node_params import stream_qos
        from rclpy.node import Node
        from sensor_msgs.msg import CameraInfo, Image

        self.conv = conv
        self.node = Node("malformed_injector", namespace=namespace, context=ctx)
        qos = stream_qos(True, 10)
        self.pubs = {
            "image": self.node.create_publisher(Image, "camera/image_raw", qos),
            "info": self.node.create_publisher(CameraInfo, "camera/camera_info", qos),
        }
        self.kinds = _kinds()
        self.warmup, self.every = warmup, every
        self.frames = 0
        self.prev_stamp: int | None = None
        self.sent: dict[int, tuple[str, str]] = {}  # stamp → (kind, expected reason)
        self.seen: dict[int, tuple[bool, str]] = {}  # stamp → (status is ERROR, dropped_reason)
        self.node.create_subscription(Image, "camera/image_raw", self._on_image, qos)
        self.node.create_subscription(DiagnosticArray, "perception/status", self._on_status, qos)

    def _on_image(self, msg) -> None:
        stamp = self.conv.stamp_of(msg)
        if msg.width == 0 or stamp in self.sent or msg.encoding != "rgb8" or msg.step != msg.width * 3:
            return  # our own
        if self.prev_stamp is not None and stamp <= self.prev_stamp:
            return  # a re-send of the sim
        period = stamp - self.prev_stamp if self.prev_stamp is not None else None
        self.prev_stamp = stamp
        self.frames += 1
        k = (self.frames - self.warmup) // self.every
        if period is None or self.frames < self.warmup or (self.frames - self.warmup) % self.every:
            return
        if k >= len(self.kinds):
            return
        name, topic, build, reason = self.kinds[k]
        bad = build(msg.width, msg.height)
        bad.header = self.conv.header(stamp + period, msg.header.frame_id)
        self.sent[stamp + period] = (name, reason)
        self.pubs[topic].publish(bad)

    def _on_status(self, msg) -> None:
        from diagnostic_msgs.msg import DiagnosticStatus

        stamp = self.conv.stamp_of(msg)
        if stamp in self.sent and stamp not in self.seen:
            st = msg.status[0]
            values = {kv.key: kv.value for kv in st.values}
            self.seen[stamp] = (st.level == DiagnosticStatus.ERROR, values.get("dropped_reason", ""))


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="the trained perception model is not built yet")
def test_every_malformed_kind_is_dropped_and_the_car_still_arrives():
    injectors: list[Injector] = []
    dropped: dict[str, int] = {}  # the perception node's counters at the end of the run

    def extra(ctx, namespace):
        injectors.append(Injector(ctx, namespace))
        return [injectors[0].node]

    result = run_scenario(
        "car_lane_follow",
        0,
        extra_nodes=extra,
        inspect=lambda nodes: dropped.update(nodes["perception"].dropped),
    )
    inj = injectors[0]
    assert not result.get("timed_out"), result
    assert result["success"], result
    assert result["collisions"] == 0
    kinds = _kinds()
    assert len(inj.sent) == len(kinds), f"only {len(inj.sent)} of {len(kinds)} kinds were sent"
    # every injected frame was answered as dropped, with its reason, at ERROR level
    for stamp, (name, reason) in inj.sent.items():
        assert stamp in inj.seen, f"{name}: no perception status for its stamp"
        is_error, got = inj.seen[stamp]
        assert is_error and got == reason, f"{name}: status ERROR {is_error}, reason {got!r}"
    want: dict[str, int] = {}
    for _name, _topic, _build, reason in kinds:
        want[reason] = want.get(reason, 0) + 1
    assert dropped == want


def test_each_kind_is_rejected_by_conversion_or_perceiver():
    """The same kinds without a graph: each one raises FrameRejected with its reason (no ValueError of
    numpy, no crash), checked before the data is touched."""
    from fleetpilot_nodes import conversions as conv

    from contracts.messages import FrameRejected

    w, h = 160, 120
    for name, topic, build, reason in _kinds():
        if topic != "image" or reason == "size":
            continue
        with pytest.raises(FrameRejected) as err:
            conv.frame_from_image(build(w, h))
        assert err.value.reason == reason, name
    small = conv.frame_from_image(_image(w // 2, h // 2, data=bytes(w * h * 3 // 4)))
    assert small.rgb.shape == (h // 2, w // 2, 3)  # well-formed: only the Perceiver can say it is wrong
    assert np.all(small.rgb == 0)

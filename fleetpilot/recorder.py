"""Record a running graph to MCAP (ROS 2 profile, CDR) so Foxglove opens the file.

Schemas are the concatenated .msg definitions (rosbag2's format: the type's own text, then every
dependency after a `MSG: pkg/Type` separator), read from the installed message packages through
ament_index. Messages arrive already serialised (raw subscriptions): the CDR bytes rclpy hands us are
exactly what the MCAP ros2 profile stores, so nothing is re-encoded in Python.

Foxglove's 3D panel places things by TF, and a run publishes none (tf2_msgs is not a wheel here), so
the recording carries it: /tf (odom → base_link) from every odometry message and /tf_static (base_link →
camera_link → camera_optical) from the latched camera mount, encoded by mcap_ros2 from the tf2_msgs
schema written below. /clock is recorded too, so a replay runs on sim time.
"""

from __future__ import annotations

import re
from pathlib import Path

from mcap.records import Schema
from mcap_ros2.writer import Writer
from rclpy.node import Node
from rclpy.qos import QoSProfile

SEPARATOR = "=" * 80
_PRIMITIVES = {
    "bool",
    "byte",
    "char",
    "float32",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "string",
    "wstring",
}
# topic (relative to the graph namespace) → ROS type. What Foxglove needs to replay a run.
DEFAULT_TOPICS = {
    "camera/image_raw": "sensor_msgs/msg/Image",
    "camera/camera_info": "sensor_msgs/msg/CameraInfo",
    "odom": "nav_msgs/msg/Odometry",
    "perception/occupancy": "nav_msgs/msg/OccupancyGrid",
    "perception/status": "diagnostic_msgs/msg/DiagnosticArray",
    "planning/path": "nav_msgs/msg/Path",
    "planning/tracks": "std_msgs/msg/String",  # tracked road users (conversions.tracks_to_msg)
    "cmd_vel": "geometry_msgs/msg/TwistStamped",
    "map/route": "std_msgs/msg/String",
    "diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
    "/clock": "rosgraph_msgs/msg/Clock",
}
TF_DATATYPE = "tf2_msgs/msg/TFMessage"
TF_MESSAGE_TEXT = "geometry_msgs/TransformStamped[] transforms\n"  # tf2_msgs/msg/TFMessage.msg
ODOM_FRAME, BASE_FRAME = "odom", "base_link"
CAMERA_FRAME, CAMERA_OPTICAL_FRAME = "camera_link", "camera_optical"  # as fleetpilot_nodes.conversions
# camera_link (x forward, y left, z up) → camera_optical (z forward, x right, y down): roll −π/2, yaw −π/2
OPTICAL_ROTATION = {"x": -0.5, "y": 0.5, "z": -0.5, "w": 0.5}


def _msg_file(pkg: str, name: str) -> Path:
    from ament_index_python.packages import get_package_share_directory

    path = Path(get_package_share_directory(pkg)) / "msg" / f"{name}.msg"
    if not path.is_file():
        raise FileNotFoundError(f"no message definition {pkg}/msg/{name} at {path}")
    return path


def _dependencies(pkg: str, text: str) -> list[tuple[str, str]]:
    deps = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" in line:
            continue  # a constant (defaults have no '=')
        field_type = line.split()[0]
        base = re.sub(r"\[.*\]$", "", field_type)
        base = re.sub(r"<=\d+$", "", base)
        if base in _PRIMITIVES:
            continue
        if "/" in base:
            dep_pkg, dep_name = base.split("/")[0], base.split("/")[-1]
        elif base == "Header":
            dep_pkg, dep_name = "std_msgs", "Header"
        else:
            dep_pkg, dep_name = pkg, base
        deps.append((dep_pkg, dep_name))
    return deps


def msgdef_text(datatype: str) -> str:
    """The full ros2msg schema text for 'pkg/msg/Type' (dependencies appended depth-first, once each)."""
    parts = datatype.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"datatype must look like pkg/msg/Type, got {datatype!r}")
    pkg, name = parts[0], parts[2]
    return with_dependencies(pkg, _msg_file(pkg, name).read_text())


def with_dependencies(pkg: str, root: str) -> str:
    """A message's own text followed by its dependencies' (each once), for a type of package `pkg`."""
    sections: list[str] = []
    seen: set[tuple[str, str]] = set()

    def visit(p: str, text: str) -> None:
        for dep in _dependencies(p, text):
            if dep in seen:
                continue
            seen.add(dep)
            dep_text = _msg_file(*dep).read_text()
            sections.append(f"{SEPARATOR}\nMSG: {dep[0]}/{dep[1]}\n{dep_text}")
            visit(dep[0], dep_text)

    visit(pkg, root)
    return "\n".join([root, *sections])


def _message_class(datatype: str):
    import importlib

    pkg, _, name = datatype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


class McapRecorder:
    """Subscribes (raw) to topics of one graph namespace and writes them to an MCAP file.

    Log time is the message's sim stamp when it has a header (so the file replays on sim time);
    otherwise the last sim stamp seen.
    """

    def __init__(self, node: Node, path: Path, namespace: str, topics: dict[str, str] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self._writer = Writer(self._file)
        self._last_stamp = 0
        self.counts: dict[str, int] = {}
        self._subs = []
        ns = namespace.rstrip("/")
        for rel, datatype in (topics or DEFAULT_TOPICS).items():
            topic = rel if rel.startswith("/") else f"{ns}/{rel}"
            text = msgdef_text(datatype)
            schema = self._writer.register_msgdef(datatype, text)
            # a Header, or /clock's Time: both start with int32 sec, uint32 nanosec
            stamped = _first_field(text) in ("std_msgs/Header", "Header", "builtin_interfaces/Time")
            qos = QoSProfile(depth=50)
            if rel == "map/route":
                from fleetpilot_nodes.node_params import latched_qos

                qos = latched_qos()
            self._subs.append(
                node.create_subscription(
                    _message_class(datatype),
                    topic,
                    self._make_callback(topic, schema, stamped),
                    qos,
                    raw=True,
                )
            )
            self.counts[topic] = 0
        self._tf_schema = self._writer.register_msgdef(
            TF_DATATYPE, with_dependencies("tf2_msgs", TF_MESSAGE_TEXT)
        )
        self._odom_topic, self.counts["/tf"], self.counts["/tf_static"] = f"{ns}/odom", 0, 0
        from fleetpilot_nodes.node_params import latched_qos
        from geometry_msgs.msg import PoseStamped

        self._subs.append(
            node.create_subscription(PoseStamped, f"{ns}/camera/mount", self._on_camera_mount, latched_qos())
        )

    def _write_tf(self, topic: str, transforms: list[dict], t: int) -> None:
        self._writer.write_message(
            topic, self._tf_schema, {"transforms": transforms}, log_time=t, publish_time=t,
            sequence=self.counts[topic],
        )  # fmt: skip
        self.counts[topic] += 1

    def _on_odometry(self, data: bytes) -> None:
        from fleetpilot_nodes.cdr import decode_odometry

        f = decode_odometry(bytes(data))
        rotation = {"x": f.qx, "y": f.qy, "z": f.qz, "w": f.qw}
        self._write_tf(
            "/tf", [_transform(f.stamp_ns, ODOM_FRAME, BASE_FRAME, (f.x, f.y, 0.0), rotation)], f.stamp_ns
        )

    def _on_camera_mount(self, msg) -> None:
        if self.counts["/tf_static"]:
            return  # latched: once is enough
        p, q = msg.pose.position, msg.pose.orientation
        mount = {"x": q.x, "y": q.y, "z": q.z, "w": q.w}
        self._write_tf(
            "/tf_static",
            [
                _transform(0, BASE_FRAME, CAMERA_FRAME, (p.x, p.y, p.z), mount),
                _transform(0, CAMERA_FRAME, CAMERA_OPTICAL_FRAME, (0.0, 0.0, 0.0), OPTICAL_ROTATION),
            ],
            self._last_stamp,
        )

    def _make_callback(self, topic: str, schema: Schema, stamped: bool):
        channel_id: list[int] = []

        def on_raw(data: bytes) -> None:
            if not channel_id:
                channel_id.append(
                    self._writer._writer.register_channel(
                        topic=topic, message_encoding="cdr", schema_id=schema.id
                    )
                )
            stamp = _cdr_header_stamp(data) if stamped else None
            if stamp is not None:
                self._last_stamp = max(self._last_stamp, stamp)
            t = stamp if stamp is not None else self._last_stamp
            # mcap_ros2's Writer only offers write_message(), which re-encodes a decoded message in pure
            # Python (slow for images); the CDR bytes are already right, so add them to its channel.
            self._writer._writer.add_message(
                channel_id=channel_id[0],
                log_time=t,
                publish_time=t,
                sequence=self.counts[topic],
                data=bytes(data),
            )
            self.counts[topic] += 1
            if topic == self._odom_topic:
                self._on_odometry(data)

        return on_raw

    def close(self) -> None:
        self._writer.finish()
        self._file.close()


def _transform(
    stamp_ns: int, parent: str, child: str, xyz: tuple[float, float, float], rotation: dict
) -> dict:
    """A geometry_msgs/TransformStamped as the dict mcap_ros2 encodes."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return {
        "header": {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": parent},
        "child_frame_id": child,
        "transform": {
            "translation": {"x": float(xyz[0]), "y": float(xyz[1]), "z": float(xyz[2])},
            "rotation": {k: float(v) for k, v in rotation.items()},
        },
    }


def _first_field(text: str) -> str:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and "=" not in line:
            return line.split()[0]
    return ""


def _cdr_header_stamp(data: bytes) -> int | None:
    """Stamp of a CDR message whose first field is std_msgs/Header (every stamped type recorded here):
    4-byte encapsulation header, then int32 sec, uint32 nanosec (little-endian when the
    encapsulation says CDR_LE)."""
    if len(data) < 12 or data[1] not in (0x00, 0x01):
        return None
    order = "little" if data[1] == 0x01 else "big"
    sec = int.from_bytes(data[4:8], order, signed=True)
    nanosec = int.from_bytes(data[8:12], order)
    if sec < 0 or nanosec >= 1_000_000_000:
        return None
    return sec * 1_000_000_000 + nanosec

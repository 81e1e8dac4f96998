"""Record a running graph to MCAP (ROS 2 profile, CDR) so Foxglove opens the file.

Schemas are the concatenated .msg definitions (rosbag2's format: the type's own text, then every
dependency after a `MSG: pkg/Type` separator), read from the installed message packages through
ament_index. Messages arrive already serialised (raw subscriptions): the CDR bytes rclpy hands us are
exactly what the MCAP ros2 profile stores, so nothing is re-encoded in Python.
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
    "cmd_vel": "geometry_msgs/msg/TwistStamped",
    "map/route": "std_msgs/msg/String",
    "diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}


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
    root = _msg_file(pkg, name).read_text()
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
            stamped = _first_field(text) in ("std_msgs/Header", "Header")
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

        return on_raw

    def close(self) -> None:
        self._writer.finish()
        self._file.close()


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

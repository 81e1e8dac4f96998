"""Parameter declaration and QoS helpers shared by the nodes.

Each node module exposes `parameter_spec() -> dict[name, Param]` so tests (and the graph table check)
can see which parameters a node declares without starting ROS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


@dataclass(frozen=True)
class Param:
    default: Any
    description: str


# Declared by every fleetpilot node: lockstep runs need reliable sensor streams (no frame may be
# lost); live runs use sensor-data QoS (best effort) so a slow consumer never stalls the sim.
COMMON_PARAMS = {
    "reliable_qos": Param(False, "reliable sensor/stack topics (lockstep) instead of best-effort sensor QoS"),
}


def declare(node: Node, spec: dict[str, Param]) -> dict[str, Any]:
    """Declare every parameter in spec with its description; return {name: value}."""
    values = {}
    for name, p in spec.items():
        node.declare_parameter(name, p.default, ParameterDescriptor(description=p.description))
        values[name] = node.get_parameter(name).value
    return values


def stream_qos(reliable: bool, depth: int = 5) -> QoSProfile:
    """Per-frame topics: keep-last, reliable or best effort."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def latched_qos() -> QoSProfile:
    """map/route and the camera mount: published once, late joiners still get them."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} → {'a.b': 1}: nested config as dotted ROS parameter names."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def unflatten(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Inverse of flatten for the parameters under `prefix.` (prefix stripped)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if not k.startswith(prefix + "."):
            continue
        parts = k[len(prefix) + 1 :].split(".")
        cur = out
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = v
    return out

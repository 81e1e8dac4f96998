"""Load and validate the one table of graphs (config/graphs.yaml). Pure Python: no launch, no rclpy.

Parameter files are package-relative paths of fleetpilot_bringup. They resolve next to this module
(source tree, pip install, and colcon install, which also installs them as package data) and fall back
to the package's share directory found through ament_index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "fleetpilot_bringup"
PACKAGE_DIR = Path(__file__).resolve().parent
GRAPHS_FILE = "config/graphs.yaml"

_GRAPH_KEYS = {"description", "namespace", "nodes"}
_NODE_KEYS = {"name", "package", "executable", "parameters", "remappings", "params", "namespace"}


class GraphError(ValueError):
    """The graph table is malformed or refers to something that does not exist."""


@dataclass(frozen=True)
class GraphNode:
    name: str
    package: str
    executable: str
    parameters: tuple[Path, ...]  # resolved parameter files, applied in order
    remappings: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # relative to the graph's namespace: one graph can hold two robots' stacks (shared_sim: car, humanoid)
    namespace: str = ""

    @property
    def key(self) -> str:
        """Unique within its graph: the name, prefixed by the node's own namespace if it has one."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def full_namespace(self, graph_namespace: str) -> str:
        if not self.namespace:
            return graph_namespace
        return f"{graph_namespace.rstrip('/')}/{self.namespace}"

    @property
    def module(self) -> str:
        """The Python module that runs this node (executables are named after their module)."""
        return f"{self.package}.{self.executable}"

    def ros_args(self, namespace: str, extra_params_files: tuple[Path, ...] = ()) -> list[str]:
        """`--ros-args ...` for this node: namespace, node name, parameter files, remappings, params."""
        args = ["--ros-args", "-r", f"__ns:={namespace}", "-r", f"__node:={self.name}"]
        for f in (*self.parameters, *extra_params_files):
            args += ["--params-file", str(f)]
        for src, dst in self.remappings.items():
            args += ["-r", f"{src}:={dst}"]
        for key, value in self.params.items():
            text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
            args += ["-p", f"{key}:={text}"]
        return args


@dataclass(frozen=True)
class Graph:
    name: str
    namespace: str
    nodes: tuple[GraphNode, ...]
    description: str = ""

    def node(self, name: str) -> GraphNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"graph {self.name!r} has no node {name!r}; nodes: {[n.name for n in self.nodes]}")


def resolve_package_file(relative: str | Path) -> Path:
    """A package-relative file of fleetpilot_bringup, from the package dir or the ament share dir."""
    rel = Path(relative)
    if rel.is_absolute():
        if not rel.is_file():
            raise GraphError(f"parameter file {rel} does not exist")
        return rel
    candidates = [PACKAGE_DIR / rel]
    if candidates[0].is_file():
        return candidates[0]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)) / rel)
    except (ImportError, LookupError, OSError, ValueError):
        pass  # no ament_index (pip-only) or AMENT_PREFIX_PATH unset / package not indexed
    if candidates[-1].is_file():
        return candidates[-1]
    raise GraphError(f"{rel} not found in {PACKAGE} (looked in {', '.join(str(c) for c in candidates)})")


def _parse_node(graph: str, d: Any) -> GraphNode:
    if not isinstance(d, dict):
        raise GraphError(f"graph {graph!r}: every node must be a mapping, got {d!r}")
    unknown = set(d) - _NODE_KEYS
    if unknown:
        raise GraphError(
            f"graph {graph!r}: node keys {sorted(unknown)} unknown; allowed {sorted(_NODE_KEYS)}"
        )
    for key in ("name", "package", "executable"):
        if not isinstance(d.get(key), str) or not d[key]:
            raise GraphError(f"graph {graph!r}: node {d.get('name', '?')!r} needs a non-empty string {key!r}")
    params = d.get("params") or {}
    remaps = d.get("remappings") or {}
    files = d.get("parameters") or []
    if not isinstance(params, dict) or not isinstance(remaps, dict) or not isinstance(files, list):
        raise GraphError(
            f"graph {graph!r}, node {d['name']!r}: params/remappings must be mappings, parameters a list"
        )
    ns = d.get("namespace", "")
    if not isinstance(ns, str) or ns.startswith("/") or ns.endswith("/"):
        raise GraphError(
            f"graph {graph!r}, node {d['name']!r}: namespace must be relative (no leading or trailing '/')"
        )
    return GraphNode(
        namespace=ns,
        name=d["name"],
        package=d["package"],
        executable=d["executable"],
        parameters=tuple(resolve_package_file(f) for f in files),
        remappings={str(k): str(v) for k, v in remaps.items()},
        params=dict(params),
    )


def load_graphs(path: str | Path | None = None) -> dict[str, Graph]:
    path = Path(path) if path is not None else resolve_package_file(GRAPHS_FILE)
    table = yaml.safe_load(path.read_text())
    if not isinstance(table, dict) or not table:
        raise GraphError(f"{path}: expected a mapping of graph name → graph")
    graphs = {}
    for name, g in table.items():
        if not isinstance(g, dict):
            raise GraphError(f"{path}: graph {name!r} must be a mapping")
        unknown = set(g) - _GRAPH_KEYS
        if unknown:
            raise GraphError(f"{path}: graph {name!r} has unknown keys {sorted(unknown)}")
        ns = g.get("namespace", "/")
        if not isinstance(ns, str) or not ns.startswith("/"):
            raise GraphError(
                f"{path}: graph {name!r} namespace must be absolute (start with '/'), got {ns!r}"
            )
        nodes = tuple(_parse_node(name, n) for n in g.get("nodes") or [])
        if not nodes:
            raise GraphError(f"{path}: graph {name!r} has no nodes")
        names = [n.key for n in nodes]
        if len(set(names)) != len(names):
            raise GraphError(f"{path}: graph {name!r} has duplicate node names {names}")
        graphs[name] = Graph(name=name, namespace=ns, nodes=nodes, description=str(g.get("description", "")))
    return graphs


def get_graph(name: str, path: str | Path | None = None) -> Graph:
    graphs = load_graphs(path)
    if name not in graphs:
        raise GraphError(f"unknown graph {name!r}; graphs: {', '.join(graphs)}")
    return graphs[name]


def write_overrides(overrides: dict[str, dict[str, Any]], path: Path) -> Path:
    """Write {node name or '*': {param: value}} as a ROS parameter file (`/**/<node>` keys)."""
    doc = {}
    for node, params in overrides.items():
        if not isinstance(params, dict):
            raise GraphError(f"overrides for {node!r} must be a mapping of parameter → value")
        key = "/**" if node == "*" else f"/**/{node}"
        doc[key] = {"ros__parameters": dict(params)}
    path.write_text(yaml.safe_dump(doc, sort_keys=True))
    return path

"""The graph table, parameter files, setup.py console scripts and launch files agree with each other."""

import ast
import importlib
import runpy
import sys
import types
from pathlib import Path

import pytest
import yaml
from fleetpilot_bringup import graphs as graphs_mod
from fleetpilot_bringup.graphs import GraphError, get_graph, load_graphs
from fleetpilot_nodes.node_params import flatten

SRC = Path(__file__).resolve().parents[2] / "ros_ws" / "src"
LAUNCH_DIR = SRC / "fleetpilot_bringup" / "fleetpilot_bringup" / "launch"


def console_scripts(package: str) -> dict[str, str]:
    """Run the package's setup.py with setuptools.setup captured; return its console scripts."""
    captured = {}
    fake = types.ModuleType("setuptools")
    fake.setup = lambda **kw: captured.update(kw)
    real = sys.modules.get("setuptools")
    sys.modules["setuptools"] = fake
    try:
        runpy.run_path(str(SRC / package / "setup.py"), run_name="__main__")
    finally:
        if real is not None:
            sys.modules["setuptools"] = real
    scripts = captured.get("entry_points", {}).get("console_scripts", [])
    return dict(s.replace(" ", "").split("=", 1) for s in scripts)


def node_parameters_in_yaml(path: Path, node_name: str) -> dict:
    """The flattened parameters a file gives node_name (from `/**` and `/**/<node_name>` sections)."""
    doc = yaml.safe_load(path.read_text())
    out = {}
    for key, section in doc.items():
        if key in ("/**", f"/**/{node_name}"):
            out.update(flatten(section["ros__parameters"]))
    return out


def unknown_keys(path: Path, node_name: str, module: str) -> set[str]:
    spec = importlib.import_module(module).parameter_spec()
    builtin = {"use_sim_time"}
    return set(node_parameters_in_yaml(path, node_name)) - set(spec) - builtin


ALL_NODES = [(g.name, n) for g in load_graphs().values() for n in g.nodes]


def test_table_has_car_sim():
    g = get_graph("car_sim")
    assert g.namespace == "/car"
    assert [n.name for n in g.nodes] == ["sim", "perception", "planning", "control"]


@pytest.mark.parametrize(("graph", "node"), ALL_NODES, ids=[f"{g}/{n.name}" for g, n in ALL_NODES])
def test_executables_exist_as_console_scripts(graph, node):
    scripts = console_scripts(node.package)
    assert node.executable in scripts, f"{graph}: {node.executable} is not a console script of {node.package}"
    # the pip-only launcher runs `python -m <module>`: the console script must point into that module
    assert scripts[node.executable] == f"{node.module}:main"
    module = importlib.import_module(node.module)
    assert callable(module.main) and hasattr(module, "NODE_CLASS")


@pytest.mark.parametrize(("graph", "node"), ALL_NODES, ids=[f"{g}/{n.name}" for g, n in ALL_NODES])
def test_parameter_files_exist_and_every_key_is_declared(graph, node):
    assert node.parameters, f"{graph}/{node.name} has no parameter file"
    for path in node.parameters:
        assert path.is_file()
        assert not unknown_keys(path, node.name, node.module), f"{path.name}: undeclared keys for {node.name}"


def test_typo_in_parameter_file_is_caught(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**/planning:\n  ros__parameters:\n    embodiment:\n      lenght: 4.0\n")
    assert unknown_keys(bad, "planning", "fleetpilot_nodes.planning_node") == {"embodiment.lenght"}


def test_planning_and_control_name_the_same_body_and_state_none_of_its_numbers():
    path = get_graph("car_sim").node("planning").parameters[0]
    plan, ctrl = node_parameters_in_yaml(path, "planning"), node_parameters_in_yaml(path, "control")
    assert plan["body"] == ctrl["body"] == "car"
    # the numbers live in contracts/embodiments/car.yaml only
    assert not [k for k in (*plan, *ctrl) if k.startswith("embodiment.")]


def test_yaml_values_build_valid_core_params():
    from fleetpilot_nodes.node_params import unflatten

    from planning.controller import ControllerParams
    from planning.params import PlannerParams, embodiment_for

    path = get_graph("car_sim").node("planning").parameters[0]
    plan = node_parameters_in_yaml(path, "planning")
    # from_dict raises on unknown keys or invalid values; the checks below pin what the file must say.
    embodiment = embodiment_for({"body": plan["body"], "embodiment": unflatten(plan, "embodiment")})
    assert embodiment.name == "car" and embodiment.length == 4.5 and embodiment.width == 1.8
    assert isinstance(PlannerParams.from_dict(unflatten(plan, "planner")), PlannerParams)
    controller = unflatten(node_parameters_in_yaml(path, "control"), "controller")
    assert isinstance(ControllerParams.from_dict(controller), ControllerParams)


def test_bad_tables_are_rejected(tmp_path):
    cases = {
        "no nodes": {"g": {"namespace": "/x", "nodes": []}},
        "relative namespace": {
            "g": {"namespace": "x", "nodes": [{"name": "a", "package": "p", "executable": "e"}]}
        },
        "unknown key": {
            "g": {"namespace": "/x", "nodes": [{"name": "a", "package": "p", "executable": "e", "x": 1}]}
        },
        "missing file": {
            "g": {
                "namespace": "/x",
                "nodes": [{"name": "a", "package": "p", "executable": "e", "parameters": ["no.yaml"]}],
            }
        },
        "duplicate": {
            "g": {"namespace": "/x", "nodes": [{"name": "a", "package": "p", "executable": "e"}] * 2}
        },
    }
    for what, table in cases.items():
        path = tmp_path / "t.yaml"
        path.write_text(yaml.safe_dump(table))
        with pytest.raises(GraphError):
            load_graphs(path)
        assert what
    with pytest.raises(GraphError, match="unknown graph"):
        get_graph("nope")


def test_ros_args_carry_namespace_name_files_and_params():
    g = get_graph("car_sim")
    node = g.node("sim")
    args = node.ros_args(g.namespace, (Path("/tmp/extra.yaml"),))
    assert args[:5] == ["--ros-args", "-r", "__ns:=/car", "-r", "__node:=sim"]
    files = [args[i + 1] for i, a in enumerate(args) if a == "--params-file"]
    assert files == [*map(str, node.parameters), "/tmp/extra.yaml"]


def test_launch_files_only_import_launch_inside_generate():
    files = sorted(LAUNCH_DIR.glob("*.launch.py"))
    assert files
    table = load_graphs()
    for f in files:
        tree = ast.parse(f.read_text())
        top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not top_imports, f"{f.name} imports at module level"
        graph = next(
            n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "GRAPH"
        )
        assert graph in table, f"{f.name} launches unknown graph {graph!r}"


def test_launch_description_mirrors_the_table(monkeypatch):
    monkeypatch.delenv("FLEETPILOT_NATIVE_HEAP", raising=False)
    created = []
    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda actions: list(actions)
    launch_ros = types.ModuleType("launch_ros")
    actions = types.ModuleType("launch_ros.actions")
    actions.Node = lambda **kw: created.append(kw) or kw
    launch_ros.actions = actions
    monkeypatch.setitem(sys.modules, "launch", launch)
    monkeypatch.setitem(sys.modules, "launch_ros", launch_ros)
    monkeypatch.setitem(sys.modules, "launch_ros.actions", actions)
    ld = runpy.run_path(str(LAUNCH_DIR / "car_sim.launch.py"))["generate_launch_description"]()
    g = get_graph("car_sim")
    assert len(ld) == len(g.nodes)
    scripts = console_scripts("fleetpilot_nodes")
    for kw, node in zip(created, g.nodes, strict=True):
        assert (kw["name"], kw["namespace"], kw["executable"]) == (node.name, "/car", node.executable)
        assert kw["executable"] in scripts
        assert all(Path(p).is_file() for p in kw["parameters"] if isinstance(p, str))
        # the same fixed heap as under `fleetpilot launch` (sim/heap.py)
        assert "glibc.malloc.perturb=165" in kw["additional_env"]["GLIBC_TUNABLES"]
        assert kw["additional_env"]["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"


def test_parameter_files_resolve_from_an_ament_share_dir(tmp_path, monkeypatch):
    """Simulate a colcon install: the module dir lacks config/, ament_index points at share/."""
    share = tmp_path / "share" / "fleetpilot_bringup" / "config"
    share.mkdir(parents=True)
    (share / "only_in_share.yaml").write_text("{}\n")
    index = tmp_path / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "fleetpilot_bringup").write_text("")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert graphs_mod.resolve_package_file("config/only_in_share.yaml") == share / "only_in_share.yaml"
    with pytest.raises(GraphError, match="not found"):
        graphs_mod.resolve_package_file("config/nowhere.yaml")

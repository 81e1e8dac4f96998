"""Set-up step: turn pybullet's pretrained humanoid policy into an ONNX model.

The installed pybullet package ships
`pybullet_envs/examples/enjoy_TF_HumanoidFlagrunHarderBulletEnv_v1_2017jul.py`, an MLP 44 → 256 → 128 → 17
whose weights are numpy array literals in the source. Importing that file needs gym (absent here, and
unwanted at run time), so this module reads it as text, pulls the six arrays out of its syntax tree with
`ast.literal_eval`, and writes the same network with the `onnx` helper API. No number of that file is
stored in this repository; the ONNX file is generated and git-ignored.

    python -m planning.locomotion_export [--out PATH]

The policy's `act()` is relu(x W1 + b1) → relu(· W2 + b2) → · W3 + b3: the output layer is linear
(the environment clips actions to [-1, 1] when applying them). `read_policy_source()` checks that
structure in the source before trusting the arrays.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POLICY_SOURCE_RELPATH = Path("pybullet_envs/examples/enjoy_TF_HumanoidFlagrunHarderBulletEnv_v1_2017jul.py")
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "models" / "locomotion.onnx"
EXPORT_COMMAND = "python -m planning.locomotion_export"
OBS_DIM, HIDDEN1, HIDDEN2, ACT_DIM = 44, 256, 128, 17
LAYERS = ("dense1", "dense2", "final")
INPUT_NAME, OUTPUT_NAME = "obs", "action"
# Conservative versions: any onnxruntime of the last years loads opset 17 / IR 8.
OPSET, IR_VERSION = 17, 8


@dataclass(frozen=True)
class PolicyWeights:
    """The MLP's arrays as float64, exactly as parsed, plus where they came from."""

    w: tuple[np.ndarray, np.ndarray, np.ndarray]  # (44, 256), (256, 128), (128, 17)
    b: tuple[np.ndarray, np.ndarray, np.ndarray]  # (256,), (128,), (17,)
    source_path: Path
    source_sha256: str

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Reference numpy forward pass in float64 (the original SmallReactivePolicy.act)."""
        x = np.asarray(obs, dtype=np.float64)
        x = np.maximum(x @ self.w[0] + self.b[0], 0.0)
        x = np.maximum(x @ self.w[1] + self.b[1], 0.0)
        return x @ self.w[2] + self.b[2]


def find_policy_source() -> Path:
    """Locate the example file inside the installed pybullet distribution without importing pybullet_envs
    (its __init__ imports gym). pybullet is a single extension module in site-packages, and pybullet_envs
    is installed next to it."""
    spec = importlib.util.find_spec("pybullet")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("pybullet is not installed: install pybullet==3.2.7 first (make install)")
    site = Path(spec.origin).resolve().parent
    candidates = [site / POLICY_SOURCE_RELPATH]
    # a source build may put pybullet.so elsewhere; pybullet_envs' own spec does not execute its __init__
    envs = importlib.util.find_spec("pybullet_envs")
    if envs is not None and envs.submodule_search_locations:
        candidates += [Path(d).parent / POLICY_SOURCE_RELPATH for d in envs.submodule_search_locations]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        "pybullet's pretrained humanoid policy was not found; looked at "
        + ", ".join(str(c) for c in candidates)
    )


def _array_assignments(tree: ast.Module) -> dict[str, np.ndarray]:
    """Top-level `weights_<layer>_<w|b> = np.array(<literal>)` assignments → float64 arrays."""
    out: dict[str, np.ndarray] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if not (isinstance(target, ast.Name) and target.id.startswith("weights_")):
            continue
        call = node.value
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "array"
            and len(call.args) == 1
        ):
            raise ValueError(f"{target.id}: expected np.array(<literal>), found {ast.dump(call)[:80]}...")
        out[target.id] = np.asarray(ast.literal_eval(call.args[0]), dtype=np.float64)
    return out


def _check_act_structure(tree: ast.Module) -> None:
    """The forward pass must be two relu layers and a linear output, in dense1, dense2, final order."""
    acts = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "act"]
    if len(acts) != 1:
        raise ValueError(f"expected one act() method in the policy source, found {len(acts)}")
    assigns = [s for s in acts[0].body if isinstance(s, ast.Assign)]
    layer_lines = [a for a in assigns if "weights_" in ast.unparse(a.value)]
    kinds = []
    for a in layer_lines:
        text = ast.unparse(a.value)
        layer = next((name for name in LAYERS if f"weights_{name}_w" in text), None)
        relu = isinstance(a.value, ast.Call) and getattr(a.value.func, "id", "") == "relu"
        kinds.append((layer, relu))
    expected = [("dense1", True), ("dense2", True), ("final", False)]
    if kinds != expected:
        raise ValueError(f"unexpected policy structure in act(): {kinds}, expected {expected}")


def read_policy_source(path: Path | None = None) -> PolicyWeights:
    path = Path(path) if path is not None else find_policy_source()
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    _check_act_structure(tree)
    arrays = _array_assignments(tree)
    shapes = {
        "dense1": ((OBS_DIM, HIDDEN1), (HIDDEN1,)),
        "dense2": ((HIDDEN1, HIDDEN2), (HIDDEN2,)),
        "final": ((HIDDEN2, ACT_DIM), (ACT_DIM,)),
    }
    ws, bs = [], []
    for layer in LAYERS:
        for kind, shape in zip(("w", "b"), shapes[layer], strict=True):
            name = f"weights_{layer}_{kind}"
            if name not in arrays:
                raise ValueError(f"{path}: no array {name}")
            a = arrays[name]
            if a.shape != shape:
                raise ValueError(f"{path}: {name} has shape {a.shape}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{path}: {name} has non-finite values")
            (ws if kind == "w" else bs).append(a)
    return PolicyWeights(
        w=tuple(ws), b=tuple(bs), source_path=path, source_sha256=hashlib.sha256(text.encode()).hexdigest()
    )


def build_onnx(weights: PolicyWeights):
    """The MLP as an ONNX ModelProto with a dynamic batch: obs (N, 44) float32 → action (N, 17) float32."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []
    x = INPUT_NAME
    for i, (layer, w, b) in enumerate(zip(LAYERS, weights.w, weights.b, strict=True)):
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"{layer}_w"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"{layer}_b"))
        last = i == len(LAYERS) - 1
        y = OUTPUT_NAME if last else f"{layer}_pre"
        # Gemm = x W + b in one kernel
        nodes.append(helper.make_node("Gemm", [x, f"{layer}_w", f"{layer}_b"], [y], name=f"{layer}_gemm"))
        if not last:
            nodes.append(helper.make_node("Relu", [y], [f"{layer}_out"], name=f"{layer}_relu"))
            x = f"{layer}_out"
    graph = helper.make_graph(
        nodes,
        "humanoid_flagrun_harder_policy",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", OBS_DIM])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", ACT_DIM])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fleetpilot.locomotion_export"
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(
        model,
        {
            "source": str(POLICY_SOURCE_RELPATH),
            "source_sha256": weights.source_sha256,
            "observation": "44 values, see planning/locomotion.py ObservationBuilder",
            "action": "17 joint torques in [-1, 1] (clip), torque = 0.41 * gear * a",
        },
    )
    onnx.checker.check_model(model)
    return model


def export(out: Path | None = None, source: Path | None = None) -> Path:
    """Write the ONNX model (atomically: a half-written file would be mistaken for a model)."""
    out = Path(out) if out is not None else DEFAULT_MODEL_PATH
    model = build_onnx(read_policy_source(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help=f"default: {DEFAULT_MODEL_PATH}")
    ap.add_argument(
        "--source", type=Path, default=None, help="policy source file (default: installed pybullet)"
    )
    args = ap.parse_args(argv)
    path = export(args.out, args.source)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

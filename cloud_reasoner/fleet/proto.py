"""The generated Fleet stubs (`cloud_reasoner.protos.v1.fleet_pb2[_grpc]`).

`python -m cloud_reasoner.codegen` (the System 2 service's build step, also run by `pip install`)
generates stubs for every .proto in cloud_reasoner/protos/v1/. If they are missing, `load()` runs that
generator (or, without it, protoc on fleet.proto alone), so a fresh checkout works either way.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO = REPO_ROOT / "cloud_reasoner" / "protos" / "v1" / "fleet.proto"


def _generate() -> None:
    try:  # the System 2 build step: all .proto files of the package, the same way the build does
        from cloud_reasoner.codegen import generate
    except ImportError:
        generate = None
    if generate is not None:
        try:
            generate()
            return
        except RuntimeError as e:
            raise ImportError(f"generating the gRPC stubs failed: {e}") from e
    try:
        from grpc_tools import protoc
    except ImportError as e:
        raise ImportError(
            "the Fleet gRPC stubs are not generated and grpcio-tools is missing: install it and run "
            "`python -m cloud_reasoner.codegen`"
        ) from e
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    rel = PROTO.relative_to(REPO_ROOT)
    rc = protoc.main(
        [
            "protoc",
            f"-I{REPO_ROOT}",
            f"-I{include}",
            f"--python_out={REPO_ROOT}",
            f"--grpc_python_out={REPO_ROOT}",
            str(rel),
        ]
    )
    if rc != 0:
        raise ImportError(f"protoc failed ({rc}) on {rel}; run `python -m cloud_reasoner.codegen`")


def load() -> tuple[ModuleType, ModuleType]:
    """(fleet_pb2, fleet_pb2_grpc), generating them first if needed."""
    try:
        pb2 = importlib.import_module("cloud_reasoner.protos.v1.fleet_pb2")
        pb2_grpc = importlib.import_module("cloud_reasoner.protos.v1.fleet_pb2_grpc")
    except ImportError:
        _generate()
        importlib.invalidate_caches()
        pb2 = importlib.import_module("cloud_reasoner.protos.v1.fleet_pb2")
        pb2_grpc = importlib.import_module("cloud_reasoner.protos.v1.fleet_pb2_grpc")
    return pb2, pb2_grpc

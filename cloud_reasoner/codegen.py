"""Generate the Python gRPC stubs from every .proto under cloud_reasoner/protos/.

    python -m cloud_reasoner.codegen [--root DIR] [--check]

Protos are compiled with `-I <root>` (root = the folder holding `cloud_reasoner/`), so a file
`cloud_reasoner/protos/v1/reasoner.proto` becomes the module `cloud_reasoner.protos.v1.reasoner_pb2`
and imports between proto files resolve to importable modules. The build runs this too
(cloud_reasoner/_build.py, a setuptools build_py step), so `pip install .` and `pip install -e .` both
leave the stubs in place. Generated files are not committed.

This module must stay importable without the package itself (the build loads it by file path) and
without grpc_tools until generation is actually asked for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTO_PACKAGE_DIR = Path("cloud_reasoner") / "protos"
GENERATE_COMMAND = "python -m cloud_reasoner.codegen"


def default_root() -> Path:
    return Path(__file__).resolve().parent.parent


def proto_files(root: Path) -> list[Path]:
    """Every .proto below root/cloud_reasoner/protos, relative to root, sorted (stable output)."""
    base = root / PROTO_PACKAGE_DIR
    return sorted(p.relative_to(root) for p in base.rglob("*.proto"))


def generate(root: Path | None = None) -> list[Path]:
    """Compile all protos; returns the generated files. Raises RuntimeError with protoc's message."""
    root = (root or default_root()).resolve()
    protos = proto_files(root)
    if not protos:
        raise RuntimeError(f"no .proto files under {root / PROTO_PACKAGE_DIR}")
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as exc:
        raise RuntimeError(
            "grpcio-tools is needed to generate the gRPC stubs: pip install grpcio-tools"
        ) from exc
    # The well-known types (google/protobuf/*.proto) ship inside grpc_tools.
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{root}",
        f"-I{well_known}",
        f"--python_out={root}",
        f"--pyi_out={root}",
        f"--grpc_python_out={root}",
        *[str(p) for p in protos],
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed (exit {status}) on {', '.join(map(str, protos))}")
    # Every folder on the way must be a package for `import cloud_reasoner.protos.v1.x_pb2`.
    for proto in protos:
        folder = root / proto.parent
        while folder != root / PROTO_PACKAGE_DIR.parent:
            init = folder / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated gRPC stubs live here (python -m cloud_reasoner.codegen)."""\n')
            folder = folder.parent
    generated = []
    for proto in protos:
        stem = root / proto.with_suffix("")
        generated += [Path(f"{stem}_pb2.py"), Path(f"{stem}_pb2.pyi"), Path(f"{stem}_pb2_grpc.py")]
    return generated


def stubs_missing(root: Path | None = None) -> list[Path]:
    """Protos whose _pb2.py is missing or older than the .proto."""
    root = (root or default_root()).resolve()
    stale = []
    for proto in proto_files(root):
        out = root / f"{proto.with_suffix('')}_pb2.py"
        if not out.exists() or out.stat().st_mtime < (root / proto).stat().st_mtime:
            stale.append(proto)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=GENERATE_COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=None, help="folder holding cloud_reasoner/ (default: ours)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if any stub is missing or stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stubs_missing(args.root)
        for p in stale:
            print(f"stale or missing stubs for {p}", file=sys.stderr)
        return 1 if stale else 0
    try:
        files = generate(args.root)
    except RuntimeError as exc:
        print(f"codegen: error: {exc}", file=sys.stderr)
        return 1
    print(f"generated {len(files)} files from {len(files) // 3} protos", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

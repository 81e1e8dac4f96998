"""Protobuf contracts of the cloud services (package fleetpilot.cloud.v1) and their generated stubs.

The *_pb2*.py stubs are generated, not committed: `python -m cloud_reasoner.codegen` (the build runs it).
Importing a stub that was never generated raises an ImportError naming that command, not a bare
ModuleNotFoundError.
"""

from __future__ import annotations

import importlib.abc
import sys


class _MissingStubFinder(importlib.abc.MetaPathFinder):
    """Last entry on sys.meta_path: consulted only when no real finder found the module."""

    def find_spec(self, fullname, path, target=None):
        leaf = fullname.rsplit(".", 1)[-1]
        if fullname.startswith(__name__ + ".") and (leaf.endswith("_pb2") or leaf.endswith("_pb2_grpc")):
            raise ImportError(
                f"{fullname} is a generated gRPC stub and has not been generated yet: "
                "run `python -m cloud_reasoner.codegen` (or reinstall: pip install -e .)",
                name=fullname,
            )
        return None


if not any(isinstance(f, _MissingStubFinder) for f in sys.meta_path):
    sys.meta_path.append(_MissingStubFinder())

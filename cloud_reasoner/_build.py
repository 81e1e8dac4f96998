"""setuptools hook: generate the gRPC stubs before build_py collects the modules.

Wired in pyproject.toml as `[tool.setuptools.cmdclass] build_py = "cloud_reasoner._build.BuildPyWithProtos"`.
setuptools loads this file by path while building (the package is not importable then), so it loads
codegen.py by path as well. It runs for wheels (`pip install .`) and for PEP 660 editable installs
(`pip install -e .`): in both the stubs are written next to the .proto files in the source tree,
and a wheel build then copies them like any other module. grpcio-tools is a build requirement.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools.command.build_py import build_py


def _load_codegen():
    path = Path(__file__).resolve().parent / "codegen.py"
    spec = importlib.util.spec_from_file_location("_fleetpilot_cloud_codegen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        root = Path(__file__).resolve().parent.parent
        _load_codegen().generate(root)
        super().run()

"""Stubs from a clean copy, the clear error when they are missing, config precedence, the CLI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloud_reasoner.config import ConfigError, load_config
from fleetpilot.cli import main

REPO = Path(__file__).resolve().parents[2]


def _clean_copy(tmp_path: Path) -> Path:
    """cloud_reasoner's package inits, codegen and .proto files only (no generated stubs)."""
    root = tmp_path / "clean"
    src = REPO / "cloud_reasoner"
    for rel in ["__init__.py", "codegen.py", "protos/__init__.py", "protos/v1/__init__.py"]:
        (root / "cloud_reasoner" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, root / "cloud_reasoner" / rel)
    for proto in (src / "protos").rglob("*.proto"):
        dest = root / "cloud_reasoner" / proto.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(proto, dest)
    assert not list(root.rglob("*_pb2*.py"))
    return root


def _run(code: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_missing_stubs_raise_a_clear_error_and_codegen_generates_all_protos(tmp_path):
    root = _clean_copy(tmp_path)
    probe = f"import cloud_reasoner; assert cloud_reasoner.__file__.startswith({str(root)!r}); "
    missing = _run(probe + "import cloud_reasoner.protos.v1.reasoner_pb2", root)
    assert missing.returncode != 0
    assert "python -m cloud_reasoner.codegen" in missing.stderr

    # An extra proto in the folder is picked up without any edit (how fleet.proto joins).
    (root / "cloud_reasoner/protos/v1/extra_test.proto").write_text(
        'syntax = "proto3";\npackage fleetpilot.cloud.v1;\nimport "cloud_reasoner/protos/v1/common.proto";\n'
        "message ExtraTest { Point2D p = 1; }\n"
    )
    gen = _run("from cloud_reasoner.codegen import main; raise SystemExit(main([]))", root)
    assert gen.returncode == 0, gen.stderr
    ok = _run(
        probe + "from cloud_reasoner.protos.v1 import reasoner_pb2, reasoner_pb2_grpc, extra_test_pb2; "
        f"assert reasoner_pb2.__file__.startswith({str(root)!r}); "
        + "print(extra_test_pb2.ExtraTest(p={'x': 1.0}).p.x, "
        "reasoner_pb2.DESCRIPTOR.services_by_name['Reasoner'].full_name)",
        root,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["1.0", "fleetpilot.cloud.v1.Reasoner"]


def test_config_file_then_environment(tmp_path):
    cfg = tmp_path / "cloud.toml"
    cfg.write_text(
        '[server]\nlisten = "0.0.0.0:6000"\nmax_concurrent_rpcs = 8\n[reasoner]\nbackend = "openai"\n'
    )
    c = load_config(cfg, env={"FLEETPILOT_CLOUD_SERVER_LISTEN": "127.0.0.1:7000", "OTHER": "x"})
    assert c.server.listen == "127.0.0.1:7000"  # env wins over the file
    assert c.server.max_concurrent_rpcs == 8 and c.reasoner.backend == "openai"
    assert load_config(env={}).server.listen.startswith("127.0.0.1:")  # loopback by default


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ('[server]\nmax_concurrent_rpcs = "many"\n', {}),
        ("[nope]\nx = 1\n", {}),
        ("[server]\nunknown_key = 1\n", {}),
        ("not toml [", {}),
        ("", {"FLEETPILOT_CLOUD_SERVER_REFLECTION": "maybe"}),
        ("", {"FLEETPILOT_CLOUD_BOGUS_X": "1"}),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, env):
    cfg = tmp_path / "cloud.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError):
        load_config(cfg, env=env)


def test_cli_add_vehicle_prints_a_token_once(tmp_path, capsys):
    assert main(["cloud", "add-vehicle", "car7", "--state-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("fpv1_") and len(token) > 40
    assert main(["cloud", "add-vehicle", "car7", "--state-dir", str(tmp_path)]) == 2  # exists
    assert main(["cloud", "add-vehicle", "bad name!", "--state-dir", str(tmp_path)]) == 2
    assert main(["cloud", "add-vehicle", "car7", "--rotate", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() != token


def test_cli_bench_rejects_bad_client_counts():
    assert main(["bench", "cloud", "--clients", "0,x"]) == 2

"""`fleetpilot cloud ...` (System 2 service) and `fleetpilot bench cloud`: sub-commands of the CLI.

Handlers import their implementation lazily (see fleetpilot/cli.py); raise fleetpilot.cli.UsageError for bad
input (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _config(args: argparse.Namespace):
    from cloud_reasoner.config import ConfigError, load_config
    from fleetpilot.cli import UsageError

    try:
        config = load_config(args.config)
        if getattr(args, "listen", None):
            config = config.replace("server", listen=args.listen)
        if getattr(args, "state_dir", None):
            config = config.replace("server", state_dir=str(args.state_dir))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return config


def cmd_cloud_serve(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from cloud_reasoner.server import serve
    from fleetpilot.cli import UsageError

    config = _config(args)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, port_file=args.port_file, config_file=args.config and str(args.config)))
    except ValueError as exc:  # settings only the assembled server can check (workers, TLS, plugins)
        raise UsageError(str(exc)) from None
    return 0


def cmd_cloud_add_vehicle(args: argparse.Namespace) -> int:
    import sys

    from cloud_reasoner.vehicle_store import VehicleExistsError, VehicleStore
    from fleetpilot.cli import UsageError

    config = _config(args)
    store = VehicleStore(config.state_path())
    try:
        token = store.add_vehicle(args.name, rotate=args.rotate)
    except (VehicleExistsError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    print(token)
    print(
        f"vehicle {args.name!r} registered in {config.state_path()}; the token above is shown only once "
        "(send it as metadata 'authorization: Bearer <token>')",
        file=sys.stderr,
    )
    return 0


def cmd_cloud_codegen(args: argparse.Namespace) -> int:
    from cloud_reasoner.codegen import main

    return main([])


def cmd_bench_cloud(args: argparse.Namespace) -> int:
    from cloud_reasoner.bench import run_bench
    from fleetpilot.cli import UsageError, write_json

    try:
        clients = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        raise UsageError(f"--clients must be comma-separated integers, got {args.clients!r}") from None
    if not clients or min(clients) < 1 or max(clients) > 1024:
        raise UsageError(f"--clients must be integers in 1..1024, got {args.clients!r}")
    if not args.duration > 0:
        raise UsageError(f"--duration must be > 0, got {args.duration}")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    write_json(
        run_bench(clients, duration_s=args.duration, warmup_s=args.warmup, workers=args.workers), args.json
    )
    return 0


SERVE_HELP = (
    "run the cloud server (Reasoner, Fleet, health, reflection) until SIGTERM/SIGINT (graceful shutdown)"
)


def add_serve_command(group: argparse._SubParsersAction) -> None:
    """`serve`: the one cloud server, every service configured by the config file (also `fleet serve`)."""
    serve = group.add_parser("serve", help=SERVE_HELP, description=SERVE_HELP)
    serve.add_argument("--config", type=Path, help="TOML config file (see cloud_reasoner/README.md)")
    serve.add_argument("--listen", help="HOST:PORT (default from config: 127.0.0.1:50051)")
    serve.add_argument("--state-dir", type=Path, help="folder of the SQLite state (default from config)")
    serve.add_argument("--port-file", help="write the bound port here once serving (useful with port 0)")
    serve.set_defaults(func=cmd_cloud_serve)


def add_add_vehicle_command(group: argparse._SubParsersAction) -> None:
    """`add-vehicle`: one token table for every service of the server (also `fleet add-vehicle`)."""
    add = group.add_parser("add-vehicle", help="register a vehicle and print its token (once)")
    add.add_argument("name")
    add.add_argument("--state-dir", type=Path)
    add.add_argument("--config", type=Path)
    add.add_argument("--rotate", action="store_true", help="replace the token of an existing vehicle")
    add.set_defaults(func=cmd_cloud_add_vehicle)


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add this area's commands to the top-level sub-parsers and its benchmarks to `fleetpilot bench`."""
    cloud = sub.add_parser("cloud", help="the System 2 cloud service").add_subparsers(
        dest="action", required=True
    )

    add_serve_command(cloud)
    add_add_vehicle_command(cloud)

    cloud.add_parser("codegen", help="generate the gRPC stubs from cloud_reasoner/protos").set_defaults(
        func=cmd_cloud_codegen
    )

    b = bench.add_parser("cloud", help="Reason QPS and p50/p99 vs a bare grpc.aio echo service")
    b.add_argument("--clients", default="1,16,64", help="comma-separated concurrent client counts")
    b.add_argument(
        "--duration", type=float, default=5.0, help="seconds measured per client count and service"
    )
    b.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    b.add_argument("--workers", type=int, default=1, help="Reason server worker processes ([server] workers)")
    b.add_argument("--json", type=Path)
    b.set_defaults(func=cmd_bench_cloud)

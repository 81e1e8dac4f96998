"""`fleetpilot fleet ...` (idle-time fleet compute): sub-commands of the CLI.

Handlers import their implementation lazily (see fleetpilot/cli.py); raise fleetpilot.cli.UsageError for bad
input (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STATE_DIR = Path("runs/fleet")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {value}")
    return value


def cmd_fleet_simulate(args: argparse.Namespace) -> int:
    from cloud_reasoner.fleet.simulator import SimConfig, main_json
    from fleetpilot.cli import UsageError

    try:
        cfg = SimConfig(
            vehicles=args.vehicles,
            jobs=args.jobs,
            churn=args.churn,
            malicious=args.malicious,
            kill_server_at=args.kill_server_at,
            seed=args.seed,
            units_per_lease=args.units_per_lease,
            lease_ttl_s=args.lease_ttl,
            liveness_s=args.liveness,
            timeout_s=args.timeout,
            seconds_per_job=args.seconds_per_job,
            state_dir=args.state_dir,
            server=args.server,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    main_json(cfg, args.json)
    return 0


def cmd_fleet_status(args: argparse.Namespace) -> int:
    from cloud_reasoner.fleet.status import print_status
    from fleetpilot.cli import UsageError

    db = args.state_dir / "fleet.sqlite"
    if not db.is_file():
        raise UsageError(f"no fleet database at {db} (use --state-dir)")
    print_status(db, as_json=args.json_out)
    return 0


def cmd_fleet_serve(args: argparse.Namespace) -> int:
    from cloud_reasoner.fleet.server import main

    argv = ["--db", str(args.state_dir / "fleet.sqlite"), "--listen", args.listen]
    argv += ["--lease-ttl", str(args.lease_ttl)]
    return main(argv)


def cmd_fleet_add_vehicle(args: argparse.Namespace) -> int:
    from cloud_reasoner.fleet.store import SqliteFleetStore

    store = SqliteFleetStore(args.state_dir / "fleet.sqlite")
    try:
        print(store.add_token(args.name))
    finally:
        store.close()
    return 0


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add this area's commands to the top-level sub-parsers and its benchmarks to `fleetpilot bench`."""
    fleet = sub.add_parser("fleet", help="idle-time fleet compute: simulate, status, serve").add_subparsers(
        dest="fleet_cmd", required=True
    )
    sim = fleet.add_parser("simulate", help="N virtual vehicles against a real Fleet server on loopback")
    sim.add_argument("--vehicles", type=int, default=100)
    sim.add_argument("--jobs", type=int, default=1000)
    sim.add_argument("--churn", type=_fraction, default=0.0, help="fraction of vehicles that vanish mid-job")
    sim.add_argument("--malicious", type=_fraction, default=0.0, help="fraction returning wrong results")
    sim.add_argument("--kill-server-at", type=float, help="kill -9 the server S seconds in, then restart it")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--json", type=Path, help="also write the report here")
    sim.add_argument("--units-per-lease", type=int, default=8, help="work units handed out per LeaseJob")
    sim.add_argument("--lease-ttl", type=float, default=10.0, help="lease deadline in seconds")
    sim.add_argument(
        "--liveness", type=float, default=3.0, help="re-issue the leases of a vehicle silent this long (s)"
    )
    sim.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    sim.add_argument(
        "--seconds-per-job", type=float, help="stand-in job time (default: measured from the real executor)"
    )
    sim.add_argument("--state-dir", type=Path, help="keep the database here (default: a temporary folder)")
    sim.add_argument(
        "--server",
        choices=("cloud", "standalone"),
        default="cloud",
        help="cloud: `python -m cloud_reasoner.server` with the Fleet plugin; standalone: Fleet only",
    )
    sim.set_defaults(func=cmd_fleet_simulate)

    status = fleet.add_parser("status", help="jobs by state, vehicles, credits")
    status.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    status.add_argument("--json", dest="json_out", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_fleet_status)

    serve = fleet.add_parser("serve", help="stand-alone Fleet server (until it is part of `cloud serve`)")
    serve.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    serve.add_argument("--listen", default="127.0.0.1:50061")
    serve.add_argument("--lease-ttl", type=float, default=600.0)
    serve.set_defaults(func=cmd_fleet_serve)

    add = fleet.add_parser("add-vehicle", help="print a new token for a vehicle (stand-alone server)")
    add.add_argument("name")
    add.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    add.set_defaults(func=cmd_fleet_add_vehicle)

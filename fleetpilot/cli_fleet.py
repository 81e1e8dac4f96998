"""`fleetpilot fleet ...` (idle-time fleet compute): sub-commands of the CLI.

Handlers import their implementation lazily (see fleetpilot/cli.py); raise fleetpilot.cli.UsageError for bad
input (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fleetpilot.cli_checks import seed


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
    from fleetpilot.cli_cloud import _config

    db = _config(args).state_path() / "fleet.sqlite"
    if not db.is_file():
        raise UsageError(f"no fleet database at {db} (use --state-dir or --config)")
    print_status(db, as_json=args.json_out)
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
    sim.add_argument("--seed", type=seed, default=0)
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
    status.add_argument("--state-dir", type=Path, help="the server's state folder (default from config)")
    status.add_argument("--config", type=Path, help="the server's TOML config file")
    status.add_argument("--json", dest="json_out", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_fleet_status)

    # The Fleet service is part of the one cloud server: these are the same commands as `cloud ...`.
    from fleetpilot.cli_cloud import add_add_vehicle_command, add_serve_command

    add_serve_command(fleet)
    add_add_vehicle_command(fleet)

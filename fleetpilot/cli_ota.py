"""`fleetpilot ota ...` (over-the-air model updates): the signed repository and a vehicle's updater.
Command names and JSON keys are the contract of issue 20.

Cloud side (keys: --keys, default the folder DIR.keys beside the repository):
  fleetpilot ota init      --repo DIR
  fleetpilot ota publish   --repo DIR MODEL.onnx --name NAME [--version V]
  fleetpilot ota timestamp --repo DIR [--expires SECONDS]
  fleetpilot ota rotate-keys --repo DIR [--roles targets,online] [--root-key N]
  fleetpilot ota serve     --repo DIR [--port P] [--no-refresh]
  fleetpilot ota rollout   --repo DIR --name NAME --candidate MODEL.onnx [--stages 1,10,50,100]
  fleetpilot ota simulate  --vehicles N --candidate MODEL.onnx [--json PATH]
Vehicle side:
  fleetpilot ota provision --vehicle-dir VDIR --root REPO/metadata/1.root.json
  fleetpilot ota update    --vehicle-dir VDIR --url URL [--name NAME] [--json PATH]
  fleetpilot ota status    --vehicle-dir VDIR [--json]
  fleetpilot ota rollback  --vehicle-dir VDIR

Handlers import their implementation lazily (see fleetpilot/cli.py); bad input raises UsageError (exit 2);
an update that is rejected exits 3 with its reason in one line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

REJECTED = 3  # exit code: the update was refused (verification, checks) or could not be had
DEFAULT_TARGET = "segnet.onnx"  # the perception model, what a vehicle updates unless told otherwise


def _usage(message: object):
    from fleetpilot.cli import UsageError

    return UsageError(str(message))


def _keys_dir(args: argparse.Namespace) -> Path:
    return args.keys if args.keys is not None else args.repo.with_name(args.repo.name + ".keys")


def _emit(doc: dict, path: Path | None) -> None:
    text = json.dumps(doc, indent=1, sort_keys=True)
    print(text)
    if path is not None:
        from contracts.atomic_file import atomic_write_text

        atomic_write_text(path, text + "\n")


# ---- cloud side -------------------------------------------------------------------------------------
def cmd_ota_init(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError

    keys_dir = _keys_dir(args)
    try:
        if (args.repo / "metadata").exists():
            raise RepositoryError(f"{args.repo}/metadata exists: this folder already holds a repository")
        Keys.generate(keys_dir)
        repo = Repository.init(args.repo, Keys.load(keys_dir, offline=True))
    except RepositoryError as exc:
        raise _usage(exc) from None
    print(f"repository {repo.dir} (metadata/, targets/); keys in {keys_dir} (offline/: the root keys)")
    return 0


def cmd_ota_publish(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.publish import publish_model
    from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError

    try:
        if not args.model.is_file():
            raise RepositoryError(f"{args.model} is not a file")
        repo = Repository(args.repo)
        entry = publish_model(repo, Keys.load(_keys_dir(args)), args.model, args.name, args.version)
    except RepositoryError as exc:
        raise _usage(exc) from None
    _emit({"name": args.name, **entry}, args.json)
    return 0


def cmd_ota_timestamp(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError

    expires = None if args.expires is None else timedelta(seconds=args.expires)
    try:
        version = Repository(args.repo).refresh_timestamp(Keys.load(_keys_dir(args)), expires_in=expires)
    except RepositoryError as exc:
        raise _usage(exc) from None
    print(f"timestamp version {version}")
    return 0


def cmd_ota_rotate_keys(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.repository import Repository, RepositoryError

    roles = tuple(r for r in args.roles.split(",") if r)
    unknown = set(roles) - {"targets", "online"}
    if unknown:
        raise _usage(f"--roles: unknown {sorted(unknown)}; choose from targets, online")
    try:
        Repository(args.repo).rotate_keys(_keys_dir(args), roles=roles, root_key=args.root_key)
        version = Repository(args.repo).load("root").signed.version
    except RepositoryError as exc:
        raise _usage(exc) from None
    print(f"root version {version} names the new keys; the old ones are kept as *.retired-root-v{version}")
    return 0


def cmd_ota_serve(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.repository import RepositoryError
    from cloud_reasoner.ota.server import RepositoryServer

    keys_dir = None if args.no_refresh else _keys_dir(args)
    try:
        server = RepositoryServer(args.repo, keys_dir, host=args.host, port=args.port)
    except (RepositoryError, OSError) as exc:
        raise _usage(exc) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        refresh = "never re-signed (--no-refresh)" if keys_dir is None else "timestamp kept fresh"
        print(f"serving {args.repo} at {server.url} (metadata/, targets/; {refresh})", flush=True)
        if args.port_file:
            Path(args.port_file).write_text(f"{server.port}\n")
        stop.wait()
    print("stopped", file=sys.stderr)
    return 0


# ---- vehicle side -----------------------------------------------------------------------------------
def cmd_ota_provision(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

    if not args.root.is_file():
        raise _usage(f"--root {args.root} is not a file")
    try:
        ModelUpdater.provision(args.vehicle_dir, args.root.read_bytes())
    except UpdateRefused as exc:
        raise _usage(exc) from None
    print(f"{args.vehicle_dir} trusts {args.root}")
    return 0


def cmd_ota_update(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

    url = args.url.rstrip("/")
    try:
        updater = ModelUpdater(args.vehicle_dir, f"{url}/metadata/", f"{url}/targets/")
    except UpdateRefused as exc:
        raise _usage(exc) from None
    result = updater.update(args.name)
    _emit(result, args.json)
    if result["result"] == "rejected":
        print(f"fleetpilot: update rejected: {result['reason']}", file=sys.stderr)
        return REJECTED
    return 0


def cmd_ota_status(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

    try:
        status = ModelUpdater.local(args.vehicle_dir).status()
    except UpdateRefused as exc:
        raise _usage(exc) from None
    if args.json_out:
        print(json.dumps(status, indent=1, sort_keys=True))
        return 0
    for role in ("active", "previous", "pending"):
        s = status[role]
        line = "-" if s is None else f"slot {s['slot']}: {s['name']} v{s['version']} {s['sha256'][:12]}"
        flag = "" if s is None else ("" if s["verified"] else "  (bytes do NOT verify)")
        print(f"{role:9s}{line}{flag}")
    print(
        f"history: {len(status['history'])} events; last: {(status['history'] or [{}])[-1].get('event', '-')}"
    )
    return 0


def cmd_ota_rollback(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

    try:
        status = ModelUpdater.local(args.vehicle_dir).rollback("the operator asked for it")
    except UpdateRefused as exc:
        raise _usage(exc) from None
    active = status["active"]
    print("rolled back to " + ("the shipped model" if active is None else f"slot {active['slot']}"))
    return 0


def cmd_ota_rollout(args: argparse.Namespace) -> int:
    """Start a rollout on a repository: the candidate published under the rollout's own target."""
    from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError
    from cloud_reasoner.ota.rollout import Rollout, RolloutStore, parse_stages

    try:
        stages = parse_stages(args.stages)
    except ValueError as exc:
        raise _usage(exc) from None
    if not args.candidate.is_file():
        raise _usage(f"--candidate {args.candidate} is not a file")
    store = RolloutStore(args.store or args.repo.with_name(args.repo.name + ".rollouts.sqlite"))
    try:
        rollout = Rollout(
            Repository(args.repo),
            Keys.load(_keys_dir(args)),
            store,
            args.name,
            args.candidate,
            args.version,
            stages,
        )
    except RepositoryError as exc:
        raise _usage(exc) from None
    doc = store.get(rollout.id)
    store.close()
    _emit(doc, args.json)
    return 0


def cmd_ota_simulate(args: argparse.Namespace) -> int:
    from fleetpilot.ota_simulate import SimulateConfig, simulate

    try:
        from cloud_reasoner.ota.rollout import parse_stages

        cfg = SimulateConfig(
            vehicles=args.vehicles, candidate=args.candidate, stages=parse_stages(args.stages)
        )
        if cfg.vehicles < 1:
            raise ValueError(f"--vehicles must be at least 1, got {cfg.vehicles}")
        if not args.candidate.is_file():
            raise ValueError(f"--candidate {args.candidate} is not a file")
    except ValueError as exc:
        raise _usage(exc) from None

    def progress(percent, cohort, counts, passed) -> None:
        seen = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        verdict = "passed" if passed else "HALTED"
        print(
            f"stage {percent:3d} %: {cohort} vehicles; {seen or 'no reports'}; gate {verdict}",
            file=sys.stderr,
        )

    _emit(simulate(cfg, progress), args.json)
    return 0


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add this area's commands to the top-level sub-parsers (no benchmarks yet)."""
    ota = sub.add_parser("ota", help="over-the-air model updates: a TUF repository and a vehicle's A/B slots")
    cmds = ota.add_subparsers(dest="ota_cmd", required=True)

    def repo_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repo", type=Path, required=True, help="the repository folder (metadata/, targets/)")
        p.add_argument("--keys", type=Path, help="key folder (default: REPO.keys beside the repository)")

    init = cmds.add_parser(
        "init", help="new keys (root 2 of 3 offline, targets, online) and an empty repository"
    )
    repo_args(init)
    init.set_defaults(func=cmd_ota_init)

    pub = cmds.add_parser("publish", help="sign a model into the repository, with its golden record")
    pub.add_argument("model", type=Path, help="MODEL.onnx")
    pub.add_argument("--name", required=True, help="target name, e.g. segnet.onnx")
    pub.add_argument("--version", help="model version recorded in the target's custom metadata")
    repo_args(pub)
    pub.add_argument("--json", type=Path)
    pub.set_defaults(func=cmd_ota_publish)

    ts = cmds.add_parser("timestamp", help="re-sign the timestamp (the online key)")
    repo_args(ts)
    ts.add_argument("--expires", type=float, help="seconds until it expires (default one day)")
    ts.set_defaults(func=cmd_ota_timestamp)

    rot = cmds.add_parser("rotate-keys", help="new targets/online keys (and a root key), named by a new root")
    repo_args(rot)
    rot.add_argument("--roles", default="targets,online", help="comma-separated: targets, online")
    rot.add_argument("--root-key", type=int, default=0, help="also replace root key N (1-3); 0 = none")
    rot.set_defaults(func=cmd_ota_rotate_keys)

    serve = cmds.add_parser("serve", help="serve the repository over HTTP on loopback until SIGTERM/SIGINT")
    repo_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--no-refresh", action="store_true", help="never re-sign the timestamp (no keys needed)"
    )
    serve.add_argument("--port-file", help="write the bound port here once serving (useful with --port 0)")
    serve.set_defaults(func=cmd_ota_serve)

    ro = cmds.add_parser(
        "rollout", help="start a staged rollout of a candidate (state in REPO.rollouts.sqlite)"
    )
    repo_args(ro)
    ro.add_argument("--name", required=True, help="the fleet's target, e.g. segnet.onnx")
    ro.add_argument("--candidate", type=Path, required=True, help="MODEL.onnx to roll out")
    ro.add_argument("--version", default="candidate")
    ro.add_argument("--stages", default="1,10,50,100", help="cumulative percentages of the fleet")
    ro.add_argument("--store", type=Path, help="rollout store (SQLite; default REPO.rollouts.sqlite)")
    ro.add_argument("--json", type=Path)
    ro.set_defaults(func=cmd_ota_rollout)

    sim = cmds.add_parser(
        "simulate", help="a staged rollout through N virtual vehicles (real updaters, inference)"
    )
    sim.add_argument("--vehicles", type=int, default=200)
    sim.add_argument("--candidate", type=Path, required=True, help="MODEL.onnx to roll out")
    sim.add_argument("--stages", default="1,10,50,100")
    sim.add_argument("--json", type=Path)
    sim.set_defaults(func=cmd_ota_simulate)

    def vehicle_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--vehicle-dir", type=Path, required=True, help="the vehicle's OTA folder")

    prov = cmds.add_parser("provision", help="install the vehicle's trusted root (once)")
    vehicle_arg(prov)
    prov.add_argument("--root", type=Path, required=True, help="e.g. REPO/metadata/1.root.json")
    prov.set_defaults(func=cmd_ota_provision)

    upd = cmds.add_parser("update", help="refresh, download into the inactive slot, check, install")
    vehicle_arg(upd)
    upd.add_argument("--url", required=True, help="repository base URL, e.g. http://127.0.0.1:8765")
    upd.add_argument("--name", default=DEFAULT_TARGET, help=f"target to update (default {DEFAULT_TARGET})")
    upd.add_argument("--json", type=Path)
    upd.set_defaults(func=cmd_ota_update)

    status = cmds.add_parser("status", help="active and previous slots (verified?), pending, history")
    vehicle_arg(status)
    status.add_argument("--json", dest="json_out", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_ota_status)

    rb = cmds.add_parser("rollback", help="back to the previous slot now")
    vehicle_arg(rb)
    rb.set_defaults(func=cmd_ota_rollback)

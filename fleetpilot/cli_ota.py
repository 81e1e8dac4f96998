"""`fleetpilot ota ...` (over-the-air model updates): the signed repository and a vehicle's updater.

  fleetpilot ota init    --repo R --keys K           new keys (0600) and an empty repository
  fleetpilot ota publish --repo R --keys K FILE --name N [--version V]
  fleetpilot ota serve   --repo R [--keys K] [--port P]   static HTTP on loopback, timestamp kept fresh
  fleetpilot ota fetch   --vehicle V --url U --name N [--root ROOT.json] [--json F]
  fleetpilot ota activate --vehicle V [--json F]      golden check, then the pending slot drives
  fleetpilot ota status  --vehicle V [--json F]

Handlers import their implementation lazily (see fleetpilot/cli.py); bad input raises UsageError (exit 2),
a refused update exits 3 with its reason in one line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

REFUSED = 3  # exit code: the repository's answer failed verification (or could not be had)


def _usage(exc: Exception):
    from fleetpilot.cli import UsageError

    return UsageError(str(exc))


def _write_json(path: Path | None, doc: dict) -> None:
    text = json.dumps(doc, indent=1, sort_keys=True)
    print(text)
    if path is not None:
        from contracts.atomic_file import atomic_write_text

        atomic_write_text(path, text + "\n")


def cmd_ota_init(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError

    try:
        Keys.generate(args.keys)
        repo = Repository.init(args.repo, Keys.load(args.keys, offline=True))
    except RepositoryError as exc:
        raise _usage(exc) from None
    print(f"repository {repo.dir} (metadata/, targets/); keys in {args.keys} (offline/: the root keys)")
    return 0


def cmd_ota_publish(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.publish import publish_model
    from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError

    try:
        if not args.file.is_file():
            raise RepositoryError(f"{args.file} is not a file")
        entry = publish_model(Repository(args.repo), Keys.load(args.keys), args.file, args.name, args.version)
    except RepositoryError as exc:
        raise _usage(exc) from None
    _write_json(args.json, {"name": args.name, **entry})
    return 0


def cmd_ota_serve(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.repository import RepositoryError
    from cloud_reasoner.ota.server import RepositoryServer

    try:
        server = RepositoryServer(args.repo, args.keys, host=args.host, port=args.port)
    except (RepositoryError, OSError) as exc:
        raise _usage(exc) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        print(f"serving {args.repo} at {server.url} (metadata/, targets/)", flush=True)
        if args.port_file:
            Path(args.port_file).write_text(f"{server.port}\n")
        stop.wait()
    print("stopped", file=sys.stderr)
    return 0


def cmd_ota_fetch(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

    url = args.url.rstrip("/")
    try:
        if args.root is not None:
            if not args.root.is_file():
                raise _usage(f"--root {args.root} is not a file")
            ModelUpdater.provision(args.vehicle, args.root.read_bytes())
        updater = ModelUpdater(args.vehicle, f"{url}/metadata/", f"{url}/targets/")
        result = updater.fetch(args.name)
    except UpdateRefused as exc:
        print(f"fleetpilot: update refused: {exc}", file=sys.stderr)
        return REFUSED
    _write_json(args.json, result)
    return 0


def cmd_ota_activate(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

    try:
        result = ModelUpdater.local(args.vehicle).activate()
    except UpdateRefused as exc:
        raise _usage(exc) from None
    _write_json(args.json, result)
    return 0 if result["activated"] else REFUSED


def cmd_ota_status(args: argparse.Namespace) -> int:
    from cloud_reasoner.ota.updater import ModelUpdater, UpdateRefused

    try:
        state = ModelUpdater.read_state(args.vehicle)
    except UpdateRefused as exc:
        raise _usage(exc) from None
    _write_json(args.json, state)
    return 0


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add this area's commands to the top-level sub-parsers (no benchmarks yet)."""
    ota = sub.add_parser("ota", help="over-the-air model updates: a TUF repository and a vehicle's A/B slots")
    cmds = ota.add_subparsers(dest="ota_cmd", required=True)

    init = cmds.add_parser(
        "init", help="new keys (root 2-of-3 offline, targets, online) and an empty repository"
    )
    init.add_argument("--repo", type=Path, required=True)
    init.add_argument("--keys", type=Path, required=True)
    init.set_defaults(func=cmd_ota_init)

    pub = cmds.add_parser("publish", help="sign a file into the repository as a target")
    pub.add_argument("file", type=Path)
    pub.add_argument("--name", required=True, help="target name, e.g. segnet.onnx")
    pub.add_argument("--version", help="model version recorded in the target's custom metadata")
    pub.add_argument("--repo", type=Path, required=True)
    pub.add_argument("--keys", type=Path, required=True, help="key folder (online/ is enough)")
    pub.add_argument("--json", type=Path)
    pub.set_defaults(func=cmd_ota_publish)

    serve = cmds.add_parser("serve", help="serve the repository over HTTP on loopback until SIGTERM/SIGINT")
    serve.add_argument("--repo", type=Path, required=True)
    serve.add_argument("--keys", type=Path, help="key folder: with it the server keeps the timestamp fresh")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--port-file", help="write the bound port here once serving (useful with --port 0)")
    serve.set_defaults(func=cmd_ota_serve)

    fetch = cmds.add_parser("fetch", help="verify and download a target into the vehicle's inactive slot")
    fetch.add_argument("--vehicle", type=Path, required=True, help="the vehicle's OTA folder")
    fetch.add_argument("--url", required=True, help="repository base URL, e.g. http://127.0.0.1:8765")
    fetch.add_argument("--name", required=True)
    fetch.add_argument("--root", type=Path, help="provision this trusted root first (once per vehicle)")
    fetch.add_argument("--json", type=Path)
    fetch.set_defaults(func=cmd_ota_fetch)

    act = cmds.add_parser("activate", help="check the pending model (hash, golden inputs) and make it active")
    act.add_argument("--vehicle", type=Path, required=True)
    act.add_argument("--json", type=Path)
    act.set_defaults(func=cmd_ota_activate)

    status = cmds.add_parser("status", help="the vehicle's slots and which one is active or pending")
    status.add_argument("--vehicle", type=Path, required=True)
    status.add_argument("--json", type=Path)
    status.set_defaults(func=cmd_ota_status)

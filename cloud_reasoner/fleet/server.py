"""Serving the Fleet service.

`FleetRuntime` wires a store, the servicer and the lease sweeper (expired leases → re-issue) onto a
grpc.aio server; `attach(server)` adds it to an existing server (the System 2 server), `serve()`
runs it stand-alone. `python -m cloud_reasoner.fleet.server --db PATH` is the stand-alone process the
simulator starts (and kills -9, and restarts on the same database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import grpc

from cloud_reasoner.fleet.service import Authenticate, FleetServicer, TokenAuthenticator, add_to_server
from cloud_reasoner.fleet.store import SqliteFleetStore, StoreConfig

MAX_MESSAGE_BYTES = 20 * 1024 * 1024


class FleetRuntime:
    def __init__(
        self,
        store: SqliteFleetStore,
        authenticate: Authenticate | None = None,
        *,
        lease_ttl_s: float = 600.0,
        sweep_period_s: float = 1.0,
        liveness_s: float | None = None,
    ) -> None:
        self.store = store
        # Leases of a vehicle silent for liveness_s are re-issued before their deadline. Not in the
        # first liveness_s after a (re)start: vehicles could not reach a dead server.
        self.liveness_ns = None if liveness_s is None else int(liveness_s * 1e9)
        self.started_ns = time.time_ns()
        auth = authenticate or TokenAuthenticator(store)
        self.servicer = FleetServicer(store, auth, lease_ttl_s=lease_ttl_s)
        self.sweep_period_s = sweep_period_s
        self._sweeper: asyncio.Task | None = None

    def attach(self, server: grpc.aio.Server) -> None:
        add_to_server(self.servicer, server)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_period_s)
            now = time.time_ns()
            silent = None
            if self.liveness_ns is not None and now - self.started_ns > self.liveness_ns:
                silent = now - self.liveness_ns
            try:
                self.store.expire_leases(now, silent)
            except sqlite3.OperationalError as e:  # e.g. "database is locked": try again next period
                print(f"fleet: lease sweep skipped: {e}", file=sys.stderr)

    def start_sweeper(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper


def new_server(max_concurrent_rpcs: int | None = None) -> grpc.aio.Server:
    return grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )


async def serve(
    db: Path,
    listen: str = "127.0.0.1:0",
    *,
    config: StoreConfig | None = None,
    lease_ttl_s: float = 600.0,
    sweep_period_s: float = 1.0,
    liveness_s: float | None = None,
    port_file: Path | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    store = SqliteFleetStore(db, config)
    runtime = FleetRuntime(
        store, lease_ttl_s=lease_ttl_s, sweep_period_s=sweep_period_s, liveness_s=liveness_s
    )
    server = new_server()
    runtime.attach(server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise RuntimeError(f"could not listen on {listen}")
    await server.start()
    runtime.start_sweeper()
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(port_file)  # atomic: a reader never sees a half-written port
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"event": "fleet_serving", "port": port, "db": str(db)}), file=sys.stderr, flush=True)
    await stop.wait()
    await runtime.stop_sweeper()
    await server.stop(grace=1.0)
    store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="stand-alone Fleet server (the simulator's server process)")
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file", type=Path)
    ap.add_argument("--lease-ttl", type=float, default=600.0, help="lease deadline, seconds")
    ap.add_argument("--sweep-period", type=float, default=1.0)
    ap.add_argument("--liveness", type=float, help="re-issue leases of vehicles silent this long (s)")
    ap.add_argument("--trust-after", type=int, default=10)
    ap.add_argument("--spot-check", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    config = StoreConfig(
        trust_after=args.trust_after, spot_check_probability=args.spot_check, spot_check_seed=args.seed
    )
    run = serve(
        args.db,
        args.listen,
        config=config,
        lease_ttl_s=args.lease_ttl,
        sweep_period_s=args.sweep_period,
        liveness_s=args.liveness,
        port_file=args.port_file,
    )
    profile_path = os.environ.get("FLEETPILOT_FLEET_PROFILE")  # where the server's time goes
    if profile_path:
        import cProfile

        with cProfile.Profile() as prof:
            asyncio.run(run)
        prof.dump_stats(profile_path)
    else:
        asyncio.run(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --- inside the System 2 server (`fleetpilot cloud serve`) -------------------------------------------


def store_config(fleet) -> StoreConfig:
    """The store settings of a [fleet] config section (cloud_reasoner.config.FleetConfig)."""
    return StoreConfig(
        trust_after=fleet.trust_after,
        spot_check_probability=fleet.spot_check,
        spot_check_seed=fleet.seed,
        blob_quota_bytes=fleet.blob_quota_bytes,
    )


def register(server: grpc.aio.Server, ctx) -> list[str]:
    """The Fleet service inside the cloud server (cloud_reasoner.server adds it when [fleet] enabled):
    authenticated by its interceptor and vehicle tokens, settings from the [fleet] section, state in
    <state_dir>/fleet.sqlite, the lease sweeper stopped and the store closed at shutdown."""
    from cloud_reasoner.auth import current_vehicle
    from cloud_reasoner.fleet.service import pb2

    fleet = ctx.config.fleet
    store = SqliteFleetStore(Path(ctx.state_dir) / "fleet.sqlite", store_config(fleet))

    def authenticate(metadata) -> str | None:
        # the interceptor already authenticated this call; the lookup is the fallback
        return current_vehicle() or ctx.authenticator.vehicle_from_metadata(metadata)

    runtime = FleetRuntime(
        store,
        authenticate,
        lease_ttl_s=fleet.lease_ttl_s,
        sweep_period_s=fleet.sweep_period_s,
        liveness_s=fleet.liveness_s or None,
    )
    runtime.attach(server)
    runtime.start_sweeper()  # called from CloudServer.start(), inside the server's event loop
    ctx.fleet = runtime  # so the embedding code (tests, status) can reach the store

    async def stop() -> None:
        await runtime.stop_sweeper()
        store.close()

    ctx.on_shutdown.append(stop)
    return [pb2.DESCRIPTOR.services_by_name["Fleet"].full_name]

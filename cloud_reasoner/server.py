"""The cloud service: one grpc.aio server with health, reflection, auth, limits, JSON logs, the
Reasoner service and (with [fleet] enabled, the default) the Fleet service. More services plug in with
the same auth, per-call log and lifecycle:

    def register(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
        my_pb2_grpc.add_MyServicer_to_server(MyServicer(ctx.state_dir), server)
        ctx.on_shutdown.append(my_async_close)            # awaited at graceful shutdown
        return [my_pb2.DESCRIPTOR.services_by_name["My"].full_name]

    build_server(config, extra_services=[register])      # from Python, or
    [server] plugins = ["my_package.my_module:register"]   # in the config file

Inside a servicer, `await cloud_reasoner.auth.require_vehicle(context, claimed=request.vehicle_id)`
gives the authenticated vehicle (PERMISSION_DENIED when the request claims another).

Ways to run it: `fleetpilot cloud serve` (foreground, SIGTERM/SIGINT = graceful shutdown), ServerThread
(in-process on a background thread, for tests and scenario runs) and ServerProcess (a subprocess on a
free port, for benchmarks and fault injection).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cloud_reasoner.auth import (
    PUBLIC_SERVICE_PREFIXES,
    Authenticator,
    current_vehicle,
    require_vehicle,
    set_current_vehicle,
    unauthenticated_handler,
)
from cloud_reasoner.backends.base import Backend, BackendError, make_backend
from cloud_reasoner.config import CloudConfig, load_config
from cloud_reasoner.convert import InvalidRequest, Limits, RequestTooLarge, advice_to_proto, query_from_proto
from cloud_reasoner.lenient import UndecodableRequest, lenient_parser
from cloud_reasoner.logs import log_event, setup_logging
from cloud_reasoner.protos.v1 import reasoner_pb2, reasoner_pb2_grpc
from cloud_reasoner.vehicle_store import VehicleStore

REASONER_SERVICE = reasoner_pb2.DESCRIPTOR.services_by_name["Reasoner"].full_name


@dataclass
class ServiceContext:
    """What a plugged-in service gets: configuration, its state folder, and the shared auth."""

    config: CloudConfig
    state_dir: Path
    vehicles: VehicleStore
    authenticator: Authenticator
    # awaited in order at graceful shutdown, after in-flight RPCs ended (stop sweepers, close stores)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


ServicePlugin = Callable[[aio.Server, ServiceContext], Iterable[str]]


# Services of the server itself, by config section: section name → the plugin that adds it.
BUILTIN_SERVICES = {"fleet": "cloud_reasoner.fleet.server:register"}
# older names of a built-in plugin, which a config file may still list in [server] plugins
_BUILTIN_ALIASES = {"cloud_reasoner.fleet.service:register": "cloud_reasoner.fleet.server:register"}


def service_plugins(config: CloudConfig) -> list[str]:
    """The plugin specs a server with this config runs: the enabled built-in services, then [server]
    plugins (a built-in listed there too runs once)."""
    specs = [spec for section, spec in BUILTIN_SERVICES.items() if getattr(config, section).enabled]
    for spec in config.server.plugins:
        spec = _BUILTIN_ALIASES.get(spec, spec)
        if spec not in specs:
            specs.append(spec)
    return specs


def load_plugin(spec: str) -> ServicePlugin:
    module_name, _, func = spec.partition(":")
    if not module_name or not func:
        raise ValueError(f"plugin {spec!r} must look like 'package.module:function'")
    return getattr(importlib.import_module(module_name), func)


# --- per-RPC auth and logging -----------------------------------------------------------------------


class AuthLoggingInterceptor(aio.ServerInterceptor):
    """Every RPC except health/reflection: authenticate from metadata (UNAUTHENTICATED before any
    servicer code runs), remember the vehicle for require_vehicle(), and write one JSON line per call
    (method, vehicle, status, latency_ms, peer). One interceptor, and wrapped handlers cached per
    method: interceptors are a large part of grpc.aio's per-call cost."""

    def __init__(self, authenticator: Authenticator):
        self.authenticator = authenticator
        self._wrapped: dict[tuple[str, int], grpc.RpcMethodHandler] = {}
        self._denied: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if method.startswith(PUBLIC_SERVICE_PREFIXES):
            return handler
        vehicle = self.authenticator.vehicle_from_metadata(handler_call_details.invocation_metadata)
        if vehicle is None:
            denied = self._denied.get(method)
            if denied is None:
                denied = self._denied[method] = self._logged(method, unauthenticated_handler(handler))
            return denied
        set_current_vehicle(vehicle)
        if handler is None or not handler.unary_unary:
            return handler  # streaming methods: authenticated, not logged per call
        key = (method, id(handler))
        wrapped = self._wrapped.get(key)
        if wrapped is None:
            wrapped = self._wrapped[key] = self._logged(method, handler)
        return wrapped

    @staticmethod
    def _logged(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if not handler.unary_unary:
            return handler
        inner = handler.unary_unary

        async def logged(request, context):
            started = time.perf_counter()
            status = "OK"
            try:
                return await inner(request, context)
            except aio.AbortError:
                code = context.code()
                status = code.name if isinstance(code, grpc.StatusCode) else str(code)
                raise
            except asyncio.CancelledError:
                status = "CANCELLED"
                raise
            except Exception:
                status = "UNKNOWN"
                log_event("unhandled error", logging.ERROR, method=method, exc_info=True)
                raise
            finally:
                log_event(
                    "rpc",
                    method=method,
                    vehicle=current_vehicle(),
                    status=status,
                    latency_ms=round((time.perf_counter() - started) * 1e3, 3),
                    peer=context.peer(),
                )

        return grpc.unary_unary_rpc_method_handler(
            logged,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


# --- the Reasoner service --------------------------------------------------------------------------


def add_reasoner_to_server(servicer: ReasonerServicer, server: aio.Server) -> None:
    """Like the generated add_ReasonerServicer_to_server, with the lenient request parser."""
    handlers = {
        "Reason": grpc.unary_unary_rpc_method_handler(
            servicer.Reason,
            request_deserializer=lenient_parser(reasoner_pb2.ReasonRequest),
            response_serializer=reasoner_pb2.ReasonResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(REASONER_SERVICE, handlers),))


class ReasonerServicer(reasoner_pb2_grpc.ReasonerServicer):
    def __init__(
        self,
        backend: Backend,
        fallback: Backend | None = None,
        timeout_s: float = 2.0,
        limits: Limits | None = None,
        workers: int = 8,
    ):
        self.backend = backend
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.limits = limits or Limits()
        # Backends that wait on I/O run here, never on the event loop.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reasoner-backend")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.backend.close()
        if self.fallback is not None:
            self.fallback.close()

    async def Reason(self, request, context):
        await require_vehicle(context)
        if isinstance(request, UndecodableRequest):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
        if not request.vehicle_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "vehicle_id must not be empty")
        await require_vehicle(context, claimed=request.vehicle_id)
        try:
            query = query_from_proto(request, self.limits)
        except RequestTooLarge as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        remaining = context.time_remaining()
        budget = self.timeout_s if remaining is None else min(self.timeout_s, remaining)
        try:
            advice = await self._run(self.backend, query, budget)
        except BackendError as exc:
            if self.fallback is None:
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"backend {self.backend.name} failed: {exc}")
            log_event(
                "backend failed, using fallback", logging.WARNING, backend=self.backend.name, error=str(exc)
            )
            try:
                advice = await self._run(self.fallback, query, budget)
            except BackendError as exc2:
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"backends failed: {exc}; {exc2}")
            advice = type(advice)(
                **{**advice.__dict__, "backend": f"{advice.backend} (fallback: {exc})"[:200]}
            )
        return advice_to_proto(advice, query.frame_id, query.stamp_ns)

    async def _run(self, backend: Backend, query, budget: float):
        if not backend.blocking:
            return backend.reason(query, budget)
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._pool, backend.reason, query, budget), budget
            )
        except TimeoutError:
            raise BackendError(f"no answer within {budget:.2f} s") from None


# --- assembly ----------------------------------------------------------------------------------------


def _read(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read TLS file {path}: {exc}") from None


def server_credentials(config: CloudConfig) -> grpc.ServerCredentials | None:
    tls = config.tls
    if not tls.enabled:
        if tls.cert_file or tls.key_file or tls.client_ca_file:
            raise ValueError("TLS needs both [tls] cert_file and key_file (client_ca_file adds mutual TLS)")
        return None
    client_ca = _read(tls.client_ca_file) if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(_read(tls.key_file), _read(tls.cert_file))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


class CloudServer:
    """An assembled, not yet started server. `await start()` binds and returns the port."""

    def __init__(
        self,
        config: CloudConfig,
        extra_services: Sequence[ServicePlugin] = (),
        backend: Backend | None = None,
    ):
        self.config = config
        self.state_dir = config.state_path()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.vehicles = VehicleStore(self.state_dir)
        self.authenticator = Authenticator(self.vehicles)
        self.context = ServiceContext(config, self.state_dir, self.vehicles, self.authenticator)
        self._extra = [load_plugin(p) for p in service_plugins(config)]
        self._extra += [p for p in extra_services if p not in self._extra]
        self._backend = backend
        self.server: aio.Server | None = None
        self.health: health.aio.HealthServicer | None = None
        self.reasoner: ReasonerServicer | None = None
        self.port: int | None = None
        self.service_names: list[str] = []
        self._stopping = False

    async def start(self) -> int:
        cfg = self.config.server
        options = [
            ("grpc.max_receive_message_length", cfg.max_message_bytes),
            ("grpc.max_send_message_length", cfg.max_message_bytes),
            # Several worker processes share one port only when asked to; otherwise a second server on
            # the same port must fail loudly instead of silently splitting the traffic.
            ("grpc.so_reuseport", 1 if cfg.workers > 1 else 0),
        ]
        server = aio.server(
            interceptors=[AuthLoggingInterceptor(self.authenticator)],
            options=options,
            maximum_concurrent_rpcs=cfg.max_concurrent_rpcs,
        )
        backend = self._backend or make_backend(self.config.reasoner.backend, self.config)
        fallback_name = self.config.reasoner.fallback
        fallback = (
            make_backend(fallback_name, self.config)
            if fallback_name and fallback_name != backend.name
            else None
        )
        self.reasoner = ReasonerServicer(backend, fallback, timeout_s=self.config.reasoner.timeout_s)
        add_reasoner_to_server(self.reasoner, server)
        names = [REASONER_SERVICE]
        for plugin in self._extra:
            names += list(plugin(server, self.context))
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if cfg.reflection:
            reflection.enable_server_reflection(
                [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
                server,
            )
        creds = server_credentials(self.config)
        port = server.add_secure_port(cfg.listen, creds) if creds else server.add_insecure_port(cfg.listen)
        if port == 0:
            raise OSError(f"cannot listen on {cfg.listen}")
        await server.start()
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.server, self.port, self.service_names = server, port, names
        log_event("serving", listen=cfg.listen, port=port, tls=self.config.tls.enabled, services=names)
        return port

    async def shutdown(self, grace_s: float | None = None) -> None:
        """Graceful: NOT_SERVING first (load balancers and clients see it), keep answering for
        shutdown_grace_s, then stop accepting and give in-flight RPCs the same grace."""
        if self.server is None or self._stopping:
            return
        self._stopping = True
        grace = self.config.server.shutdown_grace_s if grace_s is None else grace_s
        log_event("shutting down", grace_s=grace)
        await self.health.enter_graceful_shutdown()
        await asyncio.sleep(grace)
        await self.server.stop(grace)
        for hook in self.context.on_shutdown:
            await hook()
        self.reasoner.close()
        self.vehicles.close()
        log_event("stopped")

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()


def build_server(
    config: CloudConfig, extra_services: Sequence[ServicePlugin] = (), backend: Backend | None = None
) -> CloudServer:
    return CloudServer(config, extra_services, backend)


async def serve(
    config: CloudConfig,
    extra_services: Sequence[ServicePlugin] = (),
    port_file: str | None = None,
    config_file: str | None = None,
    is_worker: bool = False,
) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully.

    With [server] workers = N > 1 this process starts N - 1 more worker processes on the same port
    (SO_REUSEPORT: the kernel spreads connections over them) and forwards SIGTERM/SIGINT to them.
    Python runs one request at a time per process, so workers are how one machine uses its cores. Not
    with the Fleet service or plugins: they keep state in memory (a lease sweeper, caches) that must
    exist once."""
    workers = config.server.workers
    if workers < 1:
        raise ValueError(f"[server] workers must be >= 1, got {workers}")
    if workers > 1 and (extra_services or service_plugins(config)):
        raise ValueError(
            "[server] workers > 1 needs [fleet] enabled = false and no plugins "
            "(they keep state in the process, which must exist once)"
        )
    setup_logging(config.server.log_file, config.server.log_level)
    server = build_server(config, extra_services)
    port = await server.start()
    children: list[subprocess.Popen] = []
    if workers > 1 and not is_worker:
        children = await _start_workers(config, port, workers - 1, config_file)
    if port_file:
        tmp = Path(port_file + ".tmp")
        tmp.write_text(str(port))
        tmp.replace(port_file)  # atomic: a reader never sees a half-written port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for child in children:
        if child.poll() is None:
            child.terminate()
    await server.shutdown()
    for child in children:
        await asyncio.to_thread(child.wait)


async def _start_workers(config: CloudConfig, port: int, count: int, config_file: str | None) -> list:
    host = config.server.listen.rsplit(":", 1)[0]
    folder = Path(tempfile.mkdtemp(prefix="fp-cloud-workers-"))
    children, files = [], []
    for i in range(count):
        files.append(folder / f"worker{i}.port")
        cmd = [sys.executable, "-m", "cloud_reasoner.server", "--worker", "--listen", f"{host}:{port}"]
        cmd += ["--port-file", str(files[-1])] + (["--config", config_file] if config_file else [])
        children.append(subprocess.Popen(cmd))
    deadline = time.monotonic() + 60
    while not all(f.exists() for f in files):
        if any(c.poll() is not None for c in children) or time.monotonic() > deadline:
            for c in children:
                c.kill()
            raise RuntimeError("a worker process did not start")
        await asyncio.sleep(0.02)
    log_event("workers started", workers=count + 1, port=port)
    return children


# --- running it from Python ----------------------------------------------------------------------------


class ServerThread:
    """A real server on a background thread with its own event loop (tests, in-process scenario runs).

    with ServerThread(config) as srv:
        channel = grpc.insecure_channel(srv.target)
    """

    def __init__(
        self,
        config: CloudConfig,
        extra_services: Sequence[ServicePlugin] = (),
        backend: Backend | None = None,
    ):
        self.server = build_server(config, extra_services, backend)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cloud-server", daemon=True)
        self.port: int | None = None

    @property
    def target(self) -> str:
        host = self.server.config.server.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(30)
        return self

    def begin_shutdown(self, grace_s: float | None = None):
        """Start a graceful shutdown without waiting for it (a concurrent.futures.Future)."""
        return asyncio.run_coroutine_threadsafe(self.server.shutdown(grace_s), self._loop)

    def stop(self, grace_s: float | None = 0.0) -> None:
        if self._thread.is_alive():
            self.begin_shutdown(grace_s).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ServerProcess:
    """`python -m cloud_reasoner.server` as a subprocess on a free loopback port (benchmarks, fault
    injection). Settings go through FLEETPILOT_CLOUD_* variables so it reads the same config."""

    def __init__(
        self, state_dir: str | os.PathLike, env: dict[str, str] | None = None, config_file: str | None = None
    ):
        self.state_dir = Path(state_dir)
        self.env = {**os.environ, **(env or {})}
        self.env["FLEETPILOT_CLOUD_SERVER_STATE_DIR"] = str(self.state_dir)
        self.env.setdefault("FLEETPILOT_CLOUD_SERVER_LISTEN", "127.0.0.1:0")
        self.config_file = config_file
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServerProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port_file = Path(tempfile.mkdtemp(prefix="fp-cloud-")) / "port"
        cmd = [sys.executable, "-m", "cloud_reasoner.server", "--port-file", str(port_file)]
        if self.config_file:
            cmd += ["--config", self.config_file]
        self.proc = subprocess.Popen(cmd, env=self.env)
        deadline = time.monotonic() + timeout_s
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"cloud server exited with {self.proc.returncode} before listening")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"cloud server did not start within {timeout_s} s")
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        return self

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (graceful) and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.terminate()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cloud_reasoner.server")
    parser.add_argument("--config", default=None)
    parser.add_argument("--listen", default=None)
    parser.add_argument("--port-file", default=None, help="write the bound port here once serving")
    parser.add_argument("--worker", action="store_true", help="an extra worker started by the first process")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.listen:
        config = config.replace("server", listen=args.listen)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, port_file=args.port_file, config_file=args.config, is_worker=args.worker))
    return 0


if __name__ == "__main__":
    sys.exit(main())

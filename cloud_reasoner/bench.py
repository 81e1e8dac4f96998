"""`fleetpilot bench cloud`: Reason throughput and latency vs a bare grpc.aio echo service.

Both servers run in their own subprocess (python -m cloud_reasoner.server, python -m
cloud_reasoner.bench --echo-server); this process is the load generator: N closed-loop clients
(asyncio tasks, each waits for its answer before sending again) on a grpc.aio channel each, for
`duration` seconds after a short warm-up. The echo service returns the serialised Reason request as
it came (no parsing, no auth, no logs): the ceiling of Python gRPC on this machine. The Reason
server runs as configured by default (deliberative backend, auth, validation, JSON logs to a file).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from grpc import aio

from cloud_reasoner.auth import auth_metadata
from cloud_reasoner.protos.v1 import reasoner_pb2
from cloud_reasoner.vehicle_store import VehicleStore

ECHO_METHOD = "/fleetpilot.bench.Echo/Echo"


def sample_request(vehicle_id: str, seed: int = 0) -> reasoner_pb2.ReasonRequest:
    """A representative stuck-behind-a-stalled-vehicle request: the perception BEV's shape (40 x 20 m at
    0.25 m: 80 x 160 cells, perception/bev.py defaults), a 100 m route, one detected vehicle."""
    from types import SimpleNamespace as NS

    from cloud_reasoner.convert import build_request
    from cloud_reasoner.query import DetectedObject

    rng = np.random.default_rng(seed)
    res, ox, oy = 0.25, 0.0, -10.0
    classes = np.ones((80, 160), np.uint8)
    classes[:, :8] = 255
    gx = lambda x: int((x - ox) / res)  # noqa: E731
    gy = lambda y: int((y - oy) / res)  # noqa: E731
    classes[gy(-0.9) : gy(0.9), gx(13) : gx(17.5)] = 4  # stalled car in our lane
    classes[gy(-10) : gy(-2), :] = rng.choice([0, 3], size=(gy(-2) - gy(-10), 160)).astype(np.uint8)
    centerline = np.stack([np.arange(0.0, 100.0), np.zeros(100)], axis=1)
    return build_request(
        vehicle_id=vehicle_id,
        embodiment="car",
        frame_id="camera/000100",
        stamp_ns=4_950_000_000,
        ego=NS(x=10.0, y=0.0, yaw=0.0, speed=0.0, yaw_rate=0.0),
        body=NS(length=4.5, width=1.9, max_speed=10.0),
        route=NS(
            centerline=centerline, lane_width=3.5, speed_limit=8.0, adjacent_lane_offsets=(), goal_s=90.0
        ),
        grid=NS(classes=classes, resolution=res, origin_x=ox, origin_y=oy),
        objects=[DetectedObject("veh1", "vehicle", "white", 25.2, 0.0, 4.5, 1.9)],
        oncoming_lane_offsets=[3.5],
    )


# --- echo server -------------------------------------------------------------------------------------


async def _echo_server(port_file: str) -> None:
    async def echo(request: bytes, context) -> bytes:
        return request

    server = aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.method_handlers_generic_handler(
        "fleetpilot.bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    Path(port_file + ".tmp").write_text(str(port))
    Path(port_file + ".tmp").replace(port_file)
    await server.wait_for_termination()


def _start_echo_process(tmp: Path) -> tuple[subprocess.Popen, int]:
    port_file = tmp / "echo.port"
    proc = subprocess.Popen([sys.executable, "-m", "cloud_reasoner.bench", "--echo-server", str(port_file)])
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("echo server did not start")
        time.sleep(0.02)
    return proc, int(port_file.read_text())


# --- load generator --------------------------------------------------------------------------------


async def _closed_loop(
    target: str,
    method: str,
    payloads: list[bytes],
    metadata_per_client: list,
    duration_s: float,
    warmup_s: float,
) -> dict:
    clients = len(payloads)
    channels = [aio.insecure_channel(target) for _ in range(clients)]
    calls = [ch.unary_unary(method) for ch in channels]  # bytes in, bytes out: no client-side parsing cost
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s

    async def client(i: int) -> None:
        call, payload, md = calls[i], payloads[i], metadata_per_client[i]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                await call(payload, metadata=md, timeout=10.0)
            except grpc.RpcError as exc:
                errors[exc.code().name] = errors.get(exc.code().name, 0) + 1
                continue
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)

    await asyncio.gather(*(client(i) for i in range(clients)))
    for ch in channels:
        await ch.close()
    lat = np.array(latencies) * 1e3
    return {
        "qps": round(len(lat) / duration_s, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 3) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 3) if len(lat) else None,
        "requests": len(lat),
        "errors": errors,
    }


def run_bench(clients: list[int], duration_s: float = 5.0, warmup_s: float = 1.0, workers: int = 1) -> dict:
    if not clients or min(clients) < 1:
        raise ValueError(f"client counts must be >= 1, got {clients}")
    from cloud_reasoner.server import ServerProcess

    with tempfile.TemporaryDirectory(prefix="fp-bench-cloud-") as tmp_name:
        tmp = Path(tmp_name)
        store = VehicleStore(tmp / "state")
        n = max(clients)
        tokens = [store.add_vehicle(f"bench{i:03d}") for i in range(n)]
        store.close()
        requests = [sample_request(f"bench{i:03d}").SerializeToString() for i in range(n)]
        metadata = [auth_metadata(t) for t in tokens]
        env = {
            "FLEETPILOT_CLOUD_SERVER_LOG_FILE": str(tmp / "server.log"),
            "FLEETPILOT_CLOUD_SERVER_REFLECTION": "0",
            "FLEETPILOT_CLOUD_SERVER_WORKERS": str(workers),
            "FLEETPILOT_CLOUD_FLEET_ENABLED": "false",  # the Reasoner alone (and workers > 1 allowed)
        }
        result: dict = {"reason": {}, "echo": {}, "reason_fraction_of_echo": {}}
        echo_proc, echo_port = _start_echo_process(tmp)
        try:
            with ServerProcess(tmp / "state", env=env) as reasoner:
                for c in clients:
                    result["reason"][str(c)] = asyncio.run(
                        _closed_loop(
                            reasoner.target,
                            "/fleetpilot.cloud.v1.Reasoner/Reason",
                            requests[:c],
                            metadata[:c],
                            duration_s,
                            warmup_s,
                        )
                    )
                    result["echo"][str(c)] = asyncio.run(
                        _closed_loop(
                            f"127.0.0.1:{echo_port}",
                            ECHO_METHOD,
                            requests[:c],
                            [()] * c,
                            duration_s,
                            warmup_s,
                        )
                    )
                    e, r = result["echo"][str(c)]["qps"], result["reason"][str(c)]["qps"]
                    result["reason_fraction_of_echo"][str(c)] = round(r / e, 3) if e else None
        finally:
            echo_proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                echo_proc.wait(10)
        log_lines = (
            (tmp / "server.log").read_text().count('"msg":"rpc"') if (tmp / "server.log").exists() else 0
        )
    result["setup"] = {
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "request_bytes": len(requests[0]),
        "backend": "deliberative",
        "reason_server_workers": workers,
        "echo_server_workers": 1,
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "server_logged_rpcs": log_lines,
        "closed_loop": True,
        "target_p99_ms_at_64": 100.0,
    }
    return result


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--echo-server":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_echo_server(sys.argv[2]))
        sys.exit(0)
    sys.exit(
        "usage: python -m cloud_reasoner.bench --echo-server PORT_FILE (benchmark: fleetpilot bench cloud)"
    )

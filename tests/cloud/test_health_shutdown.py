"""Health is SERVING while up and NOT_SERVING during a graceful shutdown (in-process and on SIGTERM)."""

import time

import grpc
from cloud_helpers import make_config
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloud_reasoner.server import ServerProcess, ServerThread

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def check(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_in_process_graceful_shutdown_reports_not_serving(tmp_path):
    srv = ServerThread(make_config(tmp_path, server_shutdown_grace_s=1.0)).start()
    try:
        assert check(srv.target) == SERVING
        assert check(srv.target, "fleetpilot.cloud.v1.Reasoner") == SERVING
        done = srv.begin_shutdown()
        assert wait_for(lambda: check(srv.target, "fleetpilot.cloud.v1.Reasoner") == NOT_SERVING, 5)
        assert check(srv.target) == NOT_SERVING
        done.result(30)
    finally:
        srv.stop()


def test_sigterm_reports_not_serving_then_exits_cleanly(tmp_path):
    proc = ServerProcess(
        tmp_path / "state",
        env={
            "FLEETPILOT_CLOUD_SERVER_SHUTDOWN_GRACE_S": "1.5",
            "FLEETPILOT_CLOUD_SERVER_LOG_FILE": str(tmp_path / "log"),
        },
    ).start()
    try:
        assert check(proc.target) == SERVING
        proc.proc.terminate()  # SIGTERM
        assert wait_for(lambda: check(proc.target) == NOT_SERVING, 5)
        assert proc.proc.wait(30) == 0
    finally:
        proc.kill()
    log = (tmp_path / "log").read_text()
    assert '"msg":"shutting down"' in log and '"msg":"stopped"' in log

"""Plugged-in services share auth and health; reflection lists the services; worker processes."""

import time

import grpc
import pytest
from cloud_helpers import make_config, stalled_request
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cloud_reasoner.auth import auth_metadata, require_vehicle
from cloud_reasoner.protos.v1 import reasoner_pb2_grpc
from cloud_reasoner.server import ServerProcess, ServerThread
from cloud_reasoner.vehicle_store import VehicleStore


def whoami_plugin(server, ctx):
    """A minimal extra service, as the Fleet service plugs in: raw bytes in, the caller's name out."""

    async def whoami(request: bytes, context) -> bytes:
        claimed = request.decode() or None
        return (await require_vehicle(context, claimed=claimed)).encode()

    handler = grpc.method_handlers_generic_handler(
        "fleetpilot.test.WhoAmI", {"WhoAmI": grpc.unary_unary_rpc_method_handler(whoami)}
    )
    server.add_generic_rpc_handlers((handler,))
    assert ctx.state_dir.exists() and ctx.vehicles is not None
    return ["fleetpilot.test.WhoAmI"]


def test_plugin_service_gets_auth_health_and_reflection(tmp_path):
    store = VehicleStore(tmp_path)
    token = store.add_vehicle("car1")
    store.close()
    with (
        ServerThread(make_config(tmp_path), extra_services=[whoami_plugin]) as srv,
        grpc.insecure_channel(srv.target) as ch,
    ):
        call = ch.unary_unary("/fleetpilot.test.WhoAmI/WhoAmI")
        assert call(b"", metadata=auth_metadata(token), timeout=5) == b"car1"
        assert call(b"car1", metadata=auth_metadata(token), timeout=5) == b"car1"
        for payload, md, code in [
            (b"car2", auth_metadata(token), grpc.StatusCode.PERMISSION_DENIED),
            (b"", (), grpc.StatusCode.UNAUTHENTICATED),
        ]:
            with pytest.raises(grpc.RpcError) as info:
                call(payload, metadata=md, timeout=5)
            assert info.value.code() == code
        health = health_pb2_grpc.HealthStub(ch)
        status = health.Check(
            health_pb2.HealthCheckRequest(service="fleetpilot.test.WhoAmI"), timeout=5
        ).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(ch)
        answers = list(
            reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
        names = {s.name for s in answers[0].list_services_response.service}
        assert {
            "fleetpilot.cloud.v1.Reasoner",
            "fleetpilot.test.WhoAmI",
            "grpc.health.v1.Health",
        } <= names


def test_two_worker_processes_share_the_port_and_stop_on_sigterm(tmp_path):
    store = VehicleStore(tmp_path / "state")
    token = store.add_vehicle("car1")
    store.close()
    env = {
        "FLEETPILOT_CLOUD_SERVER_WORKERS": "2",
        "FLEETPILOT_CLOUD_SERVER_LOG_FILE": str(tmp_path / "log"),
        "FLEETPILOT_CLOUD_FLEET_ENABLED": "false",  # the Fleet keeps a lease sweeper: one process only
    }
    proc = ServerProcess(tmp_path / "state", env=env).start()
    try:
        # separate channels (connections) are spread over the workers by the kernel; all must answer
        for i in range(6):
            with grpc.insecure_channel(proc.target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                resp = reasoner_pb2_grpc.ReasonerStub(ch).Reason(
                    stalled_request(frame_id=f"f{i}"), metadata=auth_metadata(token), timeout=10
                )
                assert resp.frame.frame_id == f"f{i}"
        assert proc.terminate(30) == 0
    finally:
        proc.kill()
    time.sleep(0.1)
    log = (tmp_path / "log").read_text()
    assert log.count('"msg":"serving"') == 2 and log.count('"msg":"stopped"') == 2


def test_workers_with_plugins_are_refused(tmp_path):
    import asyncio

    from cloud_reasoner.server import serve

    config = make_config(tmp_path, server_workers=2)
    with pytest.raises(ValueError, match="workers"):
        asyncio.run(serve(config, extra_services=[whoami_plugin]))

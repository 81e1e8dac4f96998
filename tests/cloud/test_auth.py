import sqlite3

import grpc
import pytest
from cloud_helpers import stalled_request
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloud_reasoner.auth import auth_metadata


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_valid_token_answers_with_the_frame_it_was_asked_about(cloud):
    resp = cloud.stub.Reason(
        stalled_request("car1", frame_id="cam/7", stamp_ns=42), metadata=cloud.md(), timeout=10
    )
    assert resp.frame.frame_id == "cam/7" and resp.frame.stamp_ns == 42
    assert resp.backend == "deliberative"


def test_no_credentials_is_unauthenticated(cloud):
    assert (
        code_of(lambda: cloud.stub.Reason(stalled_request(), timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
    )


@pytest.mark.parametrize(
    "metadata",
    [
        auth_metadata("fpv1_not-a-real-token"),
        (("authorization", "Basic abc"),),
        (("authorization", "Bearer "),),
        (("x-token", "whatever"),),
    ],
)
def test_bad_credentials_are_unauthenticated(cloud, metadata):
    code = code_of(lambda: cloud.stub.Reason(stalled_request(), metadata=metadata, timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_acting_as_another_vehicle_is_permission_denied(cloud):
    code = code_of(lambda: cloud.stub.Reason(stalled_request("car2"), metadata=cloud.md("car1"), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # and car2 with its own token is fine
    cloud.stub.Reason(stalled_request("car2"), metadata=cloud.md("car2"), timeout=10)


def test_unknown_method_without_credentials_is_unauthenticated(cloud):
    call = cloud.channel.unary_unary("/fleetpilot.cloud.v1.Nope/Nope")
    assert code_of(lambda: call(b"", timeout=10)) == grpc.StatusCode.UNAUTHENTICATED


def test_health_needs_no_credentials(cloud):
    stub = health_pb2_grpc.HealthStub(cloud.channel)
    for service in ("", "fleetpilot.cloud.v1.Reasoner"):
        resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_store_keeps_only_token_hashes(cloud):
    db = sqlite3.connect(cloud.state / "cloud.sqlite3")
    dump = "\n".join(db.iterdump())
    db.close()
    assert "car1" in dump
    for token in cloud.tokens.values():
        assert token not in dump

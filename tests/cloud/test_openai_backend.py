"""The OpenAI-compatible backend against FakeChatCompletionsServer (a test double): good answers are
used, malformed or late ones are rejected, never obeyed."""

import json

import grpc
import numpy as np
import pytest
from cloud_helpers import make_config, stalled_request
from fake_chat_server import FakeChatCompletionsServer

from cloud_reasoner.auth import auth_metadata
from cloud_reasoner.backends.base import BackendError
from cloud_reasoner.backends.openai_chat import OpenAIChatBackend
from cloud_reasoner.convert import query_from_proto
from cloud_reasoner.protos.v1 import reasoner_pb2, reasoner_pb2_grpc
from cloud_reasoner.query import MetaAction
from cloud_reasoner.server import ServerThread
from cloud_reasoner.vehicle_store import VehicleStore

GOOD = {
    "action": "pass_left_oncoming",
    "waypoints": [[12.0, 0.0], [20.0, 3.0], [32.0, 3.0], [40.0, 0.0]],
    "target_speed": 4.0,
    "valid_for_s": 3.0,
    "confidence": 0.8,
    "rationale": "oncoming lane is clear",
    "target_object_id": "",
}


@pytest.fixture(scope="module")
def fake():
    with FakeChatCompletionsServer() as server:
        yield server


@pytest.fixture
def backend(fake):
    fake.delay_s, fake.status, fake.content = 0.0, 200, json.dumps(GOOD)
    return OpenAIChatBackend(fake.base_url, "fake-model", api_key="sk-test")


def query():
    return query_from_proto(stalled_request())


def test_good_answer_is_parsed_and_the_request_has_the_api_shape(fake, backend):
    advice = backend.reason(query(), timeout_s=5.0)
    assert advice.action == MetaAction.PASS_LEFT_ONCOMING
    assert np.allclose(advice.waypoints, GOOD["waypoints"]) and advice.backend == "openai:fake-model"
    sent = fake.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    body = sent["body"]
    assert body["model"] == "fake-model" and body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert json.loads(body["messages"][1]["content"])["question"] == "stuck_behind_obstacle"


BAD = {
    "not json": "I think you should pass on the left.",
    "json array": "[1, 2]",
    "unknown action": json.dumps({**GOOD, "action": "floor_it"}),
    "missing key": json.dumps({k: v for k, v in GOOD.items() if k != "confidence"}),
    "extra key": json.dumps({**GOOD, "override_safety": True}),
    "speed over the limit": json.dumps({**GOOD, "target_speed": 50.0}),
    "confidence as string": json.dumps({**GOOD, "confidence": "high"}),
    "nan waypoint": json.dumps({**GOOD, "waypoints": [[1.0, float("nan")]]}).replace("NaN", "NaN"),
    "waypoint triple": json.dumps({**GOOD, "waypoints": [[1.0, 2.0, 3.0]]}),
    "waypoint far away": json.dumps({**GOOD, "waypoints": [[5000.0, 0.0]]}),
    "walk_to unknown object": json.dumps({**GOOD, "action": "walk_to", "target_object_id": "ghost"}),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_answers_are_rejected(fake, backend, name):
    fake.content = BAD[name]
    with pytest.raises(BackendError):
        backend.reason(query(), timeout_s=5.0)


def test_http_error_is_rejected(fake, backend):
    fake.status = 500
    with pytest.raises(BackendError, match="HTTP 500"):
        backend.reason(query(), timeout_s=5.0)


def test_late_answer_is_rejected(fake, backend):
    fake.delay_s = 0.6
    with pytest.raises(BackendError):
        backend.reason(query(), timeout_s=0.3)


def _serve(tmp_path, fake, fallback):
    store = VehicleStore(tmp_path)
    token = store.add_vehicle("car1")
    store.close()
    config = make_config(
        tmp_path,
        reasoner_backend="openai",
        reasoner_fallback=fallback,
        reasoner_timeout_s="0.4",
        openai_base_url=fake.base_url,
        openai_model="fake-model",
    )
    return ServerThread(config).start(), auth_metadata(token)


def test_through_the_server_late_answer_without_fallback_is_unavailable(tmp_path, fake):
    fake.delay_s, fake.status, fake.content = 1.0, 200, json.dumps(GOOD)
    srv, md = _serve(tmp_path, fake, fallback="")
    try:
        with grpc.insecure_channel(srv.target) as ch, pytest.raises(grpc.RpcError) as info:
            reasoner_pb2_grpc.ReasonerStub(ch).Reason(stalled_request(), metadata=md, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        srv.stop()
        fake.delay_s = 0.0


def test_through_the_server_malformed_answer_falls_back_to_deliberative(tmp_path, fake):
    fake.delay_s, fake.status, fake.content = 0.0, 200, BAD["unknown action"]
    srv, md = _serve(tmp_path, fake, fallback="deliberative")
    try:
        with grpc.insecure_channel(srv.target) as ch:
            stub = reasoner_pb2_grpc.ReasonerStub(ch)
            resp = stub.Reason(stalled_request(), metadata=md, timeout=10)
            assert resp.backend.startswith("deliberative (fallback:")
            fake.content = json.dumps(GOOD)
            resp = stub.Reason(stalled_request(), metadata=md, timeout=10)
            assert resp.backend == "openai:fake-model"
            assert resp.action == reasoner_pb2.META_ACTION_PASS_LEFT_ONCOMING
    finally:
        srv.stop()

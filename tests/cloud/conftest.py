"""A real Reasoner server on loopback (in-process, own event loop thread), shared per test module."""

from __future__ import annotations

from types import SimpleNamespace as NS

import grpc
import pytest
from cloud_helpers import make_config

from cloud_reasoner.auth import auth_metadata
from cloud_reasoner.protos.v1 import reasoner_pb2_grpc
from cloud_reasoner.server import ServerThread
from cloud_reasoner.vehicle_store import VehicleStore


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """A running server plus tokens for car1 and car2; yields a namespace with target and helpers."""
    state = tmp_path_factory.mktemp("cloud-state")
    store = VehicleStore(state)
    tokens = {name: store.add_vehicle(name) for name in ("car1", "car2", "robot1")}
    store.close()
    srv = ServerThread(make_config(state)).start()
    channel = grpc.insecure_channel(srv.target)
    stub = reasoner_pb2_grpc.ReasonerStub(channel)
    yield NS(
        server=srv,
        target=srv.target,
        channel=channel,
        stub=stub,
        tokens=tokens,
        md=lambda name="car1": auth_metadata(tokens[name]),
        state=state,
    )
    channel.close()
    srv.stop()

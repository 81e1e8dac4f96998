"""The Fleet service inside the cloud server (cloud_reasoner.server, [fleet] enabled by default), with its
vehicle tokens; the server stops its lease sweeper and closes its store at shutdown."""

import asyncio
import json
import logging

import grpc
import pytest
from grpc import aio

pytest.importorskip("cloud_reasoner.server")

from cloud_reasoner.config import load_config
from cloud_reasoner.fleet.client import FleetSyncClient
from cloud_reasoner.fleet.jobs import SEGMENT_STATS, JobSpec
from cloud_reasoner.fleet.service import pb2
from cloud_reasoner.logs import LOGGER_NAME, setup_logging
from cloud_reasoner.server import ServerThread
from cloud_reasoner.vehicle_store import VehicleStore

from .conftest import OPTED_IN, PARKED, fake_result


def test_fleet_rpcs_through_the_cloud_server(tmp_path):
    env = {
        "FLEETPILOT_CLOUD_SERVER_STATE_DIR": str(tmp_path),
        "FLEETPILOT_CLOUD_SERVER_LISTEN": "127.0.0.1:0",
        "FLEETPILOT_CLOUD_SERVER_SHUTDOWN_GRACE_S": "0",
        "FLEETPILOT_CLOUD_SERVER_LOG_LEVEL": "warning",
    }
    vehicles = VehicleStore(tmp_path)
    tokens = {name: vehicles.add_vehicle(name) for name in ("car1", "car2")}
    vehicles.close()
    with ServerThread(load_config(env=env)) as srv:
        store = srv.server.context.fleet.store
        digest = store.put_blobs([b"shard"])[0]
        store.add_jobs([(JobSpec("j0", SEGMENT_STATS, digest, {}), 1.0)], 0)
        car1 = FleetSyncClient(srv.target, "car1", tokens["car1"])
        car2 = FleetSyncClient(srv.target, "car2", tokens["car2"])
        car1.register("alice", OPTED_IN)
        car2.register("bob", OPTED_IN)
        (lease,), _ = car1.lease(PARKED)
        with pytest.raises(grpc.RpcError) as e:
            car2.submit(lease.lease_id, fake_result(0), 1.0)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as e:
            FleetSyncClient(srv.target, "car1", "wrong-token").register("x", OPTED_IN)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert car1.submit(lease.lease_id, fake_result(0), 1.0) == ("pending", False)
        car1.close()
        car2.close()


def test_bad_fleet_calls_are_invalid_argument_and_in_the_per_call_log(tmp_path):
    """Inside `cloud serve` too: an undecodable body and a lease id past int64 are INVALID_ARGUMENT (they
    were UNKNOWN) and each call is in the per-call log like any other (issue 24 item 2)."""
    log = tmp_path / "calls.jsonl"
    env = {
        "FLEETPILOT_CLOUD_SERVER_STATE_DIR": str(tmp_path),
        "FLEETPILOT_CLOUD_SERVER_LISTEN": "127.0.0.1:0",
        "FLEETPILOT_CLOUD_SERVER_SHUTDOWN_GRACE_S": "0",
    }
    vehicles = VehicleStore(tmp_path)
    token = vehicles.add_vehicle("car1")
    vehicles.close()
    service = "/" + pb2.DESCRIPTOR.services_by_name["Fleet"].full_name
    huge = pb2.FleetProgressRequest(vehicle_id="car1", lease_id=2**63, progress=0.5).SerializeToString()
    setup_logging(str(log), "info")  # what `cloud serve` does; ServerThread leaves logging alone
    try:
        _bad_calls(env, token, service, huge)
    finally:
        logger = logging.getLogger(LOGGER_NAME)
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    logged = {(c.get("method"), c.get("status")) for c in calls if c.get("msg") == "rpc"}
    assert (f"{service}/Heartbeat", "INVALID_ARGUMENT") in logged
    assert (f"{service}/ReportProgress", "INVALID_ARGUMENT") in logged


def _bad_calls(env: dict, token: str, service: str, huge: bytes) -> None:
    with ServerThread(load_config(env=env)) as srv:

        async def call(method: str, body: bytes) -> str:
            async with aio.insecure_channel(srv.target) as channel:
                try:
                    await channel.unary_unary(f"{service}/{method}")(
                        body, metadata=(("authorization", f"Bearer {token}"),), timeout=10
                    )
                    return "OK"
                except grpc.RpcError as exc:
                    return exc.code().name

        assert asyncio.run(call("Heartbeat", b"\xff\xff\xff\xff")) == "INVALID_ARGUMENT"
        assert asyncio.run(call("ReportProgress", huge)) == "INVALID_ARGUMENT"

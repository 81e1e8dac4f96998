"""The Fleet service inside the System 2 server (cloud_reasoner.server), with its vehicle tokens."""

import asyncio

import grpc
import pytest

pytest.importorskip("cloud_reasoner.server")

from cloud_reasoner.config import load_config
from cloud_reasoner.fleet.client import FleetSyncClient
from cloud_reasoner.fleet.jobs import SEGMENT_STATS, JobSpec
from cloud_reasoner.fleet.server import register
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
    with ServerThread(load_config(env=env), extra_services=[register]) as srv:
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
        # the cloud server has no plugin shutdown hook yet: stop the lease sweeper ourselves
        asyncio.run_coroutine_threadsafe(srv.server.context.fleet.stop_sweeper(), srv._loop).result(5)

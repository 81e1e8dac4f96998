"""The Fleet service over real gRPC on loopback (in-process server on its own event loop thread)."""

import asyncio
import threading
import time

import grpc
import numpy as np
import pytest

from cloud_reasoner.fleet.blobs import digest_of
from cloud_reasoner.fleet.client import FleetSyncClient
from cloud_reasoner.fleet.jobs import SEGMENT_STATS, JobSpec, ModelCache, execute, make_shard
from cloud_reasoner.fleet.server import FleetRuntime, new_server
from cloud_reasoner.fleet.service import pb2
from cloud_reasoner.fleet.store import SqliteFleetStore, StoreConfig

from .conftest import OPTED_IN, PARKED, fake_result

TTL_S = 60.0


class LoopbackServer:
    def __init__(self, path) -> None:
        self.store = SqliteFleetStore(path, StoreConfig(trust_after=3, spot_check_probability=0.0))
        self.offset_ns = 0  # tests move the server's clock forward to pass deadlines
        self.runtime = FleetRuntime(self.store, lease_ttl_s=TTL_S, sweep_period_s=3600)
        self.runtime.servicer.clock_ns = lambda: time.time_ns() + self.offset_ns
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def start():
            self.server = new_server()
            self.runtime.attach(self.server)
            self.port = self.server.add_insecure_port("127.0.0.1:0")
            await self.server.start()
            ready.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(start(), self.loop)
        assert ready.wait(10)
        self.tokens = self.store.add_tokens(["a", "b", "c"])

    def client(self, vid: str, token: str | None = None) -> FleetSyncClient:
        c = FleetSyncClient(f"127.0.0.1:{self.port}", vid, token or self.tokens[vid])
        return c

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.store.close()


@pytest.fixture
def srv(tmp_path):
    s = LoopbackServer(tmp_path / "fleet.sqlite")
    yield s
    s.close()


def add_jobs(srv, n=1, data=b"shard"):
    digest = srv.store.put_blobs([data])[0]
    srv.store.add_jobs([(JobSpec(f"job-{i}", SEGMENT_STATS, digest, {}), 1.0) for i in range(n)], 0)


def registered(srv, *names):
    clients = [srv.client(n) for n in names]
    for c in clients:
        c.register(f"owner-{c.vehicle_id}", OPTED_IN)
    return clients


def test_unauthenticated_and_impersonation(srv):
    bad = srv.client("a", token="not-a-token")
    with pytest.raises(grpc.RpcError) as e:
        bad.register("x", OPTED_IN)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    impostor = srv.client("b", token=srv.tokens["a"])  # a's token, b's id
    with pytest.raises(grpc.RpcError) as e:
        impostor.register("x", OPTED_IN)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_cannot_submit_or_release_another_vehicles_lease(srv):
    a, b = registered(srv, "a", "b")
    add_jobs(srv)
    (lease,), _ = a.lease(PARKED)
    for call in (lambda: b.submit(lease.lease_id, fake_result(0), 1.0), lambda: b.release(lease.lease_id)):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert a.submit(lease.lease_id, fake_result(0), 1.0) == ("pending", False)


def test_late_result_is_not_credited(srv):
    a, b, _c = registered(srv, "a", "b", "c")
    add_jobs(srv)
    (la,), _ = a.lease(PARKED)
    (_lb,), _ = b.lease(PARKED)
    srv.offset_ns = int((TTL_S + 1) * 1e9)  # past both deadlines
    assert a.submit(la.lease_id, fake_result(0), 1.0) == ("late", False)
    assert srv.store.summary()["jobs"]["open"] == 1
    assert srv.store.credited_results() == []
    assert a.heartbeat(PARKED, [la.lease_id]) == (True, "eligible", [la.lease_id])


def test_duplicate_submission_is_idempotent(srv):
    a, b = registered(srv, "a", "b")
    add_jobs(srv)
    (la,), _ = a.lease(PARKED)
    (lb,), _ = b.lease(PARKED)
    assert a.submit(la.lease_id, fake_result(0), 1.0) == ("pending", False)
    assert b.submit(lb.lease_id, fake_result(0), 1.0) == ("valid", False)
    assert b.submit(lb.lease_id, fake_result(0), 1.0) == ("valid", True)
    assert a.submit(la.lease_id, fake_result(0), 1.0) == ("valid", True)
    assert len(srv.store.credited_results()) == 2
    with pytest.raises(grpc.RpcError) as e:
        a.submit(la.lease_id, fake_result(1), 1.0)  # a different result for the same lease
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_corrupted_blob_is_rejected(srv):
    (a,) = registered(srv, "a")
    add_jobs(srv)
    data = b"some checkpoint"
    with pytest.raises(grpc.RpcError) as e:
        a.put_blob(data + b"!", digest_of(data))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hash to" in e.value.details()
    (lease,), _ = a.lease(PARKED)
    with pytest.raises(grpc.RpcError) as e:
        a.submit(lease.lease_id, fake_result(0), 1.0, digest=digest_of(fake_result(1)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        a.get_blob("sha256:nothex")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_real_perception_job_over_grpc(srv):
    rng = np.random.default_rng(3)
    from perception.dataset import CAMERA_HEIGHT, CAMERA_WIDTH

    shard = make_shard(rng.integers(0, 256, size=(3, CAMERA_HEIGHT, CAMERA_WIDTH, 3), dtype=np.uint8))
    a, b = registered(srv, "a", "b")
    add_jobs(srv, data=shard)
    models = ModelCache(threads=1)
    statuses = []
    for c in (a, b):
        (lease,), _ = c.lease(PARKED)
        result = execute(lease.job, c.get_blob, models=models)
        statuses.append(c.submit(lease.lease_id, result, 0.1)[0])
    assert statuses == ["pending", "valid"]
    assert srv.store.summary()["jobs"]["validated"] == 1


def test_bad_lease_request_is_invalid_argument(srv):
    (a,) = registered(srv, "a")
    with pytest.raises(grpc.RpcError) as e:
        a.stub.LeaseJob(pb2.FleetLeaseRequest(vehicle_id="a", max_units=0), metadata=a.md, timeout=2)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        state = pb2.FleetVehicleState(parked=True, state_of_charge=7.0)
        a.stub.LeaseJob(
            pb2.FleetLeaseRequest(vehicle_id="a", state=state, max_units=1), metadata=a.md, timeout=2
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT

"""ParkDetector (stamp time, re-arming only after motion) and AgentRunner (the agent on its own
thread) against a real server: a drive request releases the lease; an unreachable server is an
error in the diagnostics, not a crash or a hang."""

import time

import numpy as np
import pytest

from cloud_reasoner.fleet.agent import FleetAgent
from cloud_reasoner.fleet.agent_runner import AgentRunner, ParkDetector
from cloud_reasoner.fleet.client import FleetSyncClient
from cloud_reasoner.fleet.jobs import make_shard
from perception.dataset import CAMERA_HEIGHT, CAMERA_WIDTH

from .conftest import OPTED_IN, PARKED
from .test_service import add_jobs, srv  # noqa: F401 - the fixture

# The job process runs at SCHED_IDLE: it computes only on a core nothing else wants.
pytestmark = pytest.mark.alone

S = 1_000_000_000


def test_park_detector_needs_standstill_for_hold_s_of_stamp_time():
    d = ParkDetector(speed_threshold=0.05, hold_s=2.0)
    assert not d.update(0, 3.0)
    assert not d.update(1 * S, 0.01)
    assert not d.update(int(2.9 * S), 0.0)
    assert d.update(3 * S, 0.0)  # still since t=1 s
    assert not d.update(4 * S, 0.2)  # moving again
    assert not d.update(5 * S, 0.0)
    assert d.update(7 * S, 0.0)


def test_park_detector_after_a_drive_request_waits_for_motion():
    d = ParkDetector(hold_s=1.0)
    d.update(0, 0.0)
    assert d.update(2 * S, 0.0)
    d.drive_requested()
    assert not d.parked
    assert not d.update(10 * S, 0.0)  # still standing: the owner is getting in, not parked
    d.update(11 * S, 5.0)
    d.update(12 * S, 0.0)
    assert d.update(13 * S, 0.0)


@pytest.mark.parametrize("bad", [dict(speed_threshold=0.0), dict(hold_s=-1.0)])
def test_park_detector_rejects_bad_parameters(bad):
    with pytest.raises(ValueError):
        ParkDetector(**bad)


def wait_for(cond, timeout_s=30.0):
    t_end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < t_end, "condition not reached"
        time.sleep(0.01)


def test_runner_drive_request_releases_the_lease(srv):  # noqa: F811
    rng = np.random.default_rng(1)
    shard = make_shard(rng.integers(0, 256, size=(200, CAMERA_HEIGHT, CAMERA_WIDTH, 3), dtype=np.uint8))
    add_jobs(srv, data=shard)
    agent = FleetAgent(srv.client("a"), OPTED_IN, "owner-a", heartbeat_period_s=3600)
    runner = AgentRunner(agent, step_period_s=0.05).start()
    try:
        runner.set_state(PARKED)
        wait_for(lambda: runner.snapshot().get("busy"))
        lease_id = runner.snapshot()["lease_id"]
        runner.drive_request()
        wait_for(lambda: not runner.snapshot()["busy"], 5.0)
        (state,) = srv.store._db.execute("SELECT state FROM leases WHERE lease_id=?", (lease_id,)).fetchone()
        assert state == "released"
        assert [p.lease_id for p in runner.preemptions] == [lease_id]
        print(f"runner preemption {runner.preemptions[0].latency_s * 1e3:.1f} ms")
        time.sleep(0.3)
        assert not runner.snapshot()["busy"]  # driving: no new lease
    finally:
        runner.stop()


def test_runner_survives_an_unreachable_server():
    client = FleetSyncClient("127.0.0.1:1", "a", "token", timeout_s=0.2)
    runner = AgentRunner(FleetAgent(client, OPTED_IN, "owner-a"), step_period_s=0.05).start()
    try:
        runner.set_state(PARKED)
        wait_for(lambda: runner.snapshot().get("errors", 0) > 0, 10.0)
        snap = runner.snapshot()
        assert snap["registered"] is False and "UNAVAILABLE" in snap["last_error"]
    finally:
        t0 = time.monotonic()
        runner.stop()
        assert time.monotonic() - t0 < 5.0
        client.close()


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    yield
    import multiprocessing

    for p in multiprocessing.active_children():
        p.kill()


def test_agent_process_leases_and_releases_on_a_drive_request(srv):  # noqa: F811
    """The node's default: the agent in a child process, driven over a pipe."""
    from cloud_reasoner.fleet.agent_runner import AgentProcess

    rng = np.random.default_rng(2)
    shard = make_shard(rng.integers(0, 256, size=(200, CAMERA_HEIGHT, CAMERA_WIDTH, 3), dtype=np.uint8))
    add_jobs(srv, data=shard)
    agent = AgentProcess(
        f"127.0.0.1:{srv.port}", "a", srv.tokens["a"], OPTED_IN, "owner-a", heartbeat_period_s=3600
    ).start()
    try:
        agent.set_state(PARKED)
        wait_for(lambda: agent.snapshot().get("computing"), 60.0)
        lease_id = agent.snapshot()["lease_id"]
        agent.drive_request()
        wait_for(lambda: agent.preemptions, 10.0)
        assert agent.preemptions[0].lease_id == lease_id and agent.preemptions[0].latency_s < 1.0
        (state,) = srv.store._db.execute("SELECT state FROM leases WHERE lease_id=?", (lease_id,)).fetchone()
        assert state == "released"
    finally:
        agent.stop()
    assert agent.snapshot()["busy"] is False and agent.errors == []

"""The vehicle agent against a real server: a real job runs in a low-priority process, is preempted
when the vehicle is about to drive (lease released with a checkpoint, bounded time), then resumed and
finished."""

import time
from dataclasses import replace

import numpy as np
import pytest

from cloud_reasoner.fleet.agent import FleetAgent
from cloud_reasoner.fleet.jobs import make_shard
from perception.dataset import CAMERA_HEIGHT, CAMERA_WIDTH

from .conftest import OPTED_IN, PARKED
from .test_service import add_jobs, srv  # noqa: F401 - the fixture

FRAMES = 96


def wait_for(cond, timeout_s=30.0):
    t_end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > t_end:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


def test_preempt_releases_with_checkpoint_then_resume_finishes(srv):  # noqa: F811
    rng = np.random.default_rng(5)
    shard = make_shard(rng.integers(0, 256, size=(FRAMES, CAMERA_HEIGHT, CAMERA_WIDTH, 3), dtype=np.uint8))
    add_jobs(srv, data=shard)
    agent = FleetAgent(srv.client("a"), OPTED_IN, "owner-a", heartbeat_period_s=3600)
    agent.register()
    try:
        agent.update_state(PARKED)
        agent.step()
        assert agent.busy
        lease_id = agent.lease.lease_id

        def checkpointed():
            agent.step()
            return agent.last_checkpoint is not None

        wait_for(checkpointed)
        dt = agent.update_state(replace(PARKED, parked=False)) or agent.stats.preempt_latency_s[-1]
        print(f"preempt latency {dt * 1e3:.1f} ms")
        assert not agent.busy
        assert dt < 1.0  # loose: the 0.2 s target is reported by the number above, not asserted
        state, cp = srv.store._db.execute(
            "SELECT state, checkpoint_digest FROM leases WHERE lease_id=?", (lease_id,)
        ).fetchone()
        assert state == "released" and cp is not None

        agent.update_state(PARKED)
        agent.step()
        assert agent.lease.checkpoint_digest == cp  # resumes from its own checkpoint

        def done():
            agent.step()
            return not agent.busy

        wait_for(done, 60)
        assert agent.stats.submitted == 1 and agent.stats.last_status == "pending", agent.stats
    finally:
        agent.close()


def test_ineligible_agent_does_not_lease(srv):  # noqa: F811
    add_jobs(srv)
    agent = FleetAgent(srv.client("b"), OPTED_IN, "owner-b", heartbeat_period_s=3600)
    agent.register()
    agent.update_state(replace(PARKED, temperature_c=90.0))
    agent.step()
    assert not agent.busy
    agent.close()


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    yield
    import multiprocessing

    for p in multiprocessing.active_children():
        p.kill()

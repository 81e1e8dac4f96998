"""ReasonerClient: never blocks, one call in flight, answers matched to frames, only UNAVAILABLE retried."""

import socket
import time

import pytest
from cloud_helpers import make_config, stalled_request

from cloud_reasoner.backends.base import Backend
from cloud_reasoner.backends.deliberative import DeliberativeBackend
from cloud_reasoner.client import ReasonerClient
from cloud_reasoner.server import ServerThread
from cloud_reasoner.vehicle_store import VehicleStore


def wait_answer(client, timeout_s=10.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        advice = client.poll()
        if advice is not None:
            return advice
        if not client.busy:
            return None
        time.sleep(0.005)
    raise AssertionError("no answer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_submit_poll_and_one_in_flight(cloud):
    with ReasonerClient(cloud.target, cloud.tokens["car1"], "car1") as client:
        assert client.poll() is None
        assert client.submit(stalled_request(frame_id="cam/1", stamp_ns=100))
        assert not client.submit(stalled_request(frame_id="cam/2", stamp_ns=200))  # busy
        advice = wait_answer(client)
        assert advice.frame_id == "cam/1" and advice.stamp_ns == 100
        assert client.poll() is None  # delivered once
        assert (
            client.counters.requests == 1
            and client.counters.rejected_busy == 1
            and client.counters.answers == 1
        )
        # stale once the vehicle's clock passes stamp + valid_for_s
        assert not advice.is_stale(100) and advice.is_stale(100 + int(advice.valid_for_s * 1e9) + 1)
        assert client.submit(stalled_request(frame_id="cam/3", stamp_ns=300))
        assert wait_answer(client).frame_id == "cam/3"


def test_client_refuses_requests_for_another_vehicle(cloud):
    with ReasonerClient(cloud.target, cloud.tokens["car1"], "car1") as client, pytest.raises(ValueError):
        client.submit(stalled_request("car2"))


def test_permission_denied_is_an_error_not_retried(cloud):
    with ReasonerClient(cloud.target, cloud.tokens["car2"], "car1") as client:  # car2's token, claims car1
        assert client.submit(stalled_request("car1"))
        assert wait_answer(client) is None
        assert client.counters.errors == 1 and client.counters.retries == 0
        assert "PERMISSION_DENIED" in client.last_error


@pytest.mark.alone  # wall-clock bounds: not beside other tests
def test_server_down_retries_with_backoff_until_the_deadline_and_never_blocks_the_caller():
    target = f"127.0.0.1:{free_port()}"  # nobody listens
    with ReasonerClient(target, "fpv1_x", "car1", deadline_s=0.5, backoff_initial_s=0.02) as client:
        t0 = time.perf_counter()
        assert client.submit(stalled_request())
        for _ in range(100):
            client.poll()
        assert time.perf_counter() - t0 < 0.05  # submit + 100 polls: no network wait
        assert wait_answer(client, 5.0) is None
        assert client.counters.timeouts == 1 and client.counters.retries >= 2
        assert client.counters.errors == 0


def test_a_cloud_that_stays_unreachable_opens_the_circuit_and_a_cloud_back_closes_it(tmp_path):
    store = VehicleStore(tmp_path)
    token = store.add_vehicle("car1")
    store.close()
    port = free_port()  # nobody listens yet
    with ReasonerClient(
        f"127.0.0.1:{port}", token, "car1", deadline_s=0.2, breaker_failures=2, breaker_cooldown_s=1.0
    ) as client:
        for _ in range(2):
            assert client.submit(stalled_request()) and wait_answer(client) is None
        assert client.counters.timeouts == 2 and client.counters.retries >= 2  # each tried until its deadline
        retries = client.counters.retries
        t0 = time.perf_counter()
        assert client.submit(stalled_request()) and wait_answer(client) is None
        assert time.perf_counter() - t0 < 0.1  # failed at once: no call, no retries
        assert client.counters.breaker_open == 1 and client.counters.retries == retries
        assert "circuit open" in client.last_error
        with ServerThread(make_config(tmp_path, server_listen=f"127.0.0.1:{port}")):
            time.sleep(1.0)  # the cool-down: the next request goes out again (half-open)
            assert client.submit(stalled_request()) and wait_answer(client) is not None
            assert client.submit(stalled_request()) and wait_answer(client) is not None  # closed
        assert client.counters.breaker_open == 1


def test_errors_the_service_itself_gives_do_not_open_the_circuit(cloud):
    with ReasonerClient(
        cloud.target, cloud.tokens["car2"], "car1", breaker_failures=1, breaker_cooldown_s=60.0
    ) as client:
        for _ in range(3):  # PERMISSION_DENIED: the service is there and answering
            assert client.submit(stalled_request("car1")) and wait_answer(client) is None
        assert client.counters.errors == 3 and client.counters.breaker_open == 0


def test_bad_breaker_settings_are_rejected():
    with pytest.raises(ValueError, match="breaker"):
        ReasonerClient("127.0.0.1:1", "t", "car1", breaker_failures=0)


class SlowBackend(Backend):
    name = "slow"
    blocking = True

    def reason(self, query, timeout_s):
        time.sleep(min(timeout_s, 2.0))
        return DeliberativeBackend().reason(query, timeout_s)


@pytest.mark.alone  # wall-clock bounds: not beside other tests
def test_slow_cloud_times_out_without_retry(tmp_path):
    store = VehicleStore(tmp_path)
    token = store.add_vehicle("car1")
    store.close()
    config = make_config(tmp_path, reasoner_fallback="", reasoner_timeout_s="5")
    with (
        ServerThread(config, backend=SlowBackend()) as srv,
        ReasonerClient(srv.target, token, "car1", deadline_s=0.3) as client,
    ):
        assert client.submit(stalled_request())
        assert wait_answer(client) is None
        assert client.counters.timeouts == 1 and client.counters.retries == 0


def test_unavailable_then_server_comes_up_is_retried_into_an_answer(tmp_path):
    store = VehicleStore(tmp_path)
    token = store.add_vehicle("car1")
    store.close()
    port = free_port()
    config = make_config(tmp_path, server_listen=f"127.0.0.1:{port}")
    with ReasonerClient(f"127.0.0.1:{port}", token, "car1", deadline_s=8.0, backoff_initial_s=0.05) as client:
        assert client.submit(stalled_request())
        time.sleep(0.3)  # a few UNAVAILABLE attempts
        with ServerThread(config):
            advice = wait_answer(client, 10.0)
        assert advice is not None and client.counters.retries >= 1


@pytest.mark.alone  # wall-clock bounds: not beside other tests
def test_close_cancels_an_in_flight_call_promptly(tmp_path):
    store = VehicleStore(tmp_path)
    token = store.add_vehicle("car1")
    store.close()
    with ServerThread(make_config(tmp_path, reasoner_fallback=""), backend=SlowBackend()) as srv:
        client = ReasonerClient(srv.target, token, "car1", deadline_s=5.0)
        client.submit(stalled_request())
        time.sleep(0.1)
        t0 = time.perf_counter()
        client.close()
        assert time.perf_counter() - t0 < 1.5
        assert not client.submit(stalled_request())

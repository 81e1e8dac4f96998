"""The vehicle side: a Reasoner client that never blocks its caller.

    client = ReasonerClient(target, token, vehicle_id)
    if client.submit(request):        # False while a request is in flight: one at a time
        ...
    advice = client.poll()            # None until an answer arrived; then the Advice once
    if advice and not advice.is_stale(now_ns): ...

A background thread owns the gRPC channel and makes the call, with a deadline on every attempt;
it retries only UNAVAILABLE (exponential backoff, within the request's overall deadline). Answers
carry the frame id and stamp they answer (Advice.frame_id/stamp_ns), so the caller drops the ones
that are stale. submit() and poll() only touch a lock-protected slot: they return in microseconds
even when the network hangs.

A circuit breaker stops hammering a cloud that is gone: after `breaker_failures` requests in a row
that ended unreachable or late, requests fail at once ("circuit open") for `breaker_cooldown_s`; the
first request after that goes out again (half-open) and a success closes the circuit. The vehicle
loses nothing by it (each of those calls would have failed after a full deadline, while it kept its
minimal-risk behaviour anyway) and gets its error reply without waiting; the service, coming back,
is not met by every vehicle's retry storm at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import grpc

from cloud_reasoner.auth import auth_metadata
from cloud_reasoner.convert import InvalidRequest, advice_from_proto
from cloud_reasoner.protos.v1 import reasoner_pb2, reasoner_pb2_grpc
from cloud_reasoner.query import Advice


@dataclass
class ClientCounters:
    requests: int = 0  # submitted and accepted
    rejected_busy: int = 0  # submit() returned False
    answers: int = 0  # valid advice delivered to poll()
    errors: int = 0  # requests that ended with a non-OK status (other than deadline)
    timeouts: int = 0  # requests that ran out of deadline
    retries: int = 0  # extra attempts after UNAVAILABLE
    breaker_open: int = 0  # requests failed at once because the circuit was open


@dataclass(frozen=True)
class TlsOptions:
    root_ca: bytes | None = None  # PEM; None = system roots
    client_cert: bytes | None = None  # PEM, for mutual TLS
    client_key: bytes | None = None


class ReasonerClient:
    def __init__(
        self,
        target: str,
        token: str,
        vehicle_id: str,
        *,
        deadline_s: float = 2.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        breaker_failures: int = 3,
        breaker_cooldown_s: float = 5.0,
        tls: TlsOptions | None = None,
    ):
        if not deadline_s > 0:
            raise ValueError(f"deadline_s must be > 0, got {deadline_s}")
        if breaker_failures < 1 or not breaker_cooldown_s >= 0:
            raise ValueError(
                f"need breaker_failures >= 1 and breaker_cooldown_s >= 0, got {breaker_failures}, "
                f"{breaker_cooldown_s}"
            )
        self.vehicle_id = vehicle_id
        self.deadline_s = deadline_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.breaker_failures = int(breaker_failures)
        self.breaker_cooldown_s = float(breaker_cooldown_s)
        self._failures_in_a_row = 0  # worker thread only
        self._open_until = 0.0  # time.monotonic() before which the circuit is open
        self.counters = ClientCounters()
        self.last_error: str | None = None
        self._metadata = auth_metadata(token)
        if tls is None:
            self._channel = grpc.insecure_channel(target)
        else:
            creds = grpc.ssl_channel_credentials(tls.root_ca, tls.client_key, tls.client_cert)
            self._channel = grpc.secure_channel(target, creds)
        self._stub = reasoner_pb2_grpc.ReasonerStub(self._channel)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: reasoner_pb2.ReasonRequest | None = None
        self._busy = False
        self._result: Advice | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._worker, name="reasoner-client", daemon=True)
        self._thread.start()

    # --- caller side: never blocks ------------------------------------------------------------------

    def submit(self, request: reasoner_pb2.ReasonRequest) -> bool:
        """Queue a request; False (and nothing sent) while another one is in flight or after close()."""
        if request.vehicle_id != self.vehicle_id:
            raise ValueError(
                f"request.vehicle_id {request.vehicle_id!r} is not this client's {self.vehicle_id!r}"
            )
        with self._lock:
            if self._busy or self._closed:
                self.counters.rejected_busy += 1
                return False
            self._busy = True
            self._pending = request
            self.counters.requests += 1
            self._wake.notify()
        return True

    def poll(self) -> Advice | None:
        """The newest answer not yet returned, or None."""
        with self._lock:
            result, self._result = self._result, None
            return result

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._busy

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._channel.close()  # cancels an in-flight call
        self._thread.join(5)

    def __enter__(self) -> ReasonerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- worker thread ---------------------------------------------------------------------------

    def _worker(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                request, self._pending = self._pending, None
            advice, error = self._call_through_breaker(request)
            with self._lock:
                if advice is not None:
                    self._result = advice
                    self.counters.answers += 1
                self.last_error = error
                self._busy = False

    def _call_through_breaker(self, request) -> tuple[Advice | None, str | None]:
        now = time.monotonic()
        if now < self._open_until:
            self.counters.breaker_open += 1
            n, wait = self._failures_in_a_row, self._open_until - now
            return None, f"circuit open: cloud unreachable {n} times in a row (next try in {wait:.1f} s)"
        advice, error, unreachable = self._call(request)
        if unreachable:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.breaker_failures:
                self._open_until = time.monotonic() + self.breaker_cooldown_s
        else:
            self._failures_in_a_row = 0  # an answer, or an error the service itself gave: it is there
        return advice, error

    def _call(self, request) -> tuple[Advice | None, str | None, bool]:
        """(advice, error, unreachable): unreachable when the call ran out of deadline or never got
        through (what the circuit breaker counts)."""
        deadline = time.monotonic() + self.deadline_s
        backoff = self.backoff_initial_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.counters.timeouts += 1
                return None, "deadline exceeded", True
            try:
                response = self._stub.Reason(request, timeout=remaining, metadata=self._metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                if self._closed:
                    return None, "closed", False
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    # Not retried: only UNAVAILABLE is (the answer would be late anyway).
                    self.counters.timeouts += 1
                    return None, "deadline exceeded", True
                if code == grpc.StatusCode.UNAVAILABLE:
                    sleep = min(backoff, max(0.0, deadline - time.monotonic()))
                    if sleep <= 0:
                        self.counters.timeouts += 1
                        return None, f"unavailable until the deadline: {exc.details()}", True
                    time.sleep(sleep)
                    backoff = min(2 * backoff, self.backoff_max_s)
                    self.counters.retries += 1
                    continue
                self.counters.errors += 1
                return None, f"{code.name}: {exc.details()}", False
            try:
                advice = advice_from_proto(response)
            except InvalidRequest as exc:
                self.counters.errors += 1
                return None, f"invalid answer: {exc}", False
            if advice.frame_id != request.frame.frame_id or advice.stamp_ns != request.frame.stamp_ns:
                self.counters.errors += 1
                return None, "answer does not match the request's frame", False
            return advice, None, False

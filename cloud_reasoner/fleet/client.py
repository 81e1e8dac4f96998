"""Vehicle-side clients of the Fleet service: `FleetClient` (grpc.aio, used by the simulator, many
vehicles over one channel) and `FleetSyncClient` (blocking, used by the agent's own thread). Both add
the vehicle's bearer token to every call and put a deadline on every call."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from cloud_reasoner.fleet.blobs import digest_of
from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState
from cloud_reasoner.fleet.service import pb2, pb2_grpc, policy_to_pb, state_to_pb, unit_from_pb
from cloud_reasoner.fleet.store import Lease

# Shards and models are larger than gRPC's 4 MiB default; the server accepts up to 20 MiB.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 20 * 1024 * 1024),
    ("grpc.max_send_message_length", 20 * 1024 * 1024),
]
STATUS_NAMES = {v: k for k, v in pb2.FleetSubmitStatus.items()}


def status_name(code: int) -> str:
    return STATUS_NAMES[code].removeprefix("FLEET_SUBMIT_STATUS_").lower()


def _metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def result_msg(lease_id: int, result: bytes, compute_s: float):
    return pb2.FleetResult(
        lease_id=lease_id, result=result, result_digest=digest_of(result), compute_s=compute_s
    )


class FleetClient:
    """One vehicle's view over a shared grpc.aio channel."""

    def __init__(
        self, channel: grpc.aio.Channel, vehicle_id: str, token: str, timeout_s: float = 5.0
    ) -> None:
        self.stub = pb2_grpc.FleetStub(channel)
        self.vehicle_id = vehicle_id
        self.md = _metadata(token)
        self.timeout_s = timeout_s

    async def register(self, owner: str, policy: OptInPolicy, compute_power_w: float = 30.0) -> None:
        await self.stub.Register(
            pb2.FleetRegisterRequest(
                vehicle_id=self.vehicle_id,
                owner=owner,
                policy=policy_to_pb(policy),
                compute_power_w=compute_power_w,
            ),
            metadata=self.md,
            timeout=self.timeout_s,
        )

    async def lease(self, state: VehicleState, max_units: int) -> tuple[list[Lease], str]:
        resp = await self.stub.LeaseJob(
            pb2.FleetLeaseRequest(vehicle_id=self.vehicle_id, state=state_to_pb(state), max_units=max_units),
            metadata=self.md,
            timeout=self.timeout_s,
        )
        return [unit_from_pb(u) for u in resp.units], resp.reason

    async def submit(self, results: Sequence) -> list[tuple[int, str, bool]]:
        """`results`: FleetResult messages (see `result_msg`). Returns (lease_id, status, duplicate)."""
        resp = await self.stub.SubmitResult(
            pb2.FleetSubmitRequest(vehicle_id=self.vehicle_id, results=list(results)),
            metadata=self.md,
            timeout=self.timeout_s,
        )
        return [(o.lease_id, status_name(o.status), o.duplicate) for o in resp.outcomes]

    async def release(self, lease_ids: Sequence[int], checkpoint_digest: str = "") -> list[int]:
        resp = await self.stub.CancelLease(
            pb2.FleetCancelRequest(
                vehicle_id=self.vehicle_id,
                releases=[
                    pb2.FleetRelease(lease_id=i, checkpoint_digest=checkpoint_digest) for i in lease_ids
                ],
            ),
            metadata=self.md,
            timeout=self.timeout_s,
        )
        return list(resp.released_lease_ids)


class FleetSyncClient:
    """Blocking client with its own channel (the agent calls it from its worker thread)."""

    def __init__(self, target: str, vehicle_id: str, token: str, timeout_s: float = 2.0) -> None:
        self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.stub = pb2_grpc.FleetStub(self.channel)
        self.vehicle_id = vehicle_id
        self.md = _metadata(token)
        self.timeout_s = timeout_s

    def close(self) -> None:
        self.channel.close()

    def register(self, owner: str, policy: OptInPolicy, compute_power_w: float = 30.0) -> None:
        self.stub.Register(
            pb2.FleetRegisterRequest(
                vehicle_id=self.vehicle_id,
                owner=owner,
                policy=policy_to_pb(policy),
                compute_power_w=compute_power_w,
            ),
            metadata=self.md,
            timeout=self.timeout_s,
        )

    def heartbeat(self, state: VehicleState, lease_ids: Sequence[int] = ()) -> tuple[bool, str, list[int]]:
        resp = self.stub.Heartbeat(
            pb2.FleetHeartbeatRequest(
                vehicle_id=self.vehicle_id, state=state_to_pb(state), lease_ids=lease_ids
            ),
            metadata=self.md,
            timeout=self.timeout_s,
        )
        return resp.eligible, resp.reason, list(resp.inactive_lease_ids)

    def lease(self, state: VehicleState, max_units: int = 1) -> tuple[list[Lease], str]:
        resp = self.stub.LeaseJob(
            pb2.FleetLeaseRequest(vehicle_id=self.vehicle_id, state=state_to_pb(state), max_units=max_units),
            metadata=self.md,
            timeout=self.timeout_s,
        )
        return [unit_from_pb(u) for u in resp.units], resp.reason

    def put_blob(self, data: bytes, digest: str | None = None, timeout_s: float | None = None) -> str:
        digest = digest or digest_of(data)
        self.stub.PutBlob(
            pb2.FleetPutBlobRequest(vehicle_id=self.vehicle_id, data=data, digest=digest),
            metadata=self.md,
            timeout=timeout_s or self.timeout_s,
        )
        return digest

    def get_blob(self, digest: str) -> bytes:
        resp = self.stub.GetBlob(
            pb2.FleetGetBlobRequest(vehicle_id=self.vehicle_id, digest=digest),
            metadata=self.md,
            timeout=max(self.timeout_s, 10.0),
        )
        return resp.data

    def progress(self, lease_id: int, checkpoint_digest: str, progress: float) -> bool:
        resp = self.stub.ReportProgress(
            pb2.FleetProgressRequest(
                vehicle_id=self.vehicle_id,
                lease_id=lease_id,
                checkpoint_digest=checkpoint_digest,
                progress=progress,
            ),
            metadata=self.md,
            timeout=self.timeout_s,
        )
        return resp.lease_active

    def submit(self, lease_id: int, result: bytes, compute_s: float, digest: str | None = None):
        msg = result_msg(lease_id, result, compute_s)
        if digest is not None:
            msg.result_digest = digest
        resp = self.stub.SubmitResult(
            pb2.FleetSubmitRequest(vehicle_id=self.vehicle_id, results=[msg]),
            metadata=self.md,
            timeout=self.timeout_s,
        )
        o = resp.outcomes[0]
        return status_name(o.status), o.duplicate

    def release(self, lease_id: int, checkpoint_digest: str = "", timeout_s: float | None = None) -> bool:
        resp = self.stub.CancelLease(
            pb2.FleetCancelRequest(
                vehicle_id=self.vehicle_id,
                releases=[pb2.FleetRelease(lease_id=lease_id, checkpoint_digest=checkpoint_digest)],
            ),
            metadata=self.md,
            timeout=timeout_s or self.timeout_s,
        )
        return lease_id in resp.released_lease_ids

"""The Fleet gRPC servicer: thin translation between protobuf messages and the FleetStore.

Authentication is delegated to an `authenticate(metadata) -> vehicle_id | None` callable so the same
servicer runs inside the System 2 server (its per-vehicle token store) or stand-alone
(`TokenAuthenticator` over the fleet store's own token table). Store calls are short SQLite
transactions run on the event loop: one writer anyway, and a thread hop would cost more than the
transaction itself.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence

import grpc

from cloud_reasoner.fleet.blobs import MAX_BLOB_BYTES, BlobError, check_digest_format
from cloud_reasoner.fleet.jobs import JobSpec
from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState
from cloud_reasoner.fleet.proto import load
from cloud_reasoner.fleet.store import (
    FailedPrecondition,
    FleetStore,
    InvalidArgument,
    Lease,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ResultItem,
)
from cloud_reasoner.lenient import UndecodableRequest, lenient_parser

pb2, pb2_grpc = load()

Authenticate = Callable[[Sequence[tuple[str, str | bytes]]], "str | None"]
MAX_UNITS_PER_LEASE = 64
# Lease ids are uint64 on the wire and a signed 64-bit integer in the database: an id past that is no
# lease of ours, and must be refused before it reaches SQL (an OverflowError there was UNKNOWN).
MAX_LEASE_ID = 2**63 - 1

_STATUS = {
    "pending": pb2.FLEET_SUBMIT_STATUS_PENDING,
    "valid": pb2.FLEET_SUBMIT_STATUS_VALID,
    "invalid": pb2.FLEET_SUBMIT_STATUS_INVALID,
    "late": pb2.FLEET_SUBMIT_STATUS_LATE,
    "released": pb2.FLEET_SUBMIT_STATUS_RELEASED,
}


def bearer_token(metadata: Sequence[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            value = value.decode() if isinstance(value, bytes) else value
            if value.startswith("Bearer "):
                return value[len("Bearer ") :].strip()
    return None


class TokenAuthenticator:
    """`authorization: Bearer <token>` checked against the fleet store's token hashes."""

    def __init__(self, store: FleetStore) -> None:
        self.store = store

    def __call__(self, metadata: Sequence[tuple[str, str | bytes]]) -> str | None:
        token = bearer_token(metadata)
        return None if not token else self.store.vehicle_for_token(token)


def state_from_pb(msg) -> VehicleState:
    return VehicleState(
        parked=msg.parked,
        charging=msg.charging,
        state_of_charge=msg.state_of_charge,
        temperature_c=msg.temperature_c,
        local_hour=msg.local_hour,
    )


def state_to_pb(state: VehicleState):
    return pb2.FleetVehicleState(
        parked=state.parked,
        charging=state.charging,
        state_of_charge=state.state_of_charge,
        temperature_c=state.temperature_c,
        local_hour=state.local_hour,
    )


def policy_from_pb(msg) -> OptInPolicy:
    return OptInPolicy(
        opted_in=msg.opted_in,
        allowed_hours=(msg.allowed_hours_start, msg.allowed_hours_end),
        min_state_of_charge=msg.min_state_of_charge,
        only_while_charging=msg.only_while_charging,
        max_cpu_share=msg.max_cpu_share,
        max_temperature_c=msg.max_temperature_c,
    )


def policy_to_pb(policy: OptInPolicy):
    return pb2.FleetPolicy(
        opted_in=policy.opted_in,
        allowed_hours_start=policy.allowed_hours[0],
        allowed_hours_end=policy.allowed_hours[1],
        min_state_of_charge=policy.min_state_of_charge,
        only_while_charging=policy.only_while_charging,
        max_cpu_share=policy.max_cpu_share,
        max_temperature_c=policy.max_temperature_c,
    )


def unit_to_pb(lease: Lease):
    return pb2.FleetWorkUnit(
        lease_id=lease.lease_id,
        job=pb2.FleetJobSpec(
            job_id=lease.job.job_id,
            kind=lease.job.kind,
            input_digest=lease.job.input_digest,
            params_json=json.dumps(lease.job.params),
        ),
        deadline_unix_ns=lease.deadline_ns,
        checkpoint_digest=lease.checkpoint_digest or "",
    )


def unit_from_pb(msg) -> Lease:
    params = json.loads(msg.job.params_json or "{}")
    spec = JobSpec(msg.job.job_id, msg.job.kind, msg.job.input_digest, params)
    return Lease(msg.lease_id, spec, msg.deadline_unix_ns, msg.checkpoint_digest or None)


class FleetServicer(pb2_grpc.FleetServicer):
    def __init__(
        self,
        store: FleetStore,
        authenticate: Authenticate,
        *,
        lease_ttl_s: float = 600.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not (math.isfinite(lease_ttl_s) and lease_ttl_s > 0):
            raise ValueError(f"lease_ttl_s must be positive, got {lease_ttl_s}")
        self.store = store
        self.authenticate = authenticate
        self.lease_ttl_ns = int(lease_ttl_s * 1e9)
        self.clock_ns = clock_ns

    async def _caller(self, request, context) -> str:
        """The authenticated vehicle; it must be the one the request names."""
        vehicle = self.authenticate(context.invocation_metadata())
        if vehicle is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or unknown bearer token")
        if request.vehicle_id != vehicle:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"authenticated as {vehicle!r}, request names {request.vehicle_id!r}",
            )
        return vehicle

    async def _lease_ids(self, context, ids) -> None:
        for lease_id in ids:
            if not 0 < lease_id <= MAX_LEASE_ID:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"lease_id {lease_id} is out of range [1, 2^63-1]"
                )

    async def _run(self, context, fn):
        """Call the store; map its domain errors onto status codes with their messages."""
        try:
            return fn()
        except QuotaExceeded as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        except PermissionDenied as e:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(e))
        except NotFound as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except FailedPrecondition as e:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except (InvalidArgument, BlobError, ValueError, OverflowError) as e:
            # OverflowError: a number the database cannot hold (checked earlier where known)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

    async def _state(self, msg, context) -> VehicleState:
        try:
            return state_from_pb(msg)
        except ValueError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"state: {e}")

    async def Register(self, request, context):
        vehicle = await self._caller(request, context)
        try:
            policy = policy_from_pb(request.policy)
        except ValueError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"policy: {e}")
        await self._run(
            context,
            lambda: self.store.register_vehicle(
                vehicle, request.owner, policy, request.compute_power_w, self.clock_ns()
            ),
        )
        return pb2.FleetRegisterResponse()

    async def Heartbeat(self, request, context):
        vehicle = await self._caller(request, context)
        state = await self._state(request.state, context)
        await self._lease_ids(context, request.lease_ids)
        reason, inactive = await self._run(
            context,
            lambda: (
                self.store.heartbeat(vehicle, state, self.clock_ns()),
                self.store.inactive_leases(vehicle, list(request.lease_ids), self.clock_ns()),
            ),
        )
        return pb2.FleetHeartbeatResponse(
            eligible=reason == "eligible", reason=str(reason), inactive_lease_ids=inactive
        )

    async def LeaseJob(self, request, context):
        vehicle = await self._caller(request, context)
        state = await self._state(request.state, context)
        if not 1 <= request.max_units <= MAX_UNITS_PER_LEASE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"max_units must be in [1, {MAX_UNITS_PER_LEASE}]"
            )
        leases, reason = await self._run(
            context,
            lambda: self.store.lease(vehicle, state, request.max_units, self.lease_ttl_ns, self.clock_ns()),
        )
        return pb2.FleetLeaseResponse(units=[unit_to_pb(x) for x in leases], reason=str(reason))

    async def ReportProgress(self, request, context):
        vehicle = await self._caller(request, context)
        await self._lease_ids(context, [request.lease_id])
        active = await self._run(
            context,
            lambda: self.store.report_progress(
                vehicle, request.lease_id, request.checkpoint_digest, request.progress, self.clock_ns()
            ),
        )
        return pb2.FleetProgressResponse(lease_active=active)

    async def SubmitResult(self, request, context):
        vehicle = await self._caller(request, context)
        if not request.results:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no results")
        await self._lease_ids(context, [r.lease_id for r in request.results])
        items = [ResultItem(r.lease_id, r.result, r.result_digest, r.compute_s) for r in request.results]
        outcomes = await self._run(context, lambda: self.store.submit(vehicle, items, self.clock_ns()))
        return pb2.FleetSubmitResponse(
            outcomes=[
                pb2.FleetSubmitOutcome(lease_id=o.lease_id, status=_STATUS[o.status], duplicate=o.duplicate)
                for o in outcomes
            ]
        )

    async def CancelLease(self, request, context):
        vehicle = await self._caller(request, context)
        if not request.releases:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no leases to release")
        await self._lease_ids(context, [r.lease_id for r in request.releases])
        pairs = [(r.lease_id, r.checkpoint_digest or None) for r in request.releases]
        released = await self._run(context, lambda: self.store.release_many(vehicle, pairs, self.clock_ns()))
        return pb2.FleetCancelResponse(released_lease_ids=released)

    async def PutBlob(self, request, context):
        vehicle = await self._caller(request, context)
        if len(request.data) > MAX_BLOB_BYTES:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"blob larger than {MAX_BLOB_BYTES} bytes"
            )
        await self._run(context, lambda: self.store.put_blob(request.data, request.digest, vehicle))
        return pb2.FleetPutBlobResponse()

    async def GetBlob(self, request, context):
        vehicle = await self._caller(request, context)
        try:
            check_digest_format(request.digest)
        except BlobError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        data = self.store.get_blob(request.digest, vehicle)
        if data is None:
            # the same answer whether the blob is missing or another vehicle's: no existence oracle
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest} readable by {vehicle}")
        return pb2.FleetGetBlobResponse(data=data, digest=request.digest)


def add_to_server(servicer: FleetServicer, server) -> None:
    """Like the generated add_FleetServicer_to_server, but every method parses leniently: a body that is
    not its request message is INVALID_ARGUMENT (after authentication), never UNKNOWN."""
    service = pb2.DESCRIPTOR.services_by_name["Fleet"]
    handlers = {}
    for method in service.methods:
        request_type = getattr(pb2, method.input_type.name)
        response_type = getattr(pb2, method.output_type.name)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _decoded_only(servicer, getattr(servicer, method.name)),
            request_deserializer=lenient_parser(request_type),
            response_serializer=response_type.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


def _decoded_only(servicer: FleetServicer, method):
    async def handle(request, context):
        if isinstance(request, UndecodableRequest):
            if servicer.authenticate(context.invocation_metadata()) is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or unknown bearer token")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
        return await method(request, context)

    return handle


def register(server, ctx) -> list[str]:
    """The cloud server plugin (see cloud_reasoner.fleet.server.register); also reachable here, the
    name cloud_reasoner/server.py's docstring gives."""
    from cloud_reasoner.fleet.server import register as register_fleet

    return register_fleet(server, ctx)

"""Per-vehicle authentication from call metadata (`authorization: Bearer <token>`).

Every RPC except health and reflection passes AuthInterceptor, which rejects missing or unknown
tokens with UNAUTHENTICATED before any servicer code runs and remembers the caller in a context
variable (grpc.aio runs the interceptor and the handler in the same contextvars.Context). Servicers
(Reasoner, Fleet, ...) then call:

    vehicle = await require_vehicle(context, claimed=request.vehicle_id)

which returns the authenticated vehicle name and aborts with PERMISSION_DENIED when the request
names another vehicle.
"""

from __future__ import annotations

import contextvars

import grpc
from grpc import aio

from cloud_reasoner.vehicle_store import VehicleStore

# Methods anyone may call: load balancers and grpcurl need them without credentials.
PUBLIC_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.", "/grpc.reflection.v1.")

_current_vehicle: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fleetpilot_vehicle", default=None
)


def bearer_token(metadata) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def auth_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata a client sends."""
    return (("authorization", f"Bearer {token}"),)


def current_vehicle() -> str | None:
    """The vehicle authenticated for the RPC being handled (None outside an authenticated RPC)."""
    return _current_vehicle.get()


class Authenticator:
    def __init__(self, store: VehicleStore):
        self.store = store

    def vehicle_from_metadata(self, metadata) -> str | None:
        token = bearer_token(metadata)
        return None if token is None else self.store.vehicle_for_token(token)


async def require_vehicle(context: aio.ServicerContext, claimed: str | None = None) -> str:
    """The authenticated vehicle of this call; aborts UNAUTHENTICATED (no/bad token) or
    PERMISSION_DENIED (the request claims to be another vehicle). `claimed=None` skips that check."""
    vehicle = _current_vehicle.get()
    if vehicle is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
    if claimed is not None and claimed != vehicle:
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"authenticated as vehicle {vehicle!r}; may not act as {claimed!r}",
        )
    return vehicle


def set_current_vehicle(vehicle: str) -> None:
    """For interceptors: the handler of this call runs in the same contextvars.Context."""
    _current_vehicle.set(vehicle)


def unauthenticated_handler(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler:
    async def deny(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

    async def deny_stream(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        yield  # pragma: no cover  (makes this an async generator)

    deserializer = None if handler is None else handler.request_deserializer
    if handler is not None and handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(deny_stream, request_deserializer=deserializer)
    # The request is never parsed: raw bytes in, nothing out.
    return grpc.unary_unary_rpc_method_handler(deny, request_deserializer=None)


class AuthInterceptor(aio.ServerInterceptor):
    """Authentication only (the server uses AuthLoggingInterceptor, which also logs)."""

    def __init__(self, authenticator: Authenticator):
        self.authenticator = authenticator

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith(PUBLIC_SERVICE_PREFIXES):
            return await continuation(handler_call_details)
        vehicle = self.authenticator.vehicle_from_metadata(handler_call_details.invocation_metadata)
        handler = await continuation(handler_call_details)
        if vehicle is None:
            return unauthenticated_handler(handler)
        _current_vehicle.set(vehicle)
        return handler

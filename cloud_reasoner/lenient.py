"""Request parsing that never fails a call as UNKNOWN.

gRPC's own deserialiser turns bytes that are not a valid message into a failed call with status UNKNOWN,
before any of our code (or the per-call log) sees it, and logs a traceback per bad request. The lenient
parser hands the handler an UndecodableRequest instead; the handler answers INVALID_ARGUMENT.
"""

from __future__ import annotations


class UndecodableRequest:
    """Stands in for a request whose bytes are not a valid message."""

    def __init__(self, error: str):
        self.error = error


def lenient_parser(message_type):
    def parse(data: bytes):
        try:
            return message_type.FromString(data)
        except Exception as exc:  # protobuf raises DecodeError and, for some corruptions, others
            return UndecodableRequest(f"request is not a valid {message_type.DESCRIPTOR.full_name}: {exc}")

    return parse

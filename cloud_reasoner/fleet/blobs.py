"""Content-addressed blobs: a blob's name is the sha256 of its bytes, written ``sha256:<64 hex>``."""

from __future__ import annotations

import hashlib
import re

PREFIX = "sha256:"
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_BLOB_BYTES = 16 * 1024 * 1024


class BlobError(ValueError):
    """A malformed digest, or bytes that do not match their digest (corruption or tampering)."""


def digest_of(data: bytes) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


def check_digest_format(digest: str) -> None:
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise BlobError(f"digest must look like 'sha256:<64 lowercase hex>', got {digest!r}")


def verify(data: bytes, digest: str) -> None:
    """Raise BlobError unless `data` hashes to `digest`."""
    check_digest_format(digest)
    if len(data) > MAX_BLOB_BYTES:
        raise BlobError(f"blob of {len(data)} bytes exceeds the {MAX_BLOB_BYTES} byte limit")
    actual = digest_of(data)
    if actual != digest:
        raise BlobError(f"blob bytes hash to {actual}, not the claimed {digest}")

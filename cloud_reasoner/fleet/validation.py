"""Do two results of the same job agree? Replicas run on different hardware, so floats may differ in
the last digits; results are compared field by field with an absolute tolerance, never byte by byte.

A quorum is a group of results that all agree with one representative (the canonical result).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

DEFAULT_TOLERANCE = 1e-3


class MalformedResult(ValueError):
    """A result that is not even the right shape: invalid, whoever sent it."""


def parse_result(data: bytes) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedResult(f"result is not JSON: {e}") from e
    if not isinstance(doc, dict) or "kind" not in doc or "frames" not in doc:
        raise MalformedResult("result must be a JSON object with 'kind' and 'frames'")
    return doc


def _close(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool | str) or isinstance(b, bool | str):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        try:  # numeric (nested) lists: one vectorised comparison instead of a Python loop per number
            xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError):
            return all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
        return (
            xa.shape == xb.shape
            and bool(np.isfinite(xa).all() and np.isfinite(xb).all())
            and bool((np.abs(xa - xb) <= tol).all())
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    return False


def results_agree(a: dict, b: dict, tol: float = DEFAULT_TOLERANCE) -> bool:
    """Same kind and frame count, numbers within `tol`. For the low-confidence list, a frame may be in
    one list and not the other only if its mean confidence is within `tol` of the threshold."""
    if a.get("kind") != b.get("kind") or a.get("frames") != b.get("frames"):
        return False
    keys = set(a) | set(b)
    if "low_confidence_frames" in keys:
        rest = keys - {"low_confidence_frames"}
        if not all(k in a and k in b and _close(a[k], b[k], tol) for k in rest):
            return False
        la, lb = a.get("low_confidence_frames"), b.get("low_confidence_frames")
        if not (isinstance(la, list) and isinstance(lb, list)):
            return False
        conf, threshold = a.get("mean_confidence"), a.get("low_confidence_threshold")
        try:
            return all(abs(conf[i] - threshold) <= tol for i in set(la) ^ set(lb))
        except (TypeError, IndexError, KeyError):
            return False
    return all(k in a and k in b and _close(a[k], b[k], tol) for k in keys)


def find_quorum(results: Sequence[dict | None], quorum: int, tol: float = DEFAULT_TOLERANCE) -> int | None:
    """Index of a result that at least `quorum` results (itself included) agree with, else None.
    `None` entries are malformed results: they agree with nothing."""
    if quorum < 1:
        raise ValueError(f"quorum must be >= 1, got {quorum}")
    for i, r in enumerate(results):
        if r is None:
            continue
        votes = sum(1 for other in results if other is not None and results_agree(r, other, tol))
        if votes >= quorum:
            return i
    return None

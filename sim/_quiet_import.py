"""Import pybullet without its build-time banner on standard output.

pybullet prints "pybullet build time: ..." from C at import. On stdout it corrupts machine-readable
output (`fleetpilot scenario run NAME --seed N | jq`), so the import runs with file descriptor 1 pointed
at stderr, and C's stdio buffer is flushed before it is pointed back.
"""

from __future__ import annotations

import ctypes
import os
import sys


def import_pybullet_quietly() -> None:
    if "pybullet" in sys.modules:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        import pybullet  # noqa: F401

        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)

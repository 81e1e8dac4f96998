"""Import pybullet without its build-time banner.

pybullet prints "pybullet build time: ..." from C at import (to stderr in the wheel we pin, to stdout
in some builds). On stdout it corrupts machine-readable output (`fleetpilot scenario run NAME --json
-`); on stderr it is noise in every command's output. So the import runs with file descriptors 1 and
2 pointed at /dev/null, and C's stdio buffers are flushed before they are pointed back. An import
error is raised after the descriptors are restored, so it is never swallowed.

Every module of sim/ imports pybullet from here (`from sim._quiet_import import pybullet as p`), so
the package itself stays free to import: `sim.heap` and the registry-facing helpers load no physics
engine, and commands that need no simulator never pay for one.
"""

from __future__ import annotations

import ctypes
import os
import sys

_BANNER_FDS = (1, 2)


def _import_pybullet_quietly():
    if "pybullet" in sys.modules:
        return sys.modules["pybullet"]
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in _BANNER_FDS}
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in _BANNER_FDS:
            os.dup2(devnull, fd)
        try:
            import pybullet
        finally:
            ctypes.CDLL(None).fflush(None)
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
    return pybullet


pybullet = _import_pybullet_quietly()

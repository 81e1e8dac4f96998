"""One fixed heap fill for PyBullet, so that the same seed gives the same run.

PyBullet 3.2.7 reads heap memory it never wrote when a new contact appears. Measured on humanoid_push
seed 5: before the control period that ends at 247.5 ms, the world state of two runs was bit for bit
the same and so were the torques, yet the next states differed. A replay of the recorded torques in a
bare process always took one branch. The same replay with garbage written into freed blocks between
periods always took the other. What the freed heap holds depends on everything else the process did
and, with threads (onnxruntime's pool, the ROS executor), on timing, so about one run in twenty took
the other branch.

glibc can fill every block it hands out with one byte (`glibc.malloc.perturb`), but its per-thread
cache hands out blocks without the fill, so that cache is turned off too. Tunables are read when the
process starts, so `fleetpilot` re-executes itself once with them set (`reexec_with_fixed_heap`), the
launch files set them for every node process (`child_env_for_fixed_heap`), and `make test` sets them
for the tests. FLEETPILOT_NATIVE_HEAP=1 keeps the default heap (for a profiler
or a debugger); runs may then differ. On a libc other than glibc this module does nothing.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Mapping

TUNABLES: dict[str, str] = {"glibc.malloc.tcache_count": "0", "glibc.malloc.perturb": "165"}
FILL_BYTE = ~165 & 0xFF  # glibc fills a block it hands out with the complement of the perturb byte
OPT_OUT = "FLEETPILOT_NATIVE_HEAP"
_REEXECED = "FLEETPILOT_HEAP_REEXECED"  # set in the re-executed process, so it never loops


def _is_glibc() -> bool:
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def merged_tunables(current: str) -> str:
    """GLIBC_TUNABLES with ours set; other tunables kept; ours replace any value already there."""
    pairs = [kv for kv in current.split(":") if kv and kv.split("=", 1)[0] not in TUNABLES]
    return ":".join(pairs + [f"{k}={v}" for k, v in TUNABLES.items()])


def env_for_fixed_heap(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to re-execute with, or None when there is nothing to do (already set,
    opted out, already re-executed once, or not glibc)."""
    if environ.get(OPT_OUT) == "1" or environ.get(_REEXECED) == "1" or not _is_glibc():
        return None
    current = environ.get("GLIBC_TUNABLES", "")
    merged = merged_tunables(current)
    if set(merged.split(":")) <= set(current.split(":")):
        return None
    return {**environ, "GLIBC_TUNABLES": merged, _REEXECED: "1"}


def child_env_for_fixed_heap(environ: Mapping[str, str]) -> dict[str, str]:
    """What a launcher adds to each child process's environment so it starts with the fixed heap
    (`ros2 launch` on a ROS 2 distribution: its processes do not go through `fleetpilot`); {} when
    opted out or not glibc."""
    if environ.get(OPT_OUT) == "1" or not _is_glibc():
        return {}
    return {"GLIBC_TUNABLES": merged_tunables(environ.get("GLIBC_TUNABLES", ""))}


def reexec_with_fixed_heap() -> None:
    """Replace this process by the same command with the tunables set (returns only if not needed).
    Call it first thing in a command-line entry point, before any output or thread."""
    env = env_for_fixed_heap(os.environ)
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)


def heap_is_fixed() -> bool:
    """Whether this process's heap really hands out reused blocks filled with FILL_BYTE (a probe, not
    an environment check: it also catches a libc that ignored the tunables)."""
    if not _is_glibc():
        return False
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64  # a size the per-thread cache would serve
    block = libc.malloc(size)
    ctypes.memset(block, 0x11, size)
    libc.free(block)
    again = libc.malloc(size)
    try:
        return ctypes.string_at(again, size) == bytes([FILL_BYTE]) * size
    finally:
        libc.free(again)


def main(argv: list[str]) -> int:
    """`python -m sim.heap CMD [ARG...]`: run CMD with the fixed heap (what `make test` does)."""
    if not argv:
        print("usage: python -m sim.heap CMD [ARG...]", file=sys.stderr)
        return 2
    env = env_for_fixed_heap(os.environ) or dict(os.environ)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"sim.heap: cannot run {argv[0]!r}: {exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

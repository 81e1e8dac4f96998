"""`fleetpilot cloud ...` (System 2 service) and `fleetpilot bench cloud`: sub-commands of the CLI.

Handlers import their implementation lazily (see fleetpilot/cli.py); raise fleetpilot.cli.UsageError for bad
input (exit 2).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add this area's commands to the top-level sub-parsers and its benchmarks to `fleetpilot bench`."""

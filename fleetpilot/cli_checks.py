"""Checks of command-line input made before any work starts, so a bad value costs a one-line message
(exit 2), never an internal error or a run lost at its end."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from contracts.scenarios import parse_seed_range as contract_seed_range
from contracts.scenarios import seed_value

# Options naming a file the command writes; checked for every command that has them.
OUTPUT_OPTIONS = ("json", "record", "plot")


class UsageError(Exception):
    """Bad input from the user: printed as a message, exit code 2."""


def seed(text: str) -> int:
    """argparse type of --seed: an integer in 0 … 2^32 − 1 (contracts.scenarios.seed_value)."""
    try:
        return seed_value(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_seed_range(text: str) -> range:
    """A seed range (contracts.scenarios.parse_seed_range); UsageError otherwise."""
    try:
        return contract_seed_range(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_output_path(path: Path, option: str) -> None:
    """The file can be written: not a folder, and its nearest existing parent is a writable folder
    (missing folders are created when the file is written)."""
    if path.is_dir():
        raise UsageError(f"--{option} {path}: is a folder; give a file name")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--{option} {path}: no permission to write in {parent}")


def check_output_paths(args: argparse.Namespace) -> None:
    for option in OUTPUT_OPTIONS:
        value = getattr(args, option, None)
        if isinstance(value, Path):
            check_output_path(value, option)


def check_perception_model(path: Path | None = None) -> None:
    """The segmentation model a run or an evaluation loads (every graph perceives): there and loadable,
    checked before a graph starts (a node failing on it later would only show as a stalled graph)."""
    from contracts.errors import ModelFileError
    from perception.inference import SegmentationModel

    try:
        SegmentationModel(path)
    except ModelFileError as exc:
        raise UsageError(str(exc)) from None

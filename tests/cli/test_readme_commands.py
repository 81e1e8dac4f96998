"""The README's command list is the command's own: every command `fleetpilot` has is listed, and every
command and option listed exists (issue 24 item 6: the list had drifted from `--help`)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from fleetpilot.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], set[str]]:
    """Every leaf command → its option strings."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        if parser.get_default("passthrough"):  # `train perception`: its own parser, behind --help
            usage = subprocess.run(
                [sys.executable, "-m", "fleetpilot.cli", *path, "--help"], capture_output=True, text=True
            ).stdout
            return {path: set(re.findall(r"--[a-z][a-z0-9-]*", usage))}
        return {path: {o for a in parser._actions for o in a.option_strings}}
    out = {}
    for name, sub in subs[0].choices.items():
        out |= _commands(sub, (*path, name))
    return out


def _readme_lines() -> list[str]:
    text = README.read_text()
    start = text.index("## The `fleetpilot` command")
    block = text[text.index("```text", start) + 7 : text.index("```", text.index("```text", start) + 7)]
    lines: list[str] = []
    for raw in block.splitlines():
        code = raw.split("#", 1)[0].rstrip()
        if code.startswith("fleetpilot "):
            lines.append(code)
        elif code.strip() and lines:
            lines[-1] += " " + code.strip()  # a continuation line
    return lines


def test_every_command_is_in_the_readme_and_every_listed_option_exists():
    commands = _commands(build_parser())
    listed: set[tuple[str, ...]] = set()
    for line in _readme_lines():
        words = line.split()[1:]
        path = next((p for p in sorted(commands, key=len, reverse=True) if tuple(words[: len(p)]) == p), None)
        assert path is not None, f"README lists a command fleetpilot does not have: {line}"
        listed.add(path)
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line):
            assert option in commands[path], f"{' '.join(path)} has no {option} (README: {line})"
    assert set(commands) == listed, f"not in the README: {sorted(set(commands) - listed)}"

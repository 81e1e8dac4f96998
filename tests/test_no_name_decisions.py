"""No decision on a scenario's or a body's name outside the registry and the embodiment loader (issue 19,
acceptance 3), as a ratchet.

The code is parsed (comments and docstrings never count) and every comparison against a body or scenario
name is found: `x == "humanoid"`, `x != "car"`, `x in ("car", ...)`, `"shared" in x`,
`x.startswith("humanoid")`. The places that still decide that way are listed in REMAINING with their
count; the test fails when a new one appears *and* when one is removed without taking it off the list, so
the list only shrinks and the issue's end state is REMAINING == {}.
"""

from __future__ import annotations

import ast
from pathlib import Path

from contracts import scenarios
from contracts.embodiment import EMBODIMENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contracts", "sim", "perception", "planning", "cloud_reasoner", "fleetpilot", "ros_ws/src")
# the two places whose job is to name things
ALLOWED = {"contracts/scenarios.py", "contracts/embodiment.py"}
# file: how many name decisions it still holds (issue 19 removes them; take a file off when it is clean)
REMAINING: dict[str, int] = {}

BODY_NAMES = {p.stem for p in EMBODIMENTS_DIR.glob("*.yaml")} | {"shared"}
PREFIXES = tuple(BODY_NAMES)


def _is_name(node: ast.AST) -> bool:
    """A string literal that names a body or a scenario (or a scenario family by its body prefix)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value in BODY_NAMES or node.value in scenarios.names()
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_name(e) for e in node.elts)
    return False


def _decisions(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops) and any(
                _is_name(x) for x in operands
            ):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.rstrip("_").startswith(PREFIXES)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def name_decisions() -> dict[str, list[int]]:
    found = {}
    for package in PACKAGES:
        for f in sorted((ROOT / package).rglob("*.py")):
            rel = f.relative_to(ROOT).as_posix()
            if rel in ALLOWED or "/build/" in rel or "/install/" in rel:
                continue
            lines = _decisions(ast.parse(f.read_text(), filename=rel))
            if lines:
                found[rel] = lines
    return found


def test_the_detector_sees_each_form_of_name_decision():
    src = """
if body == "humanoid": pass
if name.startswith("car_"): pass
if "shared" in scenario: pass
if kind in ("car", "humanoid"): pass
if vehicle_id == "car-7": pass
"""
    assert _decisions(ast.parse(src)) == [2, 3, 4, 5]


def test_no_new_name_decisions_and_the_remaining_list_only_shrinks():
    lines = name_decisions()
    found = {f: len(at) for f, at in lines.items()}
    new = {f: lines[f] for f in found if found[f] > REMAINING.get(f, 0)}
    assert not new, f"decides by a body's or scenario's name (ask the registry or the embodiment file): {new}"
    cleaner = {f: (REMAINING[f], found.get(f, 0)) for f in REMAINING if found.get(f, 0) < REMAINING[f]}
    assert not cleaner, f"fewer name decisions than REMAINING says (listed, found): lower the list: {cleaner}"

"""Embodiment files: each body's numbers in one place (contracts/embodiments/NAME.yaml).

A body's dimensions and limits were written in four places for the car (planner defaults, bringup
parameter files, simulated body, drivetrain) and two disagreeing ones for the humanoid. Now the file
is the one source: the planner and controller (planning/params.py), the nodes (their `body`
parameter) and the simulated car (sim/world.py, sim/ego.py) read it through `load`.

The loader is strict like the parameter files: unknown or missing keys raise ValueError naming them,
so a typo never falls back to another body's number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

EMBODIMENTS_DIR = Path(__file__).resolve().parent / "embodiments"
# how a body is commanded: a twist per camera frame (a wheeled base's controller), or joint efforts every
# control period (a legged body's locomotion policy); the sim node subscribes to what the body takes
COMMANDS = ("cmd_vel", "joint_effort")

_SECTIONS: dict[str, tuple[set[str], set[str]]] = {  # section: (required keys, optional keys)
    "footprint": ({"length", "width", "rear_overhang"}, {"height"}),
    "limits": (
        {"max_speed", "max_accel", "max_decel", "comfort_decel", "max_yaw_rate"},
        {"max_steer", "max_curvature"},
    ),
    "planning": ({"safety_margin", "can_change_lane"}, set()),
}


@dataclass(frozen=True)
class EmbodimentSpec:
    """One body, as its file states it (SI units; base_link per REP-103)."""

    name: str
    length: float  # m, footprint along x
    width: float  # m, footprint along y
    height: float | None  # m; only bodies the simulator builds from boxes need it
    rear_overhang: float  # m, the footprint's rear edge behind base_link
    wheelbase: float  # m
    max_speed: float  # m/s
    max_accel: float  # m/s²
    max_decel: float  # m/s², positive
    comfort_decel: float  # m/s², positive
    max_yaw_rate: float  # rad/s
    max_curvature: float  # 1/m (stated, or tan(max_steer) / wheelbase)
    max_steer: float | None  # rad at the steered wheels; None for a body without steering
    safety_margin: float  # m
    can_change_lane: bool
    command: str  # how the body is driven: one of COMMANDS

    @property
    def rear_to_center(self) -> float:
        """m from base_link forward to the footprint's centre."""
        return 0.5 * self.length - self.rear_overhang

    def planning_fields(self) -> dict[str, Any]:
        """The fields of planning.types.Embodiment (what the planner and controller take)."""
        return {
            "name": self.name,
            "length": self.length,
            "width": self.width,
            "rear_to_center": self.rear_to_center,
            "wheelbase": self.wheelbase,
            "max_speed": self.max_speed,
            "max_accel": self.max_accel,
            "max_decel": self.max_decel,
            "comfort_decel": self.comfort_decel,
            "max_yaw_rate": self.max_yaw_rate,
            "max_curvature": self.max_curvature,
            "safety_margin": self.safety_margin,
            "can_change_lane": self.can_change_lane,
        }


def path_of(body: str | Path) -> Path:
    """A body name (a file of contracts/embodiments/) or a path to an embodiment file."""
    text = str(body)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    return EMBODIMENTS_DIR / f"{text}.yaml"


def known() -> list[str]:
    return sorted(p.stem for p in EMBODIMENTS_DIR.glob("*.yaml"))


@cache
def load(body: str | Path) -> EmbodimentSpec:
    """The embodiment named `body` (or stored at that path); ValueError names what is wrong."""
    path = path_of(body)
    if not path.is_file():
        raise ValueError(f"no embodiment file {path} (known bodies: {', '.join(known())})")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"embodiment file {path} is not valid YAML: {exc}") from None
    return from_dict(doc, str(path))


def from_dict(doc: Any, what: str = "embodiment") -> EmbodimentSpec:
    if not isinstance(doc, dict):
        raise ValueError(f"{what}: an embodiment file is a mapping")
    _check_keys(doc, {"name", "wheelbase", "command", *_SECTIONS}, set(), what)
    if doc["command"] not in COMMANDS:
        raise ValueError(f"{what}: command must be one of {', '.join(COMMANDS)}, got {doc['command']!r}")
    flat: dict[str, Any] = {"name": doc["name"], "wheelbase": doc["wheelbase"]}
    for section, (required, optional) in _SECTIONS.items():
        part = doc[section]
        if not isinstance(part, dict):
            raise ValueError(f"{what}: {section} must be a mapping")
        _check_keys(part, required, optional, f"{what} {section}")
        flat.update(part)
    if not isinstance(flat["name"], str) or not flat["name"]:
        raise ValueError(f"{what}: name must be a non-empty string")
    if not isinstance(flat["can_change_lane"], bool):
        raise ValueError(f"{what}: planning.can_change_lane must be true/false")
    for key, value in flat.items():
        if key in ("name", "can_change_lane"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{what}: {key} must be a finite number, got {value!r}")
        flat[key] = float(value)
    for key in ("length", "width", "max_speed", "max_accel", "max_decel", "comfort_decel", "max_yaw_rate"):
        if flat[key] <= 0:
            raise ValueError(f"{what}: {key} must be positive, got {flat[key]}")
    if ("max_steer" in flat) == ("max_curvature" in flat):
        raise ValueError(f"{what}: limits state exactly one of max_steer (steered) and max_curvature")
    if "max_steer" in flat:
        if not (0 < flat["max_steer"] < math.pi / 2 and flat["wheelbase"] > 0):
            raise ValueError(f"{what}: a steered body needs 0 < max_steer < pi/2 rad and a wheelbase")
        flat["max_curvature"] = math.tan(flat["max_steer"]) / flat["wheelbase"]
    if flat["max_curvature"] <= 0 or flat["wheelbase"] < 0 or flat["safety_margin"] < 0:
        raise ValueError(f"{what}: max_curvature must be positive, wheelbase and safety_margin >= 0")
    if not 0 <= flat["rear_overhang"] <= flat["length"]:
        raise ValueError(f"{what}: rear_overhang must lie within the footprint's length")
    flat.setdefault("height", None)
    flat.setdefault("max_steer", None)
    return EmbodimentSpec(**flat, command=doc["command"])


def _check_keys(d: dict, required: set[str], optional: set[str], what: str) -> None:
    unknown = sorted(set(d) - required - optional)
    missing = sorted(required - set(d))
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise ValueError(f"{what}: unknown key(s) {', '.join(unknown)}; known: {allowed}")
    if missing:
        raise ValueError(f"{what}: missing key(s) {', '.join(missing)}")

"""When may a vehicle compute for the fleet? The owner's opt-in policy against the vehicle's state.

A pure function, the same on both sides: the vehicle asks it before leasing and stops a job at once
when it turns false (WorkManager-style constraints); the server asks it again at lease time, so a
vehicle that reports driving or a flat battery never gets work even if its own check is wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Reason(StrEnum):
    ELIGIBLE = "eligible"
    NOT_OPTED_IN = "not_opted_in"
    DRIVING = "driving"
    OUTSIDE_HOURS = "outside_allowed_hours"
    LOW_CHARGE = "state_of_charge_below_floor"
    NOT_CHARGING = "not_charging"
    TOO_HOT = "too_hot"


@dataclass(frozen=True)
class OptInPolicy:
    """The owner's choices. Hours are local hours [start, end) and may wrap past midnight (22 → 6)."""

    opted_in: bool = False
    allowed_hours: tuple[int, int] = (0, 24)
    min_state_of_charge: float = 0.5
    only_while_charging: bool = True
    max_cpu_share: float = 0.5
    max_temperature_c: float = 60.0

    def __post_init__(self) -> None:
        start, end = self.allowed_hours
        if not (0 <= start <= 24 and 0 <= end <= 24):
            raise ValueError(f"allowed_hours must be within 0..24, got {self.allowed_hours}")
        if not 0.0 <= self.min_state_of_charge <= 1.0:
            raise ValueError(f"min_state_of_charge must be in [0, 1], got {self.min_state_of_charge}")
        if not 0.0 < self.max_cpu_share <= 1.0:
            raise ValueError(f"max_cpu_share must be in (0, 1], got {self.max_cpu_share}")
        if not math.isfinite(self.max_temperature_c):
            raise ValueError("max_temperature_c must be finite")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> OptInPolicy:
        d = dict(d)
        if "allowed_hours" in d:
            d["allowed_hours"] = tuple(int(h) for h in d["allowed_hours"])
        return cls(**d)


@dataclass(frozen=True)
class VehicleState:
    """What a heartbeat says. `local_hour` is the vehicle's local time of day in hours [0, 24)."""

    parked: bool
    charging: bool
    state_of_charge: float
    temperature_c: float
    local_hour: float = 12.0
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.state_of_charge) and 0.0 <= self.state_of_charge <= 1.0):
            raise ValueError(f"state_of_charge must be in [0, 1], got {self.state_of_charge}")
        if not math.isfinite(self.temperature_c):
            raise ValueError("temperature_c must be finite")
        if not (math.isfinite(self.local_hour) and 0.0 <= self.local_hour < 24.0):
            raise ValueError(f"local_hour must be in [0, 24), got {self.local_hour}")


def within_hours(hour: float, allowed: tuple[int, int]) -> bool:
    start, end = allowed
    if start == end:
        return start == 0 or end == 24  # (0, 0) or (24, 24): read as "always"; (h, h) otherwise never
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # wraps past midnight


def eligibility(policy: OptInPolicy, state: VehicleState) -> Reason:
    """The first reason the vehicle may not compute, or ELIGIBLE. Order: cheapest to explain first."""
    if not policy.opted_in:
        return Reason.NOT_OPTED_IN
    if not state.parked:
        return Reason.DRIVING
    if not within_hours(state.local_hour, policy.allowed_hours):
        return Reason.OUTSIDE_HOURS
    if policy.only_while_charging and not state.charging:
        return Reason.NOT_CHARGING
    # Charging or not, never drain the battery below the owner's floor.
    if state.state_of_charge < policy.min_state_of_charge and not state.charging:
        return Reason.LOW_CHARGE
    if state.temperature_c > policy.max_temperature_c:
        return Reason.TOO_HOT
    return Reason.ELIGIBLE


def is_eligible(policy: OptInPolicy, state: VehicleState) -> bool:
    return eligibility(policy, state) is Reason.ELIGIBLE

"""What a backend sees and answers: plain Python/numpy, no protobuf (cloud_reasoner.convert maps the wire
messages onto these after validating every field)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class MetaAction(IntEnum):
    """Same numbers as fleetpilot.cloud.v1.MetaAction."""

    UNSPECIFIED = 0
    STOP = 1
    WAIT = 2
    GO_SLOWLY = 3
    PASS_LEFT_ONCOMING = 4
    FOLLOW_CONES = 5
    REROUTE = 6
    WALK_TO = 7
    CONTINUE = 8


class QuestionKind(IntEnum):
    """Same numbers as fleetpilot.cloud.v1.QuestionKind."""

    UNSPECIFIED = 0
    STUCK_BEHIND_OBSTACLE = 1
    LOW_CONFIDENCE = 2
    PLANNER_INFEASIBLE = 3
    TEXT_TASK = 4
    FREE_TEXT = 5


class EmbodimentKind(IntEnum):
    UNSPECIFIED = 0
    CAR = 1
    HUMANOID = 2


@dataclass(frozen=True)
class DetectedObject:
    object_id: str
    label: str
    color: str
    x: float  # odom frame, m
    y: float
    length: float = 0.0
    width: float = 0.0
    yaw: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    confidence: float = 1.0


@dataclass(frozen=True)
class Grid:
    """perception.types.BevGrid layout (base_link at the request stamp), classes uint8 (rows, cols)."""

    classes: np.ndarray
    resolution: float
    origin_x: float
    origin_y: float


@dataclass(frozen=True)
class ReasonQuery:
    vehicle_id: str
    embodiment: EmbodimentKind
    frame_id: str
    stamp_ns: int
    # ego in odom
    x: float
    y: float
    yaw: float
    speed: float
    yaw_rate: float
    # body
    length: float
    width: float
    max_speed: float
    # route, odom
    centerline: np.ndarray  # (N, 2)
    lane_width: float
    speed_limit: float
    adjacent_lane_offsets: tuple[float, ...]
    oncoming_lane_offsets: tuple[float, ...]
    goal_s: float | None
    grid: Grid | None
    objects: tuple[DetectedObject, ...]
    jpeg: bytes | None
    question: QuestionKind
    text: str


@dataclass(frozen=True)
class Advice:
    """A backend's answer; also what the client hands the vehicle (with the frame it answers)."""

    action: MetaAction
    waypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (K, 2) odom frame
    target_speed: float = 0.0
    valid_for_s: float = 0.0
    confidence: float = 0.0
    rationale: str = ""
    backend: str = ""
    target_object_id: str = ""
    frame_id: str = ""
    stamp_ns: int = 0

    def expires_at_ns(self) -> int:
        return self.stamp_ns + round(self.valid_for_s * 1e9)

    def is_stale(self, now_ns: int) -> bool:
        """True once the vehicle's clock is past the advice's validity."""
        return now_ns > self.expires_at_ns()

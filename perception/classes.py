"""The perception model's classes and how simulation tags map onto them.

This table is the contract between the dataset generator, the trained model, the BEV grid and the
planner. Changing it means retraining the model.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from contracts.semantics import Tag


class Cls(IntEnum):
    BACKGROUND = 0
    ROAD = 1
    LANE_MARKING = 2
    SIDEWALK = 3
    VEHICLE = 4
    PEDESTRIAN = 5
    OBSTACLE = 6
    TL_RED = 7
    TL_YELLOW = 8
    TL_GREEN = 9


NUM_CLASSES = len(Cls)
NAMES = [c.name.lower() for c in Cls]

# Classes that block motion: the planner treats their BEV cells as occupied.
OBSTACLE_CLASSES = (Cls.VEHICLE, Cls.PEDESTRIAN, Cls.OBSTACLE)
# Classes you may drive or walk on.
GROUND_CLASSES = (Cls.ROAD, Cls.LANE_MARKING, Cls.SIDEWALK)
TRAFFIC_LIGHT_CLASSES = (Cls.TL_RED, Cls.TL_YELLOW, Cls.TL_GREEN)

_TAG_TO_CLASS = {
    Tag.BACKGROUND: Cls.BACKGROUND,
    Tag.ROAD: Cls.ROAD,
    Tag.LANE_MARKING: Cls.LANE_MARKING,
    Tag.SIDEWALK: Cls.SIDEWALK,
    Tag.VEHICLE: Cls.VEHICLE,
    Tag.PEDESTRIAN: Cls.PEDESTRIAN,
    Tag.OBSTACLE: Cls.OBSTACLE,
    Tag.TRAFFIC_LIGHT_RED: Cls.TL_RED,
    Tag.TRAFFIC_LIGHT_YELLOW: Cls.TL_YELLOW,
    Tag.TRAFFIC_LIGHT_GREEN: Cls.TL_GREEN,
    Tag.TRAFFIC_LIGHT_POLE: Cls.BACKGROUND,  # poles are thin; the planner never needs them
    Tag.EGO: Cls.BACKGROUND,
}
TAG_TO_CLASS_LUT = np.zeros(256, dtype=np.uint8)
for _tag, _cls in _TAG_TO_CLASS.items():
    TAG_TO_CLASS_LUT[int(_tag)] = int(_cls)


def labels_from_tags(tags: np.ndarray) -> np.ndarray:
    """(H, W) uint8 sim tags → (H, W) uint8 model classes."""
    return TAG_TO_CLASS_LUT[tags]

"""What each simulated body *is*. The sim tags every body it creates; perception maps tags to its
model classes (perception/classes.py). The stack never sees tags: they are ground truth, used only
for labels and evaluation."""

from enum import IntEnum


class Tag(IntEnum):
    BACKGROUND = 0  # sky, terrain, buildings, anything not listed below
    ROAD = 1  # drivable asphalt
    LANE_MARKING = 2
    SIDEWALK = 3
    VEHICLE = 4  # other cars, parked or moving
    PEDESTRIAN = 5
    OBSTACLE = 6  # boxes, cones, barriers
    TRAFFIC_LIGHT_RED = 7  # the whole signal head, labelled by the lamp that is lit
    TRAFFIC_LIGHT_YELLOW = 8
    TRAFFIC_LIGHT_GREEN = 9
    TRAFFIC_LIGHT_POLE = 10
    EGO = 11  # the ego body itself (hood in view, for instance)

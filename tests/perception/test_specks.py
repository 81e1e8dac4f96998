"""suppress_specks: object blobs of a few pixels take the class around them; real objects stay."""

import numpy as np

from perception.classes import Cls
from perception.specks import suppress_specks


def test_a_speck_on_a_stripe_becomes_the_stripe_and_a_walker_stays():
    classes = np.full((30, 40), int(Cls.ROAD), np.uint8)
    classes[10:14, 5:25] = Cls.LANE_MARKING  # a crosswalk stripe
    classes[12, 8] = Cls.PEDESTRIAN  # one pixel on it: noise
    classes[20:28, 30:32] = Cls.PEDESTRIAN  # 16 pixels: a far walker
    classes[2, 2:4] = Cls.VEHICLE  # two pixels on the road
    out = suppress_specks(classes, min_pixels=4)
    assert out[12, 8] == Cls.LANE_MARKING
    assert (out[20:28, 30:32] == Cls.PEDESTRIAN).all()
    assert (out[2, 2:4] == Cls.ROAD).all()
    assert classes[12, 8] == Cls.PEDESTRIAN  # the input is not modified


def test_nothing_to_do_returns_the_input_and_min_pixels_off_disables():
    classes = np.full((10, 10), int(Cls.ROAD), np.uint8)
    classes[4, 4] = Cls.OBSTACLE
    assert suppress_specks(classes, min_pixels=1) is classes
    clean = np.full((10, 10), int(Cls.ROAD), np.uint8)
    assert suppress_specks(clean) is clean

import math

import numpy as np
import pytest

from perception.classes import Cls
from perception.traffic_light import estimate
from perception.types import LightState


def blank():
    return np.full((120, 160), Cls.ROAD, np.uint8), np.full((120, 160), 0.9, np.float32)


@pytest.mark.parametrize(
    "cls,state",
    [(Cls.TL_RED, LightState.RED), (Cls.TL_YELLOW, LightState.YELLOW), (Cls.TL_GREEN, LightState.GREEN)],
)
def test_single_head_gives_its_state(cls, state):
    classes, conf = blank()
    classes[20:28, 100:104] = cls
    obs = estimate(classes, conf)
    assert obs.state == state
    assert obs.confidence == pytest.approx(0.9, abs=1e-6)  # unanimous vote × mean confidence
    assert math.isnan(obs.bearing)  # no camera given


def test_no_light_and_too_few_pixels():
    classes, conf = blank()
    assert estimate(classes, conf).state == LightState.NONE
    assert estimate(classes, conf).confidence == 1.0
    classes[10, 10:12] = Cls.TL_GREEN  # 2 pixels: noise
    obs = estimate(classes, conf, min_pixels=4)
    assert obs.state == LightState.NONE and obs.confidence < 1.0


def test_split_vote_lowers_confidence():
    classes, conf = blank()
    classes[20:28, 100:104] = Cls.TL_RED  # 32 px
    classes[28:32, 100:104] = Cls.TL_YELLOW  # 16 px
    obs = estimate(classes, conf)
    assert obs.state == LightState.RED
    assert obs.confidence == pytest.approx(0.9 * (32 - 16) / 48, abs=1e-6)


def test_bearing_sign_and_value(make_camera):
    cam = make_camera(pitch=0.0)
    classes, conf = blank()
    # centroid column 119.5 → right of centre (cx = 79.5) → negative bearing (REP-103: left positive)
    classes[30:34, 118:122] = Cls.TL_GREEN
    obs = estimate(classes, conf, cam)
    assert obs.bearing == pytest.approx(-math.atan2(40.0, cam.fx), abs=1e-9)
    classes, conf = blank()
    classes[30:34, 38:42] = Cls.TL_RED
    assert estimate(classes, conf, cam).bearing == pytest.approx(math.atan2(40.0, cam.fx), abs=1e-9)


def test_bad_input(make_camera):
    classes, conf = blank()
    with pytest.raises(ValueError, match="same"):
        estimate(classes, conf[:10])
    with pytest.raises(ValueError, match="min_pixels"):
        estimate(classes, conf, min_pixels=0)


def test_lamp_colour_overrides_a_wrong_class_vote():
    classes, conf = blank()
    rgb = np.full((120, 160, 3), 90, np.uint8)  # grey world
    classes[20:30, 100:104] = Cls.TL_GREEN  # the network painted the head green...
    rgb[20:30, 100:104] = 40  # dark housing
    rgb[21:23, 101:103] = (235, 25, 12)  # ...but the lit lamp at the top is red
    obs = estimate(classes, conf, rgb=rgb)
    assert obs.state == LightState.RED
    assert obs.confidence == pytest.approx(0.9, abs=1e-6)
    # no lamp-coloured pixel: class vote with halved confidence
    rgb[21:23, 101:103] = 40
    obs = estimate(classes, conf, rgb=rgb)
    assert obs.state == LightState.GREEN and obs.confidence == pytest.approx(0.45, abs=1e-6)
    with pytest.raises(ValueError, match="rgb"):
        estimate(classes, conf, rgb=rgb[:, :, 0])


def test_yellow_and_green_lamps_by_colour():
    for lit, state in (((240, 190, 12), LightState.YELLOW), ((25, 240, 70), LightState.GREEN)):
        classes, conf = blank()
        rgb = np.full((120, 160, 3), 90, np.uint8)
        classes[20:30, 100:104] = Cls.TL_RED
        rgb[20:30, 100:104] = 40
        rgb[24:26, 101:103] = lit
        assert estimate(classes, conf, rgb=rgb).state == state

"""perception.objects: blobs of object classes become placed, sized, colour-named objects."""

import math

import numpy as np
import pybullet as p
import pytest

from perception.classes import Cls, labels_from_tags
from perception.objects import ObjectExtractor, colour_name
from sim.camera import make_camera_model


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((200, 30, 30), "red"),
        ((110, 18, 18), "red"),  # a red box's shaded side is still red
        ((240, 115, 13), "orange"),
        ((140, 100, 64), "brown"),
        ((230, 215, 25), "yellow"),
        ((30, 170, 60), "green"),
        ((30, 50, 200), "blue"),
        ((150, 50, 130), "purple"),
        ((235, 235, 230), "white"),
        ((120, 120, 125), "grey"),
        ((20, 20, 25), "black"),
    ],
)
def test_colour_names(rgb, name):
    assert colour_name(rgb) == name


def _pixel_of(cam, x: float, y: float) -> tuple[int, int]:
    """Ground point (x, y, 0) in base_link -> pixel (u, v), through the same pinhole as the camera."""
    from perception.bev import camera_axes_in_base

    forward, left, up = camera_axes_in_base(cam.pitch)
    d = np.array([x - cam.x, y - cam.y, -cam.z])
    depth = d @ forward
    return round(cam.cx + cam.fx * -(d @ left) / depth), round(cam.cy + cam.fy * -(d @ up) / depth)


def test_a_blob_is_placed_at_its_lowest_pixel_and_sized_by_range():
    cam = make_camera_model(160, 120)
    u, v = _pixel_of(cam, 12.0, 1.5)
    classes = np.full((120, 160), int(Cls.ROAD), np.uint8)
    rgb = np.full((120, 160, 3), 90, np.uint8)
    classes[v - 9 : v + 1, u - 4 : u + 5] = Cls.OBSTACLE  # 9 px wide, its base on row v
    rgb[v - 9 : v + 1, u - 4 : u + 5] = (200, 30, 30)
    classes[5:7, 5:7] = Cls.VEHICLE  # 4 pixels: too small to name
    (obj,) = ObjectExtractor(cam).extract(classes, rgb)
    assert obj.label == "obstacle" and obj.colour == "red" and obj.pixels == 90
    # the lower pixel edge: a little nearer than the row's centre, never further
    assert 11.0 < obj.x <= 12.0 and obj.y == pytest.approx(1.5 * obj.x / 12.0, abs=0.15)
    assert obj.width == pytest.approx(9 * math.hypot(obj.x - cam.x, obj.y - cam.y) / cam.fx)
    assert obj.bearing > 0  # left of the axis


def test_plain_ground_marked_as_an_object_is_not_named_and_a_spill_does_not_colour_a_box():
    # the model now and then marks a patch of the yard's grass as a vehicle, and its blobs spill onto
    # the ground around a box; a person could point at neither
    cam = make_camera_model(160, 120)
    grass = (73, 118, 62)
    classes = np.zeros((120, 160), np.uint8)  # background
    rgb = np.full((120, 160, 3), grass, np.uint8)
    u, v = _pixel_of(cam, 10.0, 2.0)
    classes[v - 9 : v + 1, u - 5 : u + 6] = Cls.VEHICLE  # grass only
    u, v = _pixel_of(cam, 10.0, -2.0)
    classes[v - 9 : v + 1, u - 6 : u + 7] = Cls.VEHICLE  # a red box, its blob 3 px wider on each side
    rgb[v - 9 : v + 1, u - 3 : u + 4] = (160, 15, 15)
    rgb[v - 9 : v - 4, u + 4 : u + 7] = (75, 120, 60)  # spill onto the grass, shaded a little
    (obj,) = ObjectExtractor(cam).extract(classes, rgb)
    assert obj.colour == "red" and obj.y < 0


def test_a_vehicle_is_placed_by_its_sill_not_the_ground_behind_it():
    cam = make_camera_model(160, 120)
    u, v = _pixel_of(cam, 15.0, 0.0)
    classes = np.full((120, 160), int(Cls.ROAD), np.uint8)
    classes[v - 12 : v + 1, u - 10 : u + 10] = Cls.VEHICLE
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[classes == Cls.VEHICLE] = (30, 50, 200)  # unlike the road: something to name
    as_obstacle = classes.copy()
    as_obstacle[as_obstacle == Cls.VEHICLE] = Cls.OBSTACLE
    ext = ObjectExtractor(cam)
    (car,), (box,) = ext.extract(classes, rgb), ext.extract(as_obstacle, rgb)
    assert car.x == pytest.approx(box.x * (cam.z - 0.25) / cam.z + cam.x * 0.25 / cam.z)


def test_a_blob_cut_off_by_the_bottom_edge_is_not_placed():
    cam = make_camera_model(160, 120)
    classes = np.full((120, 160), int(Cls.ROAD), np.uint8)
    rgb = np.full((120, 160, 3), 90, np.uint8)
    classes[100:120, 20:40] = Cls.VEHICLE  # reaches the last row: where it stands is out of view
    classes[100:119, 100:120] = Cls.VEHICLE  # one row short of it: placed
    rgb[classes == Cls.VEHICLE] = (30, 50, 200)
    (obj,) = ObjectExtractor(cam).extract(classes, rgb)
    assert obj.bearing < 0  # the right-hand one (u 100..119)


def test_bad_shapes_and_settings_are_rejected():
    cam = make_camera_model(160, 120)
    with pytest.raises(ValueError, match="min_pixels"):
        ObjectExtractor(cam, min_pixels=0)
    with pytest.raises(ValueError, match="expected classes"):
        ObjectExtractor(cam).extract(np.zeros((60, 80), np.uint8), np.zeros((120, 160, 3), np.uint8))


def test_a_red_box_in_the_rendered_world_is_found_where_it_stands():
    """Ground-truth labels of a real render: the extractor places a red box the sim put 10 m ahead."""
    from contracts.semantics import Tag
    from sim.engine import Simulation

    with Simulation("car_lane_follow", 3, render_ground_truth=True) as sim:
        c, e = sim._client, sim.ego
        ahead, left = 10.0, 1.0  # the box's centre in base_link
        bx = e.x + ahead * math.cos(e.yaw) - left * math.sin(e.yaw)
        by = e.y + ahead * math.sin(e.yaw) + left * math.cos(e.yaw)
        half = [0.4, 0.4, 0.4]
        vis = p.createVisualShape(
            p.GEOM_BOX, halfExtents=half, rgbaColor=[0.85, 0.1, 0.1, 1], physicsClientId=c
        )
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        quat = p.getQuaternionFromEuler([0, 0, e.yaw])
        body = p.createMultiBody(0, col, vis, [bx, by, 0.4], quat, physicsClientId=c)
        sim.world._register(body, Tag.OBSTACLE)
        frame = sim.render_camera(ground_truth=True)
        objects = ObjectExtractor(sim.camera_model).extract(labels_from_tags(frame.tags), frame.rgb)
    box = min(objects, key=lambda o: math.hypot(o.x - ahead, o.y - left))
    assert box.label == "obstacle" and box.colour == "red"
    # its near face (ahead - 0.4), to within the ground one pixel row spans at 10 m (about 0.5 m)
    cam = sim.camera_model
    row_m = (ahead**2 + cam.z**2) / (cam.z * cam.fy)
    assert abs(box.x - (ahead - 0.4)) < row_m
    assert abs(box.y - left) < 0.3
    assert 0.5 < box.width < 1.2

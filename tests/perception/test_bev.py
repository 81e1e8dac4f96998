import time

import numpy as np
import pytest

from perception.bev import BevProjector, ground_points, pixel_rays
from perception.classes import Cls
from perception.types import BevGrid


def cell_of(grid: BevGrid, x: float, y: float) -> int:
    col = int((x - grid.origin_x) // grid.resolution)
    row = int((y - grid.origin_y) // grid.resolution)
    return int(grid.classes[row, col])


def scene_with_box(
    camera,
    box_x: float,
    half_width: float,
    height: float,
    ground=Cls.ROAD,
    cls=Cls.OBSTACLE,
    bottom: float = 0.0,
):
    """Per-pixel class of a flat ground plus an upright box whose front face is at x = box_x, spanning
    z in [bottom, height]."""
    rays = pixel_rays(camera)
    _gx, _gy, hits = ground_points(camera)
    classes = np.where(hits, ground, Cls.BACKGROUND).astype(np.uint8)
    t = (box_x - camera.x) / rays[..., 0]
    z = camera.z + t * rays[..., 2]
    y = camera.y + t * rays[..., 1]
    on_face = (t > 0) & (z >= bottom) & (z <= height) & (np.abs(y) <= half_width)
    classes[on_face] = cls
    return classes


def test_ground_rectangle_lands_on_its_cells(make_camera):
    cam = make_camera()
    gx, gy, hits = ground_points(cam)
    classes = np.where(hits, Cls.ROAD, Cls.BACKGROUND).astype(np.uint8)
    rect = hits & (gx > 8.0) & (gx < 12.0) & (gy > 1.0) & (gy < 3.0)
    classes[rect] = Cls.SIDEWALK
    grid = BevProjector(cam, resolution=0.25).project(classes)
    # interior of the rectangle (half a cell in from its edges, pixel quantisation) is sidewalk
    for x in np.arange(8.4, 11.7, 0.25):
        for y in np.arange(1.4, 2.7, 0.25):
            assert cell_of(grid, x, y) == Cls.SIDEWALK, (x, y)
    # around it: road
    assert cell_of(grid, 10.0, -2.0) == Cls.ROAD
    assert cell_of(grid, 6.0, 2.0) == Cls.ROAD
    assert cell_of(grid, 14.0, 2.0) == Cls.ROAD


def test_unseen_cells_are_unknown(make_camera):
    cam = make_camera()
    grid = BevProjector(cam).project(np.full((120, 160), Cls.ROAD, np.uint8))
    # right under the camera (below the image's bottom edge) and outside the field of view
    assert cell_of(grid, 0.6, 0.0) == BevGrid.UNKNOWN
    assert cell_of(grid, 3.0, 9.5) == BevGrid.UNKNOWN
    assert cell_of(grid, 20.0, 0.0) == Cls.ROAD


def test_obstacle_occupies_its_base_and_hides_what_is_behind(make_camera):
    cam = make_camera()
    classes = scene_with_box(cam, box_x=15.0, half_width=1.0, height=1.0)
    proj = BevProjector(cam, resolution=0.25, obstacle_depth=1.0)
    grid = proj.project(classes)
    row = grid.classes[int((0.0 - grid.origin_y) // grid.resolution)]
    xs = grid.origin_x + (np.arange(grid.cols) + 0.5) * grid.resolution
    occupied = xs[row == Cls.OBSTACLE]
    assert occupied.size > 0
    # the nearest occupied cell is at the box's base (within a cell plus one pixel's footprint)
    assert abs(occupied.min() - 15.0) < 0.6
    assert occupied.max() < 15.0 + 1.0 + 0.6  # body depth, no smear to the horizon
    # in front of the box: road; far behind it: occluded
    assert np.all(row[(xs > 5.0) & (xs < 14.0)] == Cls.ROAD)
    assert np.all(row[(xs > 18.0) & (xs < 40.0)] == BevGrid.UNKNOWN)


def test_a_run_that_ends_in_mid_air_takes_its_contact_from_the_blob_beside_it(make_camera):
    # Rasterised, a world-vertical edge that leans in the image steps one column over: the top pixel
    # of a cone stands alone in its column with road far behind it below. Its own ray meets the
    # ground far beyond the cone (car_construction_zone seed 156: 18 m → an obstacle at 37 m).
    cam = make_camera()
    classes = scene_with_box(cam, box_x=12.0, half_width=0.4, height=0.75)
    v_top, u_left = (int(i.min()) for i in np.nonzero(classes == Cls.OBSTACLE))
    classes[v_top, u_left - 1] = Cls.OBSTACLE
    gx, _gy, _hits = ground_points(cam, 0.5)
    assert 20.0 < gx[v_top, u_left - 1] < 40.0  # where the old rule put it: inside the grid
    grid = BevProjector(cam, obstacle_depth=1.0).project(classes)
    xs, _ys = grid.cell_centers()
    occupied = xs[grid.classes == Cls.OBSTACLE]
    assert occupied.size > 0
    assert occupied.max() < 12.0 + 1.0 + 0.6


def test_vehicle_sill_height_puts_the_car_at_its_front_not_behind(make_camera):
    # a car body floating 0.25 m above the ground (no wheels): its lowest pixel's ray meets the ground
    # z / (z - 0.25) times further away; the vehicle contact height pulls it back.
    cam = make_camera()
    classes = scene_with_box(cam, box_x=15.0, half_width=1.0, height=1.5, cls=Cls.VEHICLE, bottom=0.25)
    grid = BevProjector(cam).project(classes)
    row = grid.classes[int((0.0 - grid.origin_y) // grid.resolution)]
    xs = grid.origin_x + (np.arange(grid.cols) + 0.5) * grid.resolution
    assert abs(xs[row == Cls.VEHICLE].min() - 15.0) < 0.6
    flat_ground = BevProjector(cam, contact_heights={Cls.VEHICLE: 0.0}).project(classes)
    row0 = flat_ground.classes[int((0.0 - grid.origin_y) // grid.resolution)]
    assert xs[row0 == Cls.VEHICLE].min() > 17.0  # what ignoring the sill would have reported


def test_obstacle_priority_over_ground_in_same_cell(make_camera):
    cam = make_camera()
    gx, gy, hits = ground_points(cam)
    classes = np.where(hits, Cls.ROAD, Cls.BACKGROUND).astype(np.uint8)
    # a one-pixel-high pedestrian "foot" row: its pixels share cells with road pixels nearby
    v = 100
    classes[v - 5 : v + 1, 78:82] = Cls.PEDESTRIAN
    grid = BevProjector(cam).project(classes)
    foot_x, foot_y = gx[v, 80], gy[v, 80]
    assert cell_of(grid, foot_x, foot_y) == Cls.PEDESTRIAN


def test_lane_marking_pixels_are_not_lost(make_camera):
    cam = make_camera()
    gx, gy, hits = ground_points(cam)
    classes = np.where(hits, Cls.ROAD, Cls.BACKGROUND).astype(np.uint8)
    stripe = hits & (np.abs(gy - 1.75) < 0.06) & (gx < 25)  # 12 cm line, thinner than a cell
    classes[stripe] = Cls.LANE_MARKING
    grid = BevProjector(cam).project(classes)
    for x in (4.0, 8.0, 12.0):
        assert cell_of(grid, x, 1.75) == Cls.LANE_MARKING


def test_bad_input(make_camera):
    cam = make_camera()
    proj = BevProjector(cam)
    with pytest.raises(ValueError, match="classes must be"):
        proj.project(np.zeros((10, 10), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        proj.project(np.zeros((120, 160), np.int32))
    with pytest.raises(ValueError, match="resolution"):
        BevProjector(cam, resolution=0.0)
    with pytest.raises(ValueError, match="above the ground"):
        BevProjector(make_camera(z=-1.0))


def test_grid_layout_matches_contract(make_camera):
    cam = make_camera()
    grid = BevProjector(cam, x_range=(0.0, 40.0), y_range=(-10.0, 10.0), resolution=0.25).project(
        np.zeros((120, 160), np.uint8)
    )
    assert grid.classes.shape == (80, 160) and grid.classes.dtype == np.uint8
    assert (grid.origin_x, grid.origin_y, grid.resolution) == (0.0, -10.0, 0.25)


@pytest.mark.alone  # a wall-clock guard: not beside other tests
def test_projection_is_fast_enough_to_run_every_frame(make_camera):
    # a loose guard against an accidental per-pixel Python loop; the real number is in the report
    cam = make_camera()
    proj = BevProjector(cam)
    classes = scene_with_box(cam, 12.0, 1.0, 1.5)
    proj.project(classes)
    t = time.perf_counter()
    for _ in range(20):
        proj.project(classes)
    assert (time.perf_counter() - t) / 20 < 0.02


def test_flat_ground_geometry_agrees_with_sim_depth():
    """Our ray model (intrinsics, pitch, pixel-centre convention) against the renderer's z-buffer."""
    engine = pytest.importorskip("sim.engine")
    from perception.bev import camera_axes_in_base
    from perception.classes import labels_from_tags

    sim = engine.Simulation("car_lane_follow", 3, render_frames=False)
    try:
        sim.teleport_ego(30.0, 0.0, 0.0, 0.0)
        frame = sim.render_camera(ground_truth=True)
        cam = sim.camera_model
    finally:
        sim.close()
    gx, gy, hits = ground_points(cam)
    forward, _, _ = camera_axes_in_base(cam.pitch)
    z_depth = (gx - cam.x) * forward[0] + (gy - cam.y) * forward[1] - cam.z * forward[2]
    road = hits & (labels_from_tags(frame.tags) == Cls.ROAD) & (z_depth < 30.0)
    assert road.sum() > 500
    rel = np.abs(z_depth[road] - frame.depth_m[road]) / frame.depth_m[road]
    assert np.median(rel) < 0.02

"""perception/tracker.py: BEV blobs to odom detections, association and the constant-velocity filter."""

import math

import numpy as np
import pytest

from contracts.messages import points_in_footprints
from perception.classes import Cls
from perception.tracker import Detection, ObjectTracker, bev_detections
from perception.types import BevGrid

FRAME_NS = 100_000_000  # 10 Hz


def run(tracker, positions_at, frames, label="vehicle", noise=0.0, seed=0):
    """Feed detections at positions_at(k) -> [(x, y), ...] for frames k = 0..frames-1."""
    rng = np.random.default_rng(seed)
    for k in range(frames):
        dets = [
            Detection(label, x + rng.normal(0, noise), y + rng.normal(0, noise), 2.0, 1.5, 0.0, 10)
            for x, y in positions_at(k)
        ]
        tracker.update(k * FRAME_NS, dets)


def test_a_standing_object_becomes_known_static():
    tr = ObjectTracker()
    run(tr, lambda k: [(20.0, 3.5)], 5, noise=0.2)
    assert len(tr.confirmed()) == 1 and tr.known_velocity() == []  # confirmed, speed not known yet
    run_more = ObjectTracker()
    run(run_more, lambda k: [(20.0, 3.5)], 30, noise=0.2)
    (o,) = run_more.static()
    assert o.speed < 0.3 and o.velocity_std <= 0.25 and o.hits == 30
    assert o.x == pytest.approx(20.0, abs=0.2) and o.y == pytest.approx(3.5, abs=0.2)


def test_a_moving_object_gets_its_velocity_and_is_not_static():
    tr = ObjectTracker()
    run(tr, lambda k: [(60.0 - 6.4 * 0.1 * k, 3.5)], 30, noise=0.2)
    (o,) = tr.known_velocity()
    assert o.vx == pytest.approx(-6.4, abs=0.4) and abs(o.vy) < 0.4
    assert tr.static() == []


def test_two_objects_side_by_side_keep_their_ids():
    # Two cars 1.2 m apart (inside each other's gate), both moving +x at 5 m/s: the assignment on predicted
    # positions keeps each id on its own car through the frames.
    tr = ObjectTracker()
    run(tr, lambda k: [(10.0 + 0.5 * k, 0.0), (10.0 + 0.5 * k, 1.2)], 20, noise=0.05)
    tracks = sorted(tr.confirmed(), key=lambda o: o.y)
    assert [o.hits for o in tracks] == [20, 20]
    assert tracks[0].track_id != tracks[1].track_id
    assert tracks[0].y == pytest.approx(0.0, abs=0.2) and tracks[1].y == pytest.approx(1.2, abs=0.2)


def test_classes_do_not_mix_and_lost_tracks_are_dropped():
    tr = ObjectTracker(max_misses=3)
    run(tr, lambda k: [(5.0, 0.0)], 5, label="vehicle")
    tr.update(5 * FRAME_NS, [Detection("pedestrian", 5.0, 0.0, 0.5, 0.5, 0.0, 3)])
    labels = sorted(t.label for t in tr.tracks)
    assert labels == ["pedestrian", "vehicle"]  # the pedestrian started its own track
    for k in range(6, 9):
        tr.update(k * FRAME_NS, [])
    assert tr.tracks == []


def test_stamps_must_increase():
    tr = ObjectTracker()
    tr.update(FRAME_NS, [])
    with pytest.raises(ValueError, match="stamps must increase"):
        tr.update(FRAME_NS, [])


def test_bev_blobs_are_placed_in_odom_with_the_ego_pose():
    classes = np.zeros((40, 40), dtype=np.uint8)
    classes[30:34, 20:28] = int(Cls.VEHICLE)  # rows = y, cols = x
    classes[5:7, 5:6] = int(Cls.PEDESTRIAN)
    grid = BevGrid(classes, 0.25, 0.0, -5.0)
    dets = {d.label: d for d in bev_detections(grid, 100.0, 50.0, math.pi / 2)}
    bx, by = (24 * 0.25), -5.0 + 32 * 0.25  # the vehicle blob's centre in base_link
    v = dets["vehicle"]
    assert (v.x, v.y) == pytest.approx((100.0 - by, 50.0 + bx))  # yaw 90°: base x is odom +y
    assert (v.length, v.width) == pytest.approx((2.0, 1.0)) and v.cells == 32
    assert dets["pedestrian"].cells == 2


def test_points_in_footprints_follows_the_yaw():
    o = Detection("vehicle", 10.0, 0.0, 4.0, 2.0, math.pi / 2, 1)  # long along odom y
    inside = points_in_footprints([o], np.array([10.0, 10.0, 12.5]), np.array([1.9, 2.6, 0.0]), 0.5)
    assert inside.tolist() == [True, False, False]
    assert points_in_footprints([o], np.array([10.0]), np.array([2.4]), 0.5).tolist() == [True]

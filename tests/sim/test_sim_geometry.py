"""Polylines, seeding and the TTC primitive."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sim.geometry import Polyline, polyline_from_curvature, straight_pieces
from sim.metrics import ttc_box
from sim.seeding import rng_for, seed_entropy


def test_project_and_offset_on_an_arc():
    radius = 50.0
    arc = polyline_from_curvature((0.0, 0.0), 0.0, [(60.0, 1.0 / radius)], step=0.5)
    s, lat = arc.project(*arc.offset_point(30.0, 2.0))
    assert s == pytest.approx(30.0, abs=0.02) and lat == pytest.approx(2.0, abs=0.01)
    s, lat = arc.project(*arc.offset_point(30.0, -1.5))
    assert lat == pytest.approx(-1.5, abs=0.01)
    # the arc really has radius 50: every point is 50 m from the centre (0, 50)
    d = np.hypot(arc.points[:, 0], arc.points[:, 1] - radius)
    assert np.allclose(d, radius, atol=1e-6)


def test_project_extends_past_the_ends():
    line = Polyline(np.array([[0.0, 0.0], [10.0, 0.0]]))
    assert line.project(-3.0, 1.0) == pytest.approx((-3.0, 1.0))
    assert line.project(14.0, -2.0) == pytest.approx((14.0, -2.0))
    assert line.sample(12.0)[:2] == pytest.approx((12.0, 0.0))


def test_polyline_rejects_bad_input():
    with pytest.raises(ValueError, match="needs an"):
        Polyline(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="repeated"):
        Polyline(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]))


def test_straight_pieces_cover_the_span_and_follow_curvature():
    arc = polyline_from_curvature((0.0, 0.0), 0.0, [(30.0, 0.0), (40.0, 1.0 / 40.0)])
    pieces = straight_pieces(arc, 0.0, arc.length, max_turn=0.06, max_len=20.0)
    assert pieces[0][0] == 0.0 and pieces[-1][1] == pytest.approx(arc.length)
    assert all(b0 == pytest.approx(a1) for (_, b0), (a1, _) in itertools.pairwise(pieces))
    curved = [b - a for a, b in pieces if a >= 30.0]
    assert max(curved) <= 0.06 * 40.0 + 1.0 + 1e-9  # max_turn * radius, rounded up to the 1 m step


def test_seed_entropy_is_distinct_for_any_int():
    seeds = [0, 1, -1, 2, -2, 2**64, -(2**64), 2**200]
    assert len({seed_entropy(s) for s in seeds}) == len(seeds)
    assert rng_for(-5, 1).random() == rng_for(-5, 1).random()
    assert rng_for(5, 1).random() != rng_for(5, 2).random()
    with pytest.raises(TypeError):
        seed_entropy(1.5)


def test_ttc_box():
    # point 10 m ahead closing at 5 m/s on a box [0, 2] x [-1, 1]: enters at x = 2 after 1.6 s
    assert ttc_box(10.0, 0.0, -5.0, 0.0, 0.0, 2.0, -1.0, 1.0) == pytest.approx(1.6)
    assert ttc_box(10.0, 3.0, -5.0, 0.0, 0.0, 2.0, -1.0, 1.0) == math.inf  # passes beside
    assert ttc_box(10.0, 0.0, 5.0, 0.0, 0.0, 2.0, -1.0, 1.0) == math.inf  # moving away
    assert ttc_box(1.0, 0.0, 0.0, 0.0, 0.0, 2.0, -1.0, 1.0) == 0.0  # already overlapping
    # crossing walker: 5 m ahead, 4 m to the left, walking right at 1 m/s, ego at 0
    assert ttc_box(5.0, 4.0, 0.0, -1.0, 0.0, 6.0, -1.0, 1.0) == pytest.approx(3.0)

import numpy as np
import pytest

from planning.paths import build_path, quintic_coefficients
from planning.route import Route
from planning.types import RouteMap
from tests.planning.helpers import curvy_route


def test_project_and_pose_roundtrip_on_a_curve():
    r = Route(curvy_route())
    rng = np.random.default_rng(0)
    s = rng.uniform(5.0, r.length - 5.0, 50)
    d = rng.uniform(-3.0, 3.0, 50)
    x, y, _ = r.pose_at(s, d)
    s2, d2 = r.project(np.stack([x, y], axis=1))
    # Polyline corners make the round trip approximate; centimetres are enough for planning.
    assert np.max(np.abs(s2 - s)) < 0.15
    assert np.max(np.abs(d2 - d)) < 0.05


def test_circle_curvature():
    a = np.linspace(0, np.pi, 200)
    pts = np.stack([20 * np.sin(a), 20 * (1 - np.cos(a))], axis=1)
    r = Route(RouteMap(pts, 3.5, 10.0))
    k = r.curvature_at(np.linspace(5, r.length - 5, 20))
    assert np.allclose(k, 1 / 20.0, rtol=0.05)
    assert r.length == pytest.approx(20 * np.pi, rel=1e-3)


def test_bad_centerline_rejected():
    with pytest.raises(ValueError):
        Route(RouteMap(np.array([[0.0, 0.0], [0.0, 0.0]]), 3.5, 10.0))


def test_quintic_hits_boundary_conditions():
    c = quintic_coefficients(0.2, 0.1, 0.0, 3.5, 20.0)
    poly = np.polynomial.Polynomial(c)
    assert poly(0) == pytest.approx(0.2) and poly.deriv()(0) == pytest.approx(0.1)
    assert poly(20) == pytest.approx(3.5) and poly.deriv()(20) == pytest.approx(0, abs=1e-9)
    assert poly.deriv(2)(20) == pytest.approx(0, abs=1e-9)


def test_lane_change_path_reaches_target_smoothly():
    r = Route(curvy_route())
    p = build_path(r, 10.0, 0.0, 0.0, 3.5, 60.0, 0.5, 25.0)
    assert p.d[0] == pytest.approx(0.0) and p.d[-1] == pytest.approx(3.5)
    assert np.all(np.diff(p.arc) > 0)
    assert np.max(np.abs(p.kappa)) < 0.1

import numpy as np

from planning.pedestrians import PedestrianTracker, cluster_points, predicted_points


def blob(cx, cy, n=3, step=0.25):
    g = np.arange(n) * step
    return np.stack(np.meshgrid(cx + g, cy + g), axis=-1).reshape(-1, 2)


def test_clusters_split_by_gap():
    pts = np.concatenate([blob(0, 0), blob(5, 5)])
    assert sorted(len(c) for c in cluster_points(pts, 0.8)) == [9, 9]


def test_walker_velocity_and_prediction():
    rng = np.random.default_rng(0)
    tr = PedestrianTracker()
    for k in range(30):
        # 1.3 m/s along +y with a cell of jitter, like the BEV grid
        jitter = rng.integers(-1, 2) * 0.25
        out = tr.update(k * 50_000_000, blob(10.0, -5.0 + 1.3 * k * 0.05 + jitter))
    ((pts, v),) = out
    assert abs(v[0]) < 0.6 and 0.8 < v[1] < 1.8
    pred = predicted_points(out, 3.0)
    assert pred[:, 1].max() > pts[:, 1].max() + 2.0


def test_standing_pedestrian_is_not_extrapolated():
    tr = PedestrianTracker()
    for k in range(15):
        out = tr.update(k * 50_000_000, blob(10.0, -5.0))
    assert not np.any(out[0][1])
    assert len(predicted_points(out, 3.0)) == 9

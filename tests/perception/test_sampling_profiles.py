"""Training-data sampler: light phases per state, humanoid head camera, rare-class frame sampling,
and the rule that held-out (car profile) frames do not depend on the training sampler."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from perception import dataset
from perception.classes import Cls
from perception.train import frame_sampling_weights
from sim import datagen
from sim.layout import TrafficLightSpec


def _light(phases) -> TrafficLightSpec:
    return TrafficLightSpec(light_id=0, x=0.0, y=0.0, facing_yaw=0.0, head_height=5.0, phases=phases)


def test_light_phase_time_draws_states_equally_not_by_duration():
    light = _light((("red", 20.0), ("green", 30.0), ("yellow", 3.0), ("red", 20.0)))
    rng = np.random.default_rng(0)
    states = [light.state_at(datagen.sample_light_phase_time(rng, light, 1e3)) for _ in range(3000)]
    counts = {s: states.count(s) for s in ("red", "yellow", "green")}
    # by duration yellow would be 3/73 = 4 %; per state it is a third
    for state, n in counts.items():
        assert 850 < n < 1150, (state, counts)


def test_light_phase_time_respects_t_max():
    light = _light((("red", 20.0), ("yellow", 3.0), ("green", 30.0)))
    rng = np.random.default_rng(1)
    assert all(datagen.sample_light_phase_time(rng, light, 10.0) <= 10.0 for _ in range(200))


def test_humanoid_jitter_gives_head_height_and_downward_pitch():
    from sim.camera import CAMERA_PITCH, CAMERA_X, CAMERA_Z

    rng = np.random.default_rng(2)
    for _ in range(500):
        dx, _dy, dz, _roll, dpitch, _dyaw = datagen.sample_humanoid_jitter(
            rng, CAMERA_Z, CAMERA_PITCH, CAMERA_X
        )
        assert 1.2 <= CAMERA_Z + dz <= 1.7
        assert 0.0 <= CAMERA_PITCH + dpitch <= math.radians(25.0) + 1e-9
        assert abs(CAMERA_X + dx) < 0.3  # over the body, not 1.6 m ahead of it like the car's


def test_frame_sampling_favours_frames_with_rare_classes():
    labels = np.zeros((100, 4, 4), np.uint8)
    labels[:40, 0, 0] = Cls.VEHICLE  # common object
    labels[40:43, 1, 1] = Cls.TL_YELLOW  # rare light
    w = frame_sampling_weights(labels)
    assert w.sum() == pytest.approx(1.0)
    assert w[40] > w[0] > w[99]
    # the three yellow frames together are drawn about as often as a 20 % class would be
    assert w[40:43].sum() > 0.1
    with pytest.raises(ValueError, match="target_fraction"):
        frame_sampling_weights(labels, target_fraction=0.0)


def test_unknown_profile_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown sampling profile"):
        datagen.render_scene(0, 1, profile="drone")
    with pytest.raises(ValueError, match="unknown sampling profile"):
        datagen.generate(tmp_path, [0], 1, progress=False, profile="drone")


def test_train_profile_is_deterministic_and_differs_from_car_profile():
    pytest.importorskip("sim.engine")
    a = datagen.render_scene(4, 3, profile="train")
    b = datagen.render_scene(4, 3, profile="train")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    car = datagen.render_scene(4, 3, profile="car")
    assert not np.array_equal(car[0], a[0])


def test_humanoid_profile_hides_the_car_and_sees_the_road():
    pytest.importorskip("sim.engine")
    rgb, labels = datagen.render_scene(1, 6, profile="humanoid")
    ground = np.isin(labels, [Cls.ROAD, Cls.LANE_MARKING, Cls.SIDEWALK])
    assert ground.any(axis=(1, 2)).sum() >= 3  # most head-camera views look at the street
    assert rgb.shape == (6, 120, 160, 3)


def test_generate_keeps_profiles_apart(tmp_path, monkeypatch, synthetic_frames):
    seen = []

    def render(seed, frames, profile="car"):
        seen.append(profile)
        return synthetic_frames(frames, seed)

    monkeypatch.setattr(datagen, "render_scene", render)
    datagen.generate(tmp_path, [0, 1], 1, progress=False, profile="train")
    assert seen == ["train", "train"]
    # a different profile invalidates the cache: stale shards are re-rendered, not silently reused
    datagen.generate(tmp_path, [0, 1], 1, progress=False, profile="car")
    assert seen[2:] == ["car", "car"]
    _, _, seeds = dataset.load(tmp_path)
    assert seeds.tolist() == [0, 1]


def test_train_profile_shows_the_humanoid_robot_to_the_car_as_a_pedestrian(monkeypatch):
    """The shared world's car must learn the humanoid body: in train-profile car views it stands in
    the field of view, labelled pedestrian; the car profile (held-out evaluation) never holds it."""
    train = datagen.PROFILES["train"]
    every_car_view = replace(train, humanoid_in_car_view=1.0, head_camera_fraction=0.0)
    monkeypatch.setitem(datagen.PROFILES, "train", every_car_view)
    monkeypatch.setattr(datagen, "CAR_VIEW_HUMANOID_RANGE_M", (6.0, 7.0))
    with_prop = datagen.render_scene(6, 3, profile="train")
    pedestrian_px = (with_prop[1] == Cls.PEDESTRIAN).reshape(3, -1).sum(axis=1)
    # 6-7 m ahead the body covers 70-400 pixels of a 160x120 frame (posture, partly at the edge)
    assert (pedestrian_px > 30).all(), pedestrian_px
    monkeypatch.setitem(datagen.PROFILES, "train", replace(every_car_view, humanoid_in_car_view=0.0))
    without = datagen.render_scene(6, 3, profile="train")
    # its own random stream: the rest of the scene is drawn exactly as without it
    same = with_prop[1] == without[1]
    assert same.mean() > 0.9
    assert not same.all()

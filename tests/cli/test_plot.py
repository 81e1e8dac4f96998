"""Run plots (issue 24 item 7): the key moment of each scenario is found and drawn; labels cover no other
label and no marker; every legend entry has its own colour and a plain-English name.

The label and legend checks draw a real scenario map with crowded markers (cheap: no simulator run);
the moments of real runs are checked in tests/planning/test_sim_ground_truth.py, next to the runs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from fleetpilot import plot
from sim.key_moments import EgoLog, car_moments, oncoming_track, pedestrian_track
from sim.map_export import map_geometry
from sim.scenarios import build_scenario
from sim.seeding import STREAM_LAYOUT, rng_for

MIN_COLOUR_DISTANCE = 0.15  # RGB in [0, 1]: tell-apart colours, not two shades of one


def _spec(name: str, seed: int = 0):
    return build_scenario(name, rng_for(seed, STREAM_LAYOUT))


def _crowded_run(name: str) -> dict:
    """A real map; the ego drives the route; six moments and two events within a few metres."""
    spec = _spec(name)
    route = np.asarray([spec.route.sample(s)[:2] for s in np.arange(spec.ego_start_s, spec.goal_s, 1.0)])
    t = np.arange(len(route)) * 0.1
    trajectory = np.column_stack([t, route])
    x, y = route[len(route) // 2]
    moments = []
    for i in range(6):
        actor = i % 2 == 0  # every other one is an actor's moment, linked to where the ego was
        where = {
            "x": x + 0.7 * i,
            "y": y - 0.4 * i,
            "ego_x": x if actor else None,
            "ego_y": y if actor else None,
        }
        who = "pedestrian 1" if actor else "ego"
        moments.append({"t": 5.0 + i, "label": f"moment {i}: something happened here", "who": who, **where})
    events = [
        {"t": 6.5, "kind": "safe_stop", "x": x, "y": y},
        {"t": 20.0, "kind": "goal_reached", "x": route[-1][0], "y": route[-1][1]},
    ]
    result = {"scenario": name, "seed": 0, "success": True, "collisions": 0, "route_completion": 1.0}
    tracks = {"pedestrian 1": np.column_stack([t, route + np.array([3.0, 0.0])])}
    return {
        "map_geometry": map_geometry(spec),
        "route": route,
        "trajectory": trajectory,
        "result": {**result, "events": events},
        "tracks": tracks,
        "moments": moments,
    }


def _overlap(a, b) -> bool:
    return min(a.x1, b.x1) > max(a.x0, b.x0) and min(a.y1, b.y1) > max(a.y0, b.y0)


@pytest.mark.parametrize("name", ["car_red_light", "car_pedestrian_crossing", "car_park_and_lend"])
def test_labels_cover_no_other_label_and_no_marker(name):
    drawn = plot.render_run(**_crowded_run(name))
    renderer = drawn.fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(label, renderer) for label in drawn.labels]
    assert len(boxes) == 8  # every moment and event has its label
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not _overlap(a, b), (drawn.labels[i].get_text(), drawn.labels[j].get_text())
    for label, box in zip(drawn.labels, boxes, strict=True):
        for marker in drawn.marker_boxes:
            assert not _overlap(box, marker), label.get_text()


@pytest.mark.parametrize(
    "name", ["car_red_light", "car_pedestrian_crossing", "car_park_and_lend", "car_lead_vehicle"]
)
def test_legend_names_are_plain_words_each_in_its_own_colour(name):
    run = _crowded_run(name)
    walker = run["tracks"]["pedestrian 1"]
    run["tracks"] = {"pedestrian 1": walker, "lead vehicle": walker + np.array([0.0, 2.0, 0.0])}
    run["result"]["events"] += [{"t": 7.0, "kind": k, "x": 0.0, "y": 0.0} for k in plot.EVENTS]
    drawn = plot.render_run(**run)
    names = [n for n, _ in drawn.legend]
    assert len(names) == len(set(names))
    for n in names:
        assert "_" not in n and n == n.lower(), n
    expected = {"driven path", "planned route", "road edge", "pedestrian", "lead vehicle", "collision"}
    assert expected <= set(names)
    colours = [np.array(to_rgb(c)) for _, c in drawn.legend]
    for (i, a), (j, b) in itertools.combinations(enumerate(colours), 2):
        assert np.linalg.norm(a - b) >= MIN_COLOUR_DISTANCE, (names[i], names[j])


def test_every_map_layer_and_event_has_a_legend_name():
    spec_layers = set()
    for name in ("car_red_light", "car_pedestrian_crossing", "car_park_and_lend", "car_static_obstacle"):
        spec_layers |= set(map_geometry(_spec(name)))
    assert spec_layers <= set(plot.MAP_LAYERS)
    from sim import metrics

    kinds = {"collision", "red_light_violation", "goal_reached", "safe_stop", "parked", "drive_request"}
    assert kinds <= set(plot.EVENTS) and metrics.PARK_WINDOW_M > 0


def _log(t, x, y, v) -> EgoLog:
    arrays = [np.asarray(a, dtype=float) for a in (t, x, y, v)]
    return EgoLog(*arrays, front=3.7, rear_overhang=1.0)


def test_a_car_that_never_stops_at_a_green_light_crossed_it_on_green():
    spec = _spec("car_red_light")
    line = spec.stop_lines[0]
    light = next(lt for lt in spec.lights if lt.light_id == line.light_id)
    green_from = next(
        t for t in np.arange(0.0, 60.0, 0.05) if light.state_at(float(t)) == "green"
    )  # a moment at which the light is green
    s = np.linspace(line.route_s - 20.0, line.route_s + 10.0, 61)
    t = green_from + np.arange(len(s)) * 0.05
    xy = np.array([spec.route.sample(float(v))[:2] for v in s])
    moments = car_moments(spec, _log(t, xy[:, 0], xy[:, 1], np.full(len(s), 10.0)), {})
    assert [m.label.split(",")[0] for m in moments] == ["crossed the line on green"]


def test_an_oncoming_car_still_ahead_at_the_end_has_not_passed():
    spec = _spec("car_stalled_vehicle")
    n = 21
    ego = _log(np.arange(n) * 0.1, np.zeros(n), np.zeros(n), np.zeros(n))
    ahead = np.column_stack([np.arange(n) * 0.1, np.linspace(100.0, 50.0, n), np.zeros(n)])  # closing in
    passing = np.column_stack([np.arange(n) * 0.1, np.linspace(20.0, -20.0, n), np.full(n, 3.0)])
    tracks = {oncoming_track(0): ahead, oncoming_track(1): passing, pedestrian_track(0): ahead}
    labels = [m.label for m in car_moments(spec, ego, tracks)]
    assert len(labels) == 1 and labels[0].startswith("oncoming car 2 passes, 3.0 m apart"), labels

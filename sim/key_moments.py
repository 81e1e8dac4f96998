"""The moments a reader looks for in the plot of a car run, found in what the run recorded.

Chosen by what the scenario's world holds, not by its name (a new scenario with a light gets the
light's moments):
- a stop line with a light: where the ego came to rest for red and where it was when the light turned
  green, or the light's colour as it crossed the line without stopping;
- a pedestrian: the yield point (the ego's slowest moment while the walker was on its way, before the
  ego reached the crossing) and where the walker was then;
- a lead vehicle: where both were when it braked hard, and the closest bumper gap;
- an oncoming car: where both were as they passed each other;
- a blocker (no free lane, or one only System 2 helps past): where the ego's front passed it.
Parking and the owner's drive request are metrics events already (sim/metrics.py), drawn as events.

Pure functions over plain arrays, no PyBullet: sim/engine.py records the tracks, fleetpilot/plot.py
draws the moments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sim.layout import ScenarioSpec

STOP_SPEED = 0.1  # m/s: below this the ego is at rest (as sim/metrics.py)
RED_STOP_WINDOW_M = 20.0  # a rest this far before a stop line, while red, is a stop for the light


@dataclass(frozen=True)
class Moment:
    t: float
    x: float  # where the marker goes (the ego, or the actor the moment is about)
    y: float
    label: str
    who: str  # "ego" or the actor track's name: the marker takes that track's colour
    ego_x: float | None = None  # for an actor's moment: where the ego was then (drawn as a link)
    ego_y: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EgoLog:
    """One row per control period: time, rear-axle position, speed; front = rear axle to front bumper,
    rear_overhang = rear axle to rear bumper (the same car for the ego and other vehicles)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    v: np.ndarray
    front: float
    rear_overhang: float


LEAD = "lead vehicle"


def pedestrian_track(i: int) -> str:
    return f"pedestrian {i + 1}"  # spec.pedestrians[i]


def oncoming_track(i: int) -> str:
    return f"oncoming car {i + 1}"  # spec.oncoming[i]


def car_moments(spec: ScenarioSpec, ego: EgoLog, tracks: dict[str, np.ndarray]) -> list[Moment]:
    """tracks: actor name (the names above) → (N, 3) rows t, x, y, sampled with the ego's periods."""
    if len(ego.t) == 0:
        return []
    s = np.array([spec.route.project(x, y)[0] for x, y in zip(ego.x, ego.y, strict=True)])
    front_s = s + ego.front
    moments: list[Moment] = []
    moments += _light_moments(spec, ego, front_s)
    n = len(ego.t)
    for i, walker in enumerate(spec.pedestrians):
        track = tracks.get(pedestrian_track(i))
        if track is not None and len(track) == n:
            moments += _pedestrian_moments(ego, front_s, walker.crossing_route_s, pedestrian_track(i), track)
    if spec.lead is not None and len(tracks.get(LEAD, ())) == n:
        moments += _lead_moments(spec, ego, front_s, tracks[LEAD])
    for i in range(len(spec.oncoming)):
        track = tracks.get(oncoming_track(i))
        if track is not None and len(track) == n:
            moments += _passing_moment(ego, oncoming_track(i), track)
    moments += _blocker_moments(spec, ego, front_s)
    return moments


def _ego_at(ego: EgoLog, i: int, label: str) -> Moment:
    return Moment(float(ego.t[i]), float(ego.x[i]), float(ego.y[i]), label, "ego")


def _actor_at(ego: EgoLog, i: int, who: str, track: np.ndarray, label: str) -> Moment:
    """An actor's moment at period i: marked where the actor was, linked to where the ego was."""
    x, y = float(track[i, 1]), float(track[i, 2])
    return Moment(float(ego.t[i]), x, y, label, who, float(ego.x[i]), float(ego.y[i]))


def _light_moments(spec: ScenarioSpec, ego: EgoLog, front_s: np.ndarray) -> list[Moment]:
    lights = {light.light_id: light for light in spec.lights}
    out = []
    for line in spec.stop_lines:
        light = lights.get(line.light_id)
        if light is None:
            continue
        states = [light.state_at(float(t)) for t in ego.t]
        gap = line.route_s - front_s
        waiting = (ego.v < STOP_SPEED) & (gap >= 0.0) & (gap <= RED_STOP_WINDOW_M)
        red_stop = [i for i in np.flatnonzero(waiting) if states[i] == "red"]
        if red_stop:
            i = int(red_stop[0])
            out.append(_ego_at(ego, i, f"stopped for red {gap[i]:.1f} m before the line, {ego.t[i]:.1f} s"))
            green = [j for j in range(i, len(ego.t)) if states[j] == "green"]
            if green:
                j = green[0]
                out.append(_ego_at(ego, j, f"light turns green, {ego.t[j]:.1f} s"))
            continue
        crossed = np.flatnonzero(gap <= 0.0)
        if len(crossed) and crossed[0] > 0:
            i = int(crossed[0])
            out.append(_ego_at(ego, i, f"crossed the line on {states[i]}, {ego.t[i]:.1f} s"))
    return out


def _pedestrian_moments(
    ego: EgoLog, front_s: np.ndarray, crossing_s: float, name: str, track: np.ndarray
) -> list[Moment]:
    step = np.hypot(np.diff(track[:, 1]), np.diff(track[:, 2]))
    walking = np.flatnonzero(step > 1e-6) + 1  # periods in which the walker moved
    if len(walking) == 0:
        return []
    window = [i for i in range(int(walking[0]), int(walking[-1]) + 1) if front_s[i] < crossing_s]
    if not window:
        return []
    i = min(window, key=lambda k: (ego.v[k], k))
    label = f"{name} on the crossing; ego yields at {ego.v[i]:.1f} m/s, {ego.t[i]:.1f} s"
    return [_actor_at(ego, i, name, track, label)]


def _lead_moments(spec: ScenarioSpec, ego: EgoLog, front_s: np.ndarray, track: np.ndarray) -> list[Moment]:
    lead_s = np.array([spec.route.project(x, y)[0] for x, y in track[:, 1:3]])
    gap = (lead_s - ego.rear_overhang) - front_s  # the lead's rear bumper to the ego's front bumper
    out = []
    if ego.t[-1] >= spec.lead.t_brake:
        i = int(np.searchsorted(ego.t, spec.lead.t_brake))
        out.append(_actor_at(ego, i, LEAD, track, f"lead brakes hard, gap {gap[i]:.1f} m, {ego.t[i]:.1f} s"))
    j = int(np.argmin(gap))
    out.append(_actor_at(ego, j, LEAD, track, f"closest gap {gap[j]:.1f} m, {ego.t[j]:.1f} s"))
    return out


def _passing_moment(ego: EgoLog, name: str, track: np.ndarray) -> list[Moment]:
    distance = np.hypot(track[:, 1] - ego.x, track[:, 2] - ego.y)
    i = int(np.argmin(distance))
    if i in (0, len(distance) - 1):
        return []  # never passed: still approaching at the end, or already behind at the start
    return [_actor_at(ego, i, name, track, f"{name} passes, {distance[i]:.1f} m apart, {ego.t[i]:.1f} s")]


def _blocker_moments(spec: ScenarioSpec, ego: EgoLog, front_s: np.ndarray) -> list[Moment]:
    out = []
    for near_face, what in ((spec.blocked_at_s, "the blocked lane"), (spec.stall_at_s, "the stalled car")):
        if near_face is None:
            continue
        passed = np.flatnonzero(front_s >= near_face)
        if len(passed) and passed[0] > 0:
            i = int(passed[0])
            out.append(_ego_at(ego, i, f"passes {what}, {ego.t[i]:.1f} s"))
    return out

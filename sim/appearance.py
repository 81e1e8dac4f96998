"""How the world looks: colours and lighting. Appearance never changes geometry or physics, so the
perception dataset can randomise it freely (domain randomisation) without touching the scenario."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class Palette:
    ground: RGBA
    road: RGBA
    marking: RGBA
    sidewalk: RGBA
    vehicle: tuple[RGBA, ...]  # cycled over vehicles
    obstacle: tuple[RGBA, ...]
    pedestrian: tuple[RGBA, ...]
    pole: RGBA
    light_housing: RGBA
    ego: RGBA
    sky_top: tuple[float, float, float]  # 0..255, sky is painted where nothing was rendered
    sky_horizon: tuple[float, float, float]
    light_direction: tuple[float, float, float]
    ambient: float
    diffuse: float
    specular: float


def _rgba(rgb) -> RGBA:
    r, g, b = (float(np.clip(c, 0.0, 1.0)) for c in rgb)
    return (round(r, 4), round(g, 4), round(b, 4), 1.0)


def _jitter(rng: np.random.Generator, base, amount: float) -> RGBA:
    return _rgba(np.asarray(base, dtype=float) + rng.uniform(-amount, amount, 3))


def default_palette(rng: np.random.Generator) -> Palette:
    """The scenario's own look: fixed colours with a small per-seed variation."""
    grey = 0.32 + rng.uniform(-0.04, 0.04)
    return Palette(
        ground=_jitter(rng, (0.30, 0.45, 0.22), 0.04),
        road=_rgba((grey, grey, grey + 0.01)),
        marking=_jitter(rng, (0.92, 0.92, 0.88), 0.03),
        sidewalk=_jitter(rng, (0.62, 0.60, 0.56), 0.04),
        vehicle=tuple(
            _jitter(rng, c, 0.05) for c in ((0.7, 0.1, 0.1), (0.15, 0.25, 0.6), (0.85, 0.85, 0.85))
        ),
        obstacle=tuple(_jitter(rng, c, 0.05) for c in ((0.95, 0.45, 0.05), (0.55, 0.4, 0.25))),
        pedestrian=tuple(_jitter(rng, c, 0.06) for c in ((0.2, 0.3, 0.7), (0.6, 0.2, 0.5), (0.1, 0.5, 0.3))),
        pole=(0.25, 0.25, 0.25, 1.0),
        light_housing=(0.08, 0.08, 0.08, 1.0),
        ego=(0.9, 0.9, 0.92, 1.0),
        sky_top=tuple(float(c) for c in np.array((110.0, 160.0, 225.0)) + rng.uniform(-8, 8, 3)),
        sky_horizon=tuple(float(c) for c in np.array((200.0, 215.0, 235.0)) + rng.uniform(-8, 8, 3)),
        light_direction=(float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-0.5, 0.5)), 1.0),
        ambient=0.6,
        diffuse=0.4,
        specular=0.05,
    )


def random_palette(rng: np.random.Generator) -> Palette:
    """A broadly randomised look for domain randomisation: asphalt shade, white or yellowish markings,
    sidewalk shade, actor colours, ground and sky, light direction and shading coefficients."""

    def any_colour() -> RGBA:
        return _rgba(rng.uniform(0.05, 0.95, 3))

    grey = rng.uniform(0.18, 0.5)
    road = np.array((grey, grey, grey)) + rng.uniform(-0.03, 0.03, 3)
    if rng.random() < 0.7:
        marking = np.array((0.95, 0.95, 0.95)) - rng.uniform(0.0, 0.15, 3)
    else:  # yellowish
        marking = np.array((0.95, 0.8, 0.2)) + rng.uniform(-0.08, 0.05, 3)
    sw = rng.uniform(0.45, 0.8)
    ground_choices = ((0.3, 0.45, 0.2), (0.45, 0.4, 0.3), (0.35, 0.35, 0.33), (0.5, 0.5, 0.3))
    ground = np.asarray(ground_choices[int(rng.integers(len(ground_choices)))]) + rng.uniform(-0.08, 0.08, 3)
    sky_top = np.array((110.0, 160.0, 225.0)) + rng.uniform(-40, 30, 3)
    sky_h = np.array((200.0, 210.0, 225.0)) + rng.uniform(-40, 30, 3)
    return Palette(
        ground=_rgba(ground),
        road=_rgba(road),
        marking=_rgba(marking),
        sidewalk=_rgba(np.array((sw, sw * 0.97, sw * 0.92)) + rng.uniform(-0.05, 0.05, 3)),
        vehicle=tuple(any_colour() for _ in range(4)),
        obstacle=tuple(
            _jitter(rng, c, 0.15) for c in ((0.95, 0.45, 0.05), (0.55, 0.4, 0.25), (0.8, 0.8, 0.1))
        ),
        pedestrian=tuple(any_colour() for _ in range(4)),
        pole=_jitter(rng, (0.3, 0.3, 0.3), 0.1),
        light_housing=_jitter(rng, (0.1, 0.1, 0.1), 0.06),
        ego=any_colour(),
        sky_top=tuple(float(c) for c in np.clip(sky_top, 0, 255)),
        sky_horizon=tuple(float(c) for c in np.clip(sky_h, 0, 255)),
        light_direction=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), float(rng.uniform(0.3, 1.5))),
        ambient=float(rng.uniform(0.4, 0.8)),
        diffuse=float(rng.uniform(0.2, 0.6)),
        specular=float(rng.uniform(0.0, 0.2)),
    )


# Lamp colours of a traffic light head: lit and unlit.
LAMP_LIT = {"red": (1.0, 0.1, 0.05, 1.0), "yellow": (1.0, 0.8, 0.05, 1.0), "green": (0.1, 1.0, 0.3, 1.0)}
LAMP_OFF = (0.15, 0.15, 0.15, 1.0)

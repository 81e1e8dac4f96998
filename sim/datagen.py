"""Segmentation data rendered from the simulator: randomised scenes, written as npz shards.

One seed = one scene: scenario ``SCENARIO_NAMES[seed % n]`` built with that seed. Odd seeds also get
a randomised appearance (colours, lighting: domain randomisation); even seeds keep the default look the
scenario runs use. Within a scene each frame places the ego somewhere along the route (in its lane,
in adjacent lanes, slightly off the road), with a yaw offset and a camera pose jitter, at a random
scene time (``sim.set_time``) so lights show every phase and actors move.

Four sampling profiles (``PROFILES``: what each one samples, as data):
* ``car`` — the car's front camera with the placement above; the held-out evaluation frames
  (``fleetpilot eval perception``) always use it, so the metric stays comparable across models.
* ``train`` — what the shipped model is trained on: placements aimed at one *kind* of target
  (light, walker, obstacle, lead car) chosen uniformly, so the rare small classes are not starved;
  light phases drawn per state (red/yellow/green equally; yellow is 3 s of a 60 s cycle); and
  ``HUMANOID_FRACTION`` of the frames from a humanoid's head camera (height 1.2–1.7 m, pitch 0–25°
  down, anywhere across road and sidewalks, any heading, the ego car hidden), because one model
  serves both robots. And in ``CAR_VIEW_HUMANOID_FRACTION`` of its car-camera frames the humanoid
  robot itself (pybullet's ``humanoid_symmetric`` body, its own colours, a random walking-like pose)
  stands 4–30 m ahead, labelled pedestrian: in the shared world the car must see the humanoid as what it
  is, and a body it never saw reads as background (its placements use a separate random stream, so the
  other draws of a scene are those of generator 5).
* ``humanoid`` — the ``train`` sampler with every frame from the humanoid head camera (evaluation of
  the humanoid's view).
* ``car_sees_humanoid`` — the ``train`` sampler, every frame from the car's camera with the humanoid
  robot in view (evaluation of the shared world: does the car see the humanoid as a pedestrian?).

Everything random comes from ``np.random.default_rng([seed, ...])``: the same seeds give identical
shards (their format: perception/dataset.py). Data lives under ``data/`` (gitignored) and is rebuilt by
command.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perception.classes import labels_from_tags
from perception.dataset import CAMERA_HEIGHT, CAMERA_WIDTH, shard_path
from sim._quiet_import import pybullet as p
from sim.camera import CAMERA_HFOV

# 4: 60 deg camera, 0.5 m wide pedestrians; 5: sampling profiles (car frames unchanged);
# 6: the humanoid body in the train profile's car views (car frames unchanged);
# 7: the humanoid in its hi-vis livery (sim/humanoid.py), everywhere it appears
GENERATOR_VERSION = 7
SEEDS_PER_SHARD = 25
HUMANOID_FRACTION = 0.15
HUMANOID_CAMERA_HEIGHT_M = (1.2, 1.7)
HUMANOID_CAMERA_PITCH_RAD = (0.0, math.radians(25.0))
CAR_VIEW_HUMANOID_FRACTION = 0.3
CAR_VIEW_HUMANOID_RANGE_M = (4.0, 30.0)


@dataclass(frozen=True)
class SamplingProfile:
    """How a profile picks its views (the module doc says why each exists).

    route_views: the car's camera placed along the route at a sampled scene time, aimed at the
        route's interesting places (the held-out sampler); otherwise the train sampler's views.
    head_camera_fraction: of the train sampler's frames, the share seen from the humanoid's head.
    humanoid_in_car_view: of the car-camera frames, the share with the humanoid robot in sight
        (None: the robot is not in the scene at all).
    data_folder: where `fleetpilot train perception` keeps this profile's training shards.
    """

    route_views: bool
    head_camera_fraction: float = 0.0
    humanoid_in_car_view: float | None = None
    data_folder: str = ""


PROFILES: dict[str, SamplingProfile] = {
    "car": SamplingProfile(route_views=True, data_folder="train"),
    "train": SamplingProfile(
        route_views=False,
        head_camera_fraction=HUMANOID_FRACTION,
        humanoid_in_car_view=CAR_VIEW_HUMANOID_FRACTION,
        data_folder="train_train",
    ),
    "humanoid": SamplingProfile(route_views=False, head_camera_fraction=1.0, data_folder="train_humanoid"),
    "car_sees_humanoid": SamplingProfile(
        route_views=False, humanoid_in_car_view=1.0, data_folder="train_car_sees_humanoid"
    ),
}
HELD_OUT_PROFILE = "car"  # what `fleetpilot eval perception` and the training's held-out set use


def sampling_profile(name: str) -> SamplingProfile:
    """The profile; ValueError naming the valid ones otherwise."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sampling profile {name!r}; expected one of {tuple(PROFILES)}") from None


@dataclass(frozen=True)
class Placement:
    s: float
    lateral: float
    yaw_offset: float
    jitter: tuple[float, float, float, float, float, float]


def sample_placement(
    rng: np.random.Generator, route_length: float, lane_width: float = 3.5, targets: list[float] | None = None
) -> Placement:
    """Where to put the ego for one frame. Mostly in lane (what driving looks like), sometimes in the
    adjacent lanes or across the edge so the network sees the road from unusual angles too.

    `targets` are route arc lengths of things worth seeing (obstacles, lights, walkers, the lead
    car): most frames are placed 3–30 m before one, because uniformly along a 200 m route they are
    rarely in view and the rare classes would starve."""
    if targets and rng.random() < 0.7:
        s = float(targets[int(rng.integers(len(targets)))] - rng.uniform(3.0, 30.0))
    else:
        s = float(rng.uniform(0.0, route_length))
    s = float(np.clip(s, 0.0, max(route_length - 5.0, 0.0)))
    mode = rng.random()
    if mode < 0.6:
        lateral = rng.normal(0.0, 0.35)
    elif mode < 0.85:
        lateral = rng.choice([-1.0, 1.0]) * lane_width + rng.normal(0.0, 0.4)
    else:
        lateral = rng.uniform(-1.6, 1.6) * lane_width
    yaw = float(np.clip(rng.normal(0.0, 0.12), -0.35, 0.35))
    jitter = (
        float(rng.normal(0.0, 0.05)),
        float(rng.normal(0.0, 0.05)),
        float(rng.normal(0.0, 0.05)),
        float(rng.normal(0.0, 0.02)),
        float(rng.normal(0.0, 0.03)),
        float(rng.normal(0.0, 0.02)),
    )
    return Placement(s, float(lateral), yaw, jitter)


def _route_length(centerline) -> float:
    pts = np.asarray(centerline, dtype=np.float64)
    if pts.ndim != 2 or len(pts) < 2:
        raise ValueError("route_map()['centerline'] must be a polyline of at least 2 points")
    return float(np.sum(np.hypot(*np.diff(pts[:, :2], axis=0).T)))


def sample_scene_time(rng: np.random.Generator, lights, t_max: float) -> float:
    """A scene time in [0, t_max]. Half the time it is chosen inside a random phase of a random light,
    so red, yellow and green are seen about equally often (yellow is the shortest phase by far)."""
    if lights and rng.random() < 0.5:
        light = lights[int(rng.integers(len(lights)))]
        k = int(rng.integers(len(light.phases)))
        start = sum(d for _, d in light.phases[:k])
        t = start + rng.uniform(0.0, light.phases[k][1])
        return float(min(t, t_max))
    return float(rng.uniform(0.0, t_max))


def interesting_route_s(sim, t: float) -> list[float]:
    """Route arc lengths of the scene's objects (uses the sim's scenario spec, ground truth)."""
    spec = sim.spec
    route = spec.route
    points = [(o.x, o.y) for o in spec.obstacles]
    points += [(light.x, light.y) for light in spec.lights]
    for walker in getattr(sim, "walkers", []):
        points.append(tuple(walker.state(t)[:2]))  # where set_time put it
    lead = getattr(sim, "lead", None)
    if lead is not None:
        points.append(tuple(lead.state()[:2]))
    out = [float(route.project(float(x), float(y))[0]) for x, y in points]
    out += [float(sl.route_s) for sl in spec.stop_lines]
    return out


def typed_targets(sim, t: float) -> dict[str, list[float]]:
    """Route arc lengths of the scene's objects by kind (ground truth from the sim's spec); call after
    ``sim.set_time`` so walkers stand where that time puts them."""
    spec = sim.spec
    route = spec.route

    def s_of(points) -> list[float]:
        return [float(route.project(float(x), float(y))[0]) for x, y in points]

    out = {
        "light": s_of((light.x, light.y) for light in spec.lights),
        "obstacle": s_of((o.x, o.y) for o in spec.obstacles),
        "walker": s_of(tuple(w.state(t)[:2]) for w in getattr(sim, "walkers", [])),
    }
    lead = getattr(sim, "lead", None)
    if lead is not None:
        out["lead"] = s_of([tuple(lead.state()[:2])])
    return {k: v for k, v in out.items() if v}


def sample_light_phase_time(rng: np.random.Generator, light, t_max: float) -> float:
    """A time at which `light` shows a state drawn uniformly from those in its cycle (not by duration:
    yellow lasts 3 s of a ~60 s cycle and would be seen once in twenty frames)."""
    states = sorted({state for state, _ in light.phases})
    want = states[int(rng.integers(len(states)))]
    starts, t0 = [], 0.0
    for state, d in light.phases:
        if state == want:
            starts.append((t0, d))
        t0 += d
    start, d = starts[int(rng.integers(len(starts)))]
    # stay 5 % inside the phase so float rounding at the boundary cannot flip the state
    return float(min(start + rng.uniform(0.05, 0.95) * d, t_max))


def sample_humanoid_jitter(rng: np.random.Generator, model_z: float, model_pitch: float, model_x: float):
    """Camera pose offsets (dx, dy, dz, droll, dpitch, dyaw) that turn the car camera into a humanoid
    head camera: over the body centre (the placement point), 1.2–1.7 m high, 0–25 deg down."""
    height = rng.uniform(*HUMANOID_CAMERA_HEIGHT_M)
    pitch = rng.uniform(*HUMANOID_CAMERA_PITCH_RAD)
    return (
        float(-model_x + rng.normal(0.0, 0.05)),
        float(rng.normal(0.0, 0.05)),
        float(height - model_z),
        float(rng.normal(0.0, 0.04)),  # walking sways the head more than a car body rolls
        float(pitch - model_pitch),
        float(rng.normal(0.0, 0.03)),
    )


def sample_train_view(
    rng: np.random.Generator, sim, route_length: float, camera, humanoid_fraction: float = HUMANOID_FRACTION
) -> tuple[Placement, bool]:
    """One frame of the ``train`` profile: set the scene time, return (placement, humanoid?)."""
    t_max = float(sim.time_limit_s)
    lights = sim.spec.lights
    humanoid = bool(rng.random() < humanoid_fraction)
    t = float(rng.uniform(0.0, t_max))
    sim.set_time(t)
    targets = typed_targets(sim, t)
    kind = None
    if targets and rng.random() < 0.85:
        kinds = sorted(targets)
        kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "light" or (lights and kind is None and rng.random() < 0.5):
        t = sample_light_phase_time(rng, lights[int(rng.integers(len(lights)))], t_max)
        sim.set_time(t)
        targets = typed_targets(sim, t)  # walkers moved with the new time
    if kind is not None:
        near, far = (2.0, 25.0) if humanoid else (3.0, 35.0)
        pool = targets[kind]
        s = float(pool[int(rng.integers(len(pool)))] - rng.uniform(near, far))
    else:
        s = float(rng.uniform(0.0, route_length))
    s = float(np.clip(s, 0.0, max(route_length - 5.0, 0.0)))
    if not humanoid:
        base = sample_placement(rng, route_length)  # lateral/yaw/jitter statistics of the car profile
        return Placement(s, base.lateral, base.yaw_offset, base.jitter), False
    lateral = float(rng.uniform(-2.5, 2.5) * 3.5)  # road and both sidewalks
    mode = rng.random()
    if mode < 0.6:
        yaw = float(rng.normal(0.0, 0.3))
    elif mode < 0.85:  # crossing the road
        yaw = float(rng.choice([-1.0, 1.0]) * math.pi / 2 + rng.normal(0.0, 0.3))
    else:
        yaw = float(rng.uniform(-math.pi, math.pi))
    jitter = sample_humanoid_jitter(rng, camera.z, camera.pitch, camera.x)
    return Placement(s, lateral, yaw, jitter), True


class CarViewHumanoid:
    """The humanoid robot as a prop in a car-world scene: posed, never simulated. Its base sits at a
    random point in the camera's field of view, its 17 joints at a walking-like random posture (normal
    around zero, clipped to the joint limits), torso 1.15–1.35 m high (a walking gait's range), any yaw."""

    def __init__(self, sim, rng: np.random.Generator):
        from contracts.semantics import Tag
        from sim.humanoid import HumanoidBody

        self._sim = sim
        self._rng = rng
        self.body = HumanoidBody(
            sim.world.client, [sim.world.ground_id], x=1e4, y=1e4, rng=rng, setup_physics=False
        )
        sim.world._register(self.body.body_id, Tag.PEDESTRIAN)
        self.hide()

    def hide(self) -> None:
        p.resetBasePositionAndOrientation(
            self.body.body_id, [1e4, -1e4, 1.3], [0, 0, 0, 1], physicsClientId=self.body.client
        )

    def place_in_view(self, x: float, y: float, heading: float, hfov: float = CAMERA_HFOV) -> None:
        """Stand the body somewhere a camera at (x, y) looking along `heading` sees it."""
        from sim.humanoid import JOINT_INDICES

        rng, b = self._rng, self.body
        distance = rng.uniform(*CAR_VIEW_HUMANOID_RANGE_M)
        bearing = heading + rng.uniform(-0.4, 0.4) * hfov
        bx, by = x + distance * math.cos(bearing), y + distance * math.sin(bearing)
        lo, hi = b.joint_lower, b.joint_upper
        q = np.clip(rng.normal(0.0, 0.35, size=len(JOINT_INDICES)), lo, hi)
        for j, qj in zip(JOINT_INDICES, q, strict=True):
            p.resetJointState(b.body_id, j, float(qj), 0.0, physicsClientId=b.client)
        yaw = rng.uniform(-math.pi, math.pi)
        quat = p.getQuaternionFromEuler([rng.normal(0.0, 0.05), rng.normal(0.0, 0.08), yaw])
        p.resetBasePositionAndOrientation(
            b.body_id, [bx, by, rng.uniform(1.15, 1.35)], quat, physicsClientId=b.client
        )


def render_scene(seed: int, frames: int, profile: str = HELD_OUT_PROFILE) -> tuple[np.ndarray, np.ndarray]:
    """Render `frames` labelled frames of scene `seed` with sampling `profile` (see module doc).
    Returns rgb (N,H,W,3), labels (N,H,W)."""
    sampling = sampling_profile(profile)
    from sim.engine import Simulation
    from sim.scenarios import SCENARIO_NAMES

    scenario = SCENARIO_NAMES[seed % len(SCENARIO_NAMES)]
    appearance_seed = None if seed % 2 == 0 else seed
    rng = np.random.default_rng([seed, 0x5E6])
    sim = Simulation(
        scenario,
        seed,
        camera_width=CAMERA_WIDTH,
        camera_height=CAMERA_HEIGHT,
        appearance_seed=appearance_seed,
        render_ground_truth=False,
        render_frames=False,
    )
    try:
        length = _route_length(sim.route_map()["centerline"])
        rgb = np.empty((frames, CAMERA_HEIGHT, CAMERA_WIDTH, 3), np.uint8)
        labels = np.empty((frames, CAMERA_HEIGHT, CAMERA_WIDTH), np.uint8)
        # Scene times spread over the scenario's duration so lights show every phase and walkers and
        # the lead vehicle appear at different places.
        t_max = float(sim.time_limit_s)
        # its own stream: adding the humanoid prop leaves every other draw of the scene as it was
        prop_rng = np.random.default_rng([seed, 0x4B1D])
        prop_fraction = sampling.humanoid_in_car_view
        prop = None if prop_fraction is None else CarViewHumanoid(sim, prop_rng)
        for i in range(frames):
            humanoid = False
            if sampling.route_views:
                t = sample_scene_time(rng, sim.spec.lights, t_max)
                sim.set_time(t)
                p = sample_placement(rng, length, targets=interesting_route_s(sim, t))
            else:
                p, humanoid = sample_train_view(
                    rng, sim, length, sim.camera_model, sampling.head_camera_fraction
                )
            sim.teleport_ego(p.s, p.lateral, p.yaw_offset, 0.0)
            if humanoid:  # a walking robot has no car around its camera
                sim.world.set_pose(sim.world.ego_id, sim.ego.x + 1e4, sim.ego.y + 1e4, 0.0)
            if prop is not None:
                if not humanoid and prop_rng.random() < prop_fraction:
                    prop.place_in_view(sim.ego.x, sim.ego.y, sim.ego.yaw)
                else:
                    prop.hide()
            frame = sim.render_camera(pose_jitter=p.jitter, ground_truth=True)
            if frame.tags is None:
                raise RuntimeError("sim.render_camera(ground_truth=True) returned no tags")
            rgb[i] = frame.rgb
            labels[i] = labels_from_tags(frame.tags)
    finally:
        close = getattr(sim, "close", None)
        if close is not None:
            close()
    return rgb, labels


def generate(
    out_dir: Path,
    seeds: range | list[int],
    frames_per_seed: int,
    *,
    progress: bool = True,
    profile: str = HELD_OUT_PROFILE,
) -> Path:
    """Render and write shards for `seeds` with sampling `profile`; shards already present with the
    same parameters are kept (so re-running training does not re-render). Returns `out_dir`."""
    sampling_profile(profile)  # an unknown name fails before anything is rendered
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("no seeds given")
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds contain duplicates")
    if frames_per_seed < 1:
        raise ValueError(f"frames_per_seed must be >= 1, got {frames_per_seed}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {
        "generator_version": GENERATOR_VERSION,
        "frames_per_seed": frames_per_seed,
        "width": CAMERA_WIDTH,
        "height": CAMERA_HEIGHT,
        # cached shards are stale when the lens changes
        "camera_hfov_deg": round(math.degrees(CAMERA_HFOV), 3),
        "profile": profile,
    }
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if manifest.get("params") != params:
        manifest = {"params": params, "shards": {}}
    chunks = [seeds[i : i + SEEDS_PER_SHARD] for i in range(0, len(seeds), SEEDS_PER_SHARD)]
    todo = [
        c
        for c in chunks
        if not (shard_path(out_dir, c).name in manifest["shards"] and shard_path(out_dir, c).is_file())
    ]
    bar = tqdm(
        total=sum(len(c) for c in todo), desc=f"render {out_dir.name}", unit="scene", disable=not progress
    )
    for chunk in todo:
        rgbs, labels, frame_seeds = [], [], []
        for seed in chunk:
            r, lab = render_scene(seed, frames_per_seed, profile=profile)
            rgbs.append(r)
            labels.append(lab)
            frame_seeds.append(np.full(len(r), seed, np.int64))
            bar.update(1)
        path = shard_path(out_dir, chunk)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp, rgb=np.concatenate(rgbs), labels=np.concatenate(labels), seeds=np.concatenate(frame_seeds)
        )
        tmp.replace(path)
        manifest["shards"][path.name] = chunk
        manifest_path.write_text(json.dumps(manifest, indent=1))
    bar.close()
    return out_dir

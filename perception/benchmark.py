"""Per-stage latency of the perception pipeline on rendered frames, one thread:

    python -m perception.benchmark [--seeds 0:5] [--frames-per-seed 8] [--repeat 5] [--json PATH]

Reports p50/p99 in milliseconds for model inference, BEV projection, traffic-light estimation and the
whole Perceiver.process call. Numbers depend on machine load; run on an idle machine for claims.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from perception import traffic_light
from perception.bev import BevProjector
from perception.inference import SegmentationModel
from perception.pipeline import Perceiver


def _stats(ms: list[float]) -> dict:
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "n": len(ms)}


def run(seeds, frames_per_seed: int, repeat: int, model_path: Path | None = None) -> dict:
    from sim.camera import make_camera_model
    from sim.datagen import render_scene

    rgb = np.concatenate([render_scene(s, frames_per_seed)[0] for s in seeds])
    camera = make_camera_model(rgb.shape[2], rgb.shape[1])
    model = SegmentationModel(model_path, threads=1)
    bev = BevProjector(camera)
    perceiver = Perceiver(camera, model_path=model_path, threads=1)
    timings: dict[str, list[float]] = {"model": [], "bev": [], "traffic_light": [], "process": []}
    perceiver.process(0, rgb[0])  # warm-up
    for _ in range(repeat):
        for image in rgb:
            t0 = time.perf_counter()
            classes, conf = model.predict(image)
            t1 = time.perf_counter()
            bev.project(classes)
            t2 = time.perf_counter()
            traffic_light.estimate(classes, conf, camera)
            t3 = time.perf_counter()
            perceiver.process(0, image)
            t4 = time.perf_counter()
            timings["model"].append((t1 - t0) * 1e3)
            timings["bev"].append((t2 - t1) * 1e3)
            timings["traffic_light"].append((t3 - t2) * 1e3)
            timings["process"].append((t4 - t3) * 1e3)
    return {k: _stats(v) for k, v in timings.items()} | {"frames": len(rgb), "threads": 1}


def main(argv: list[str] | None = None) -> int:
    from perception.train import parse_seed_range

    p = argparse.ArgumentParser(prog="python -m perception.benchmark", description=__doc__)
    p.add_argument("--seeds", type=parse_seed_range, default=parse_seed_range("0:5"))
    p.add_argument("--frames-per-seed", type=int, default=8)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    out = run(args.seeds, args.frames_per_seed, args.repeat, args.model)
    text = json.dumps(out, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The segmentation dataset's format: compact npz shards of frames and labels, read by training and
evaluation. The frames are rendered by the simulator (sim/datagen.py, which documents the sampling);
this module needs no simulator, so a model can be trained or scored on shards anywhere.

Shards: ``shard_<first>_<last>.npz`` with ``rgb`` (N,H,W,3) uint8, ``labels`` (N,H,W) uint8
(perception.classes.Cls), ``seeds`` (N,) int64, plus ``manifest.json`` listing the shards and the
generation parameters (shards not listed there are stale and never read).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CAMERA_WIDTH, CAMERA_HEIGHT = 160, 120


def shard_path(out_dir: Path, seeds: list[int]) -> Path:
    return out_dir / f"shard_{seeds[0]:05d}_{seeds[-1]:05d}.npz"


def load(data_dir: Path, seeds: range | list[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All frames in `data_dir` (optionally only those of `seeds`): rgb, labels, per-frame seed."""
    data_dir = Path(data_dir)
    paths = sorted(data_dir.glob("shard_*.npz"))
    paths = [p for p in paths if not p.name.endswith(".tmp.npz")]
    manifest_path = data_dir / "manifest.json"
    if manifest_path.is_file():
        # Shards left over from other generation parameters are stale: read only the listed ones.
        listed = set(json.loads(manifest_path.read_text()).get("shards", {}))
        paths = [p for p in paths if p.name in listed]
    if not paths:
        raise FileNotFoundError(f"no shards in {data_dir}; generate them with sim.datagen.generate")
    wanted = None if seeds is None else {int(s) for s in seeds}
    rgbs, labels, frame_seeds = [], [], []
    for path in paths:
        with np.load(path) as z:
            keep = slice(None) if wanted is None else np.isin(z["seeds"], list(wanted))
            rgbs.append(z["rgb"][keep])
            labels.append(z["labels"][keep])
            frame_seeds.append(z["seeds"][keep])
    rgb, lab, fs = np.concatenate(rgbs), np.concatenate(labels), np.concatenate(frame_seeds)
    if wanted is not None:
        missing = wanted - set(fs.tolist())
        if missing:
            raise ValueError(f"{data_dir} has no frames for seeds {sorted(missing)[:10]}...")
    return rgb, lab, fs


def write_shard(path: Path, rgb: np.ndarray, labels: np.ndarray, seeds: np.ndarray) -> None:
    """Write one shard (used by tests and tools that make frames another way)."""
    if (
        rgb.dtype != np.uint8
        or labels.dtype != np.uint8
        or rgb.shape[:3] != labels.shape
        or rgb.shape[-1] != 3
    ):
        raise ValueError(
            f"bad shard arrays: rgb {rgb.shape} {rgb.dtype}, labels {labels.shape} {labels.dtype}"
        )
    np.savez_compressed(path, rgb=rgb, labels=labels, seeds=np.asarray(seeds, np.int64))

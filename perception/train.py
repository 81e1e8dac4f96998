"""Train SegNetLite on rendered shards and export it to ONNX, in one reproducible command:

    fleetpilot train perception --seeds 1000:1400 --frames-per-seed 8 --epochs 30 --eval-seeds 0:20

which renders (or reuses) the training and held-out shards, trains on CPU, exports
perception/models/segnet.onnx plus segnet.json (classes, input, seeds, metrics).
The shipped model's exact recipe (two commands: a model, then a fine-tune with --init) is in
perception/models/MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from contracts.scenarios import parse_seed_range as contract_seed_range
from perception.classes import NAMES, NUM_CLASSES
from perception.inference import DEFAULT_MODEL_PATH

DEFAULT_DATA = Path("data/perception")


def parse_seed_range(text: str) -> range:
    """argparse type of a seed range: contracts.scenarios.parse_seed_range ('A:B', B exclusive, or 'N';
    seeds 0 … 2^32 − 1, as for every other command)."""
    try:
        return contract_seed_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def class_weights(labels: np.ndarray, power: float = 0.6, max_weight: float = 20.0) -> np.ndarray:
    """Inverse-frequency weights, softened by `power`, normalised so the median present class = 1.
    Lane markings and light heads are <1 % of pixels; without weights the net ignores them."""
    counts = np.bincount(labels.ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES].astype(np.float64)
    freq = counts / max(counts.sum(), 1.0)
    present = freq > 0
    w = np.ones(NUM_CLASSES)
    w[present] = (1.0 / freq[present]) ** power
    w /= np.median(w[present])
    return np.clip(w, 0.1, max_weight).astype(np.float32)


def frame_sampling_weights(labels: np.ndarray, target_fraction: float = 0.2, cap: float = 5.0) -> np.ndarray:
    """Per-frame sampling probability: a frame showing a rare class (objects, light heads) gets
    1 + Σ over the rare classes it shows of clip(target_fraction / fraction of frames showing that
    class, 0.5, cap), so a class seen in 3 % of the frames (yellow lights) is drawn about as often
    as one seen in 20 %. Class weights alone cannot help when a class is absent from most batches."""
    from perception.classes import OBSTACLE_CLASSES, TRAFFIC_LIGHT_CLASSES

    if target_fraction <= 0 or cap < 0.5:
        raise ValueError(f"need target_fraction > 0 and cap >= 0.5, got {target_fraction}, {cap}")
    flat = labels.reshape(len(labels), -1)
    w = np.ones(len(labels))
    for c in (*OBSTACLE_CLASSES, *TRAFFIC_LIGHT_CLASSES):
        shows = (flat == c).any(axis=1)
        if shows.any():
            w += shows * np.clip(target_fraction / shows.mean(), 0.5, cap)
    return w / w.sum()


def soft_dice_loss(logits, target):
    """1 - mean soft Dice (smoothing 1) over the classes present in the batch labels.
    Cross-entropy is dominated by the big ground classes even with weights; Dice scores each class by
    its overlap ratio, like IoU, so a 10-pixel pedestrian counts as much as the road."""
    import torch

    prob = torch.softmax(logits, dim=1)
    onehot = torch.nn.functional.one_hot(target, prob.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    inter = (prob * onehot).sum(dim=(0, 2, 3))
    total = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    dice = (2 * inter + 1.0) / (total + 1.0)
    return 1.0 - dice[present].mean()


def augment(rgb, labels, rng: np.random.Generator):
    """Cheap, label-safe augmentations on a torch uint8 NHWC batch: horizontal flip, per-image
    brightness/contrast and per-channel gain (lighting and paint variation beyond the sim's)."""
    import torch

    n = rgb.shape[0]
    flip = torch.from_numpy(rng.random(n) < 0.5)
    rgb = rgb.clone()
    labels = labels.clone()
    rgb[flip] = rgb[flip].flip(2)
    labels[flip] = labels[flip].flip(2)
    x = rgb.to(torch.float32)
    gain = torch.from_numpy(rng.uniform(0.75, 1.25, (n, 1, 1, 1)).astype(np.float32))
    channel = torch.from_numpy(rng.uniform(0.9, 1.1, (n, 1, 1, 3)).astype(np.float32))
    bias = torch.from_numpy(rng.uniform(-20, 20, (n, 1, 1, 1)).astype(np.float32))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * gain * channel + mean + bias
    return x.clamp_(0, 255).round_().to(torch.uint8), labels


def train_model(
    rgb: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 4e-3,
    width: int = 16,
    seed: int = 0,
    threads: int = 2,
    progress: bool = True,
    max_steps: int | None = None,
    dice_weight: float = 0.5,
    init_state: dict | None = None,
    refine: int = 0,
):
    """Returns the trained SegNetLite (eval mode) and a history dict."""
    import torch
    from torch.nn import functional as F
    from tqdm import tqdm

    from perception.model import SegNetLite, normalise_nhwc_uint8

    if rgb.shape[0] != labels.shape[0] or rgb.shape[0] == 0:
        raise ValueError(f"need matching, non-empty rgb/labels, got {rgb.shape} and {labels.shape}")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = SegNetLite(width=width, refine=refine)
    if init_state is not None:
        load_init_state(net, init_state)
    weights = torch.from_numpy(class_weights(labels))
    steps_per_epoch = max(1, int(np.ceil(len(rgb) / batch_size)))
    total = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1), pct_start=0.15)
    rgb_t = torch.from_numpy(rgb)
    lab_t = torch.from_numpy(labels)
    history = {"loss": [], "weights": weights.tolist()}
    net.train()
    bar = tqdm(total=total, desc="train", unit="step", disable=not progress)
    step = 0
    sampling = frame_sampling_weights(labels)
    for _epoch in range(epochs):
        order = rng.choice(len(rgb), size=len(rgb), replace=True, p=sampling)
        running = 0.0
        for i in range(steps_per_epoch):
            if step >= total:
                break
            idx = torch.from_numpy(order[i * batch_size : (i + 1) * batch_size])
            x, y = augment(rgb_t[idx], lab_t[idx], rng)
            logits = net(normalise_nhwc_uint8(x))
            loss = F.cross_entropy(logits, y.long(), weight=weights)
            if dice_weight > 0:
                loss = loss + dice_weight * soft_dice_loss(logits, y.long())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_value = float(loss.detach())
            running += loss_value
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}")
        history["loss"].append(running / steps_per_epoch)
    bar.close()
    net.eval()
    return net, history


def load_init_state(net, state: dict) -> None:
    """Load --init weights. Only the zero-initialised refinement head may be missing from them (it is
    how a refine=0 model grows one); any other mismatch is an error, never a silent partial load."""
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even when strict=False
        raise ValueError(f"--init weights do not fit this network (width/refine?): {exc}") from exc
    missing = [k for k in result.missing_keys if not k.startswith("refine.")]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"--init weights do not fit this network (width/refine?): missing {missing[:5]}, "
            f"unexpected {list(result.unexpected_keys)[:5]}"
        )


def export_onnx(net, out_path: Path, height: int, width: int) -> Path:
    """Export the deployment graph (NHWC uint8 in; classes, confidence, logits out), opset 17."""
    import warnings

    import torch

    from perception.model import ExportWrapper

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ExportWrapper(net).eval()
    dummy = torch.zeros((1, height, width, 3), dtype=torch.uint8)
    names = ["classes", "confidence", "logits"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(out_path),
            input_names=["image"],
            output_names=names,
            opset_version=17,
            dynamic_axes={"image": {0: "batch"}, **{n: {0: "batch"} for n in names}},
            dynamo=False,
        )
    return out_path


def write_model_card(meta: dict, path: Path) -> None:
    """MODEL_CARD.md from the training metadata, so the card never disagrees with the shipped model."""
    m = meta["metrics"]
    stats = meta.get("eval_object_pixels", {})
    pixel_line = ", ".join(f"{k} {v['median_px']:.0f} px ({v['frames']} frames)" for k, v in stats.items())
    oracle = meta.get("half_resolution_oracle")
    oracle_line = "n/a"
    if oracle is not None:
        per_class = ", ".join(f"{k} {v:.2f}" for k, v in oracle["per_class_iou"].items() if v is not None)
        oracle_line = f"{oracle['miou']:.3f} ({per_class})"
    steps = meta.get("reproduce", [meta["command"]])
    if len(steps) == 1:
        reproduce_text = f"```\n{steps[0]}\n```"
    else:
        reproduce_text = (
            "Run in order; each command fine-tunes (`--init`) the float weights the one before saved:\n```\n"
            + "\n".join(steps)
            + "\n```"
        )
    refine = meta.get("refine", 0)
    refine_text = f"full-resolution refinement head of {refine} channels" if refine else "no refinement head"
    history = "".join(f"* {line}\n" for line in meta.get("history", []))
    history_text = f"\n## History\n{history}" if history else ""
    extra_text = ""
    for title, em in meta.get("extra_metrics", {}).items():
        per = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in em["per_class_iou"].items())
        extra_text += f"\n{title}: mIoU **{em['miou']:.3f}** ({em['frames']} frames; {per}).\n"
    rows = "\n".join(
        f"| {name} | {'n/a (absent)' if iou is None else f'{iou:.3f}'} |"
        for name, iou in m["per_class_iou"].items()
    )
    text = f"""# segnet.onnx — model card

Small encoder-decoder CNN (perception/model.py, `SegNetLite`, width {meta["width"]}, {refine_text})
for 160×120
semantic segmentation of the fleetpilot PyBullet world into {len(meta["classes"])} classes:
{", ".join(meta["classes"])}.

## Interface
* input `image`: NHWC **uint8** RGB, (N, {meta["input"]["height"]}, {meta["input"]["width"]}, 3);
  normalisation is inside the graph, feed the camera image as is.
* outputs: `classes` (N,H,W) uint8 argmax, `confidence` (N,H,W) float32 max-softmax, `logits` (N,C,H,W).
* ONNX opset 17, {meta["size_bytes"] / 1e6:.2f} MB. Runtime: perception/inference.py (`SegmentationModel`).

## Data
Rendered by sim/datagen.py from the simulator (seed = scene; scenario = SCENARIO_NAMES[seed % n];
odd seeds randomise appearance; camera pose jitter; random scene time). Sampling profiles
(sim/datagen.py docstring): `car` = the car's front camera, placements biased towards objects;
`train` = placements aimed at one kind of target (light, walker, obstacle, lead car) chosen uniformly,
light states red/yellow/green drawn equally, and 15 % humanoid head-camera views (1.2–1.7 m high,
0–25° down, any heading, on road or sidewalk).
* training seeds {meta["train_seeds"]}, {meta["frames_per_seed"]} frames each
  ({meta["train_frames"]} frames, profile `{meta.get("profile", "car")}`)
* held-out evaluation seeds {meta["eval_seeds"]}, {meta["eval_frames_per_seed"]} frames each
  ({m["frames"]} frames, profile `car`), disjoint from training and never used for any choice
  made during training.

## Reproduce
{reproduce_text}
Data generation {meta["timing_s"]["data"]:.0f} s (0 when the shards were cached),
training {meta["timing_s"]["train"]:.0f} s on this machine
({meta["epochs"]} epochs, class-weighted cross-entropy + {meta.get("dice_weight", 0)} x soft Dice,
AdamW + one-cycle LR, flip/brightness/colour augmentation).
Same seeds → same data; training is deterministic up to torch CPU kernel nondeterminism.
Evaluate: `fleetpilot eval perception --seeds {meta["eval_seeds"]}`.

## Metrics (held-out seeds {meta["eval_seeds"]})
mIoU **{m["miou"]:.3f}** over classes present in labels or predictions;
pixel accuracy {m["pixel_accuracy"]:.3f}.
Latency (ONNX Runtime, 1 thread, model only): p50 {m["latency_ms"]["p50"]:.2f} ms,
p99 {m["latency_ms"]["p99"]:.2f} ms.

| class | IoU |
|---|---|
{rows}
{extra_text}
## Limitations
* Trained only on the simulator's flat-shaded TinyRenderer images; no real-camera transfer is implied.
* Traffic-light heads are a few pixels wide at 160×120 beyond ~20 m, so TL_* IoU is bounded by
  resolution; the traffic-light estimator needs a minimum pixel count and reports NONE when the head is
  too small.
* Thin, distant lane markings (< 1 px wide) are not recoverable at this resolution.
* Small objects bound the mean ({meta.get("camera_hfov_deg", 90):.0f}° horizontal FOV): median pixels per
  held-out frame that shows them: {pixel_line}.
  An oracle exact at half resolution (one pixel of boundary jitter) scores mIoU {oracle_line}.
* The rare classes appear in few held-out frames (5–30), so their IoU is noisy.
{history_text}"""
    path.write_text(text)


def _init_recipe(init: Path | None) -> list[str]:
    """Commands that produced the --init weights (from their sidecar JSON); [] without --init."""
    if init is None:
        return []
    sidecar = Path(init).with_suffix(".json")
    if not sidecar.is_file():
        return [f"# weights {init}: recipe unknown (no {sidecar.name} beside them)"]
    return list(json.loads(sidecar.read_text())["reproduce"])


def _load_state(path: Path) -> dict:
    import torch

    if not Path(path).is_file():
        raise FileNotFoundError(f"--init weights {path} not found")
    return torch.load(path, map_location="cpu", weights_only=True)


def dataset_profiles() -> tuple[str, ...]:
    from sim.datagen import PROFILES

    return tuple(PROFILES)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="fleetpilot train perception",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="shard directory (train/ and eval/ inside)"
    )
    p.add_argument(
        "--seeds", type=parse_seed_range, default=parse_seed_range("1000:1400"), help="training seeds A:B"
    )
    p.add_argument(
        "--eval-seeds", type=parse_seed_range, default=parse_seed_range("0:20"), help="held-out A:B"
    )
    p.add_argument("--frames-per-seed", type=int, default=8)
    p.add_argument("--eval-frames-per-seed", type=int, default=8)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--width", type=int, default=16, help="network base width (channels at 1/2 resolution)")
    p.add_argument(
        "--refine", type=int, default=0, help="channels of the full-resolution refinement head (0 = none)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="weight init / shuffling seed")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dice-weight", type=float, default=0.5, help="soft-Dice term weight (0 = CE only)")
    p.add_argument("--init", type=Path, default=None, help="start from these float weights (segnet_last.pt)")
    p.add_argument(
        "--also-eval-seeds",
        type=parse_seed_range,
        default=None,
        help="a second held-out car range A:B reported in the card (e.g. 20:40)",
    )
    p.add_argument(
        "--humanoid-eval-frames-per-seed",
        type=int,
        default=4,
        help="humanoid head-camera frames per held-out seed reported in the card (0 = skip)",
    )
    p.add_argument(
        "--save-weights",
        type=Path,
        default=None,
        help="where to keep the float weights for a later --init (default: DATA/segnet_last.pt)",
    )
    p.add_argument(
        "--profile",
        choices=dataset_profiles(),
        default="train",
        help="training-frame sampler (sim/datagen.py); held-out frames always use 'car'",
    )
    args = p.parse_args(argv)

    overlap = set(args.seeds) & set(args.eval_seeds)
    if overlap:
        p.error(f"training and eval seeds overlap ({sorted(overlap)[:5]}...); held-out means disjoint")

    # training renders its data: the simulator is needed here, never at import (the stack's line)
    from perception import dataset
    from perception.evaluate import evaluate_arrays, half_resolution_oracle, object_pixel_stats
    from sim import datagen
    from sim.camera import CAMERA_HFOV

    t0 = time.perf_counter()
    train_dir = datagen.generate(
        args.data / datagen.sampling_profile(args.profile).data_folder,
        args.seeds,
        args.frames_per_seed,
        progress=not args.no_progress,
        profile=args.profile,
    )
    eval_dir = datagen.generate(
        args.data / "eval", args.eval_seeds, args.eval_frames_per_seed, progress=not args.no_progress
    )
    t_data = time.perf_counter() - t0
    rgb, labels, _ = dataset.load(train_dir, args.seeds)
    net, history = train_model(
        rgb,
        labels,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        width=args.width,
        seed=args.seed,
        threads=args.threads,
        progress=not args.no_progress,
        dice_weight=args.dice_weight,
        init_state=None if args.init is None else _load_state(args.init),
        refine=args.refine,
    )
    t_train = time.perf_counter() - t0 - t_data
    export_onnx(net, args.out, rgb.shape[1], rgb.shape[2])
    import torch

    # The float weights, for fine-tuning later; kept with the data (gitignored), not shipped. A sidecar
    # JSON holds the commands that produced them, so a model fine-tuned with --init can name its
    # whole recipe in its card.
    command = "fleetpilot train perception " + " ".join(argv if argv is not None else [])
    reproduce = [*_init_recipe(args.init), command]
    weights_path = args.save_weights if args.save_weights is not None else args.data / "segnet_last.pt"
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), weights_path)
    weights_path.with_suffix(".json").write_text(json.dumps({"reproduce": reproduce}, indent=1))

    eval_rgb, eval_labels, _ = dataset.load(eval_dir, args.eval_seeds)
    metrics = evaluate_arrays(eval_rgb, eval_labels, model_path=args.out, threads=1)
    extra_sets = []
    if args.also_eval_seeds is not None:
        if set(args.also_eval_seeds) & set(args.seeds):
            p.error("--also-eval-seeds overlap the training seeds")
        seeds = args.also_eval_seeds
        name = f"eval_{seeds.start}_{seeds.stop}"
        title = f"Held-out car seeds {seeds.start}:{seeds.stop}"
        extra_sets.append((title, name, seeds, datagen.HELD_OUT_PROFILE, args.eval_frames_per_seed))
    if args.humanoid_eval_frames_per_seed > 0:
        title = f"Humanoid head camera, held-out seeds {args.eval_seeds.start}:{args.eval_seeds.stop}"
        frames = args.humanoid_eval_frames_per_seed
        extra_sets.append((title, "eval_humanoid", args.eval_seeds, "humanoid", frames))
    extra_metrics = {}
    for title, name, seeds, profile, frames in extra_sets:
        d = datagen.generate(args.data / name, seeds, frames, progress=not args.no_progress, profile=profile)
        x_rgb, x_labels, _ = dataset.load(d, seeds)
        em = evaluate_arrays(x_rgb, x_labels, model_path=args.out, threads=1)
        extra_metrics[title] = {k: em[k] for k in ("miou", "per_class_iou", "frames")}
    meta = {
        "classes": NAMES,
        "input": {
            "name": "image",
            "layout": "NHWC",
            "dtype": "uint8",
            "height": int(rgb.shape[1]),
            "width": int(rgb.shape[2]),
            "normalisation": "inside the graph",
        },
        "outputs": {
            "classes": "(N,H,W) uint8",
            "confidence": "(N,H,W) float32 max-softmax",
            "logits": "(N,C,H,W) float32",
        },
        "train_seeds": f"{args.seeds.start}:{args.seeds.stop}",
        "eval_seeds": f"{args.eval_seeds.start}:{args.eval_seeds.stop}",
        "frames_per_seed": args.frames_per_seed,
        "profile": args.profile,
        "eval_frames_per_seed": args.eval_frames_per_seed,
        "train_frames": len(rgb),
        "epochs": args.epochs,
        "dice_weight": args.dice_weight,
        "camera_hfov_deg": round(math.degrees(CAMERA_HFOV), 3),
        "width": args.width,
        "refine": args.refine,
        "command": command,
        "reproduce": reproduce,
        "loss_per_epoch": [round(x, 4) for x in history["loss"]],
        "class_weights": [round(x, 3) for x in history["weights"]],
        "timing_s": {"data": round(t_data, 1), "train": round(t_train, 1)},
        "metrics": metrics,
        "extra_metrics": extra_metrics,
        "eval_object_pixels": object_pixel_stats(eval_labels),
        "half_resolution_oracle": {
            k: v for k, v in half_resolution_oracle(eval_labels).items() if k in ("miou", "per_class_iou")
        },
        "size_bytes": args.out.stat().st_size,
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    write_model_card(meta, args.out.parent / "MODEL_CARD.md")
    print(
        json.dumps(
            {
                "miou": metrics["miou"],
                "per_class_iou": metrics["per_class_iou"],
                "latency_ms": metrics["latency_ms"],
                "timing_s": meta["timing_s"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the test-only YOLO-seg person model on synthetic people (issue 18, part 5).

Three steps, each rerunnable on its own:

    python scripts/train_synth_yoloseg.py render  --out .devdata/synth-yoloseg --train 1200 --val 150
    python scripts/train_synth_yoloseg.py train   --data .devdata/synth-yoloseg --minutes 70
    python scripts/train_synth_yoloseg.py release --run .devdata/synth-yoloseg/run
    python scripts/train_synth_yoloseg.py evaluate --data .devdata/synth-yoloseg

``render`` draws one frame per random scene from :mod:`gaitpipe.synth` (1-4 walkers with random
bodies, clothes, bags and coats, views and distances, random rooms, cameras and occluders; some
frames empty) and writes the exact per-person masks as YOLO-seg polygon labels. ``train`` runs
ultralytics' own trainer from the ``yolo11n-seg.yaml`` architecture (no pretrained weights: this
machine cannot download them) on the CPU for a bounded time. ``release`` writes the fp16 model
to ``gaitpipe/_weights/segmenters/`` with the metadata that says what it is: trained on
synthetic people only, for tests, not for real footage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from gaitpipe.synth import Camera, Covariates, Occluder, Person, Scene, Walk, render_scene
from gaitpipe.utils.console import progress

SIZE = (320, 240)
MIN_AREA = 30  #: visible pixels below which a walker is not labelled (a few pixels of a shoe)
RELEASE_NAME = "yolo11n-seg-synthpeople"


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------
def random_scene(rng: np.random.Generator, seed: int) -> Scene:
    """One random scene, drawn so that a single frame at t = 0 shows its walkers anywhere."""
    casiab_like = rng.random() < 0.35  # CASIA-B's framing: the real clips we measure on
    if casiab_like:
        camera = Camera(
            height=float(rng.uniform(0.85, 1.1)), pitch=float(rng.uniform(0, 5)), focal=float(rng.uniform(270, 330))
        )
    else:
        camera = Camera(
            height=float(rng.uniform(0.8, 2.6)), pitch=float(rng.uniform(-2, 22)), focal=float(rng.uniform(200, 420))
        )
    n_people = int(rng.choice([0, 1, 2, 3, 4], p=[0.04, 0.36, 0.30, 0.20, 0.10]))
    walks = []
    for k in range(max(n_people, 1)):
        person = Person.random(np.random.default_rng([seed, k, 1]), f"{k + 1:03d}")
        r = rng.random()
        cov = Covariates(bag=bool(r < 0.25), coat=bool(0.25 <= r < 0.45))
        depth = float(rng.uniform(3.0, 5.5)) if casiab_like else float(rng.uniform(2.2, 10.0))
        walks.append(
            Walk(
                person,
                view=float(90 + rng.normal(0, 10))
                if casiab_like and rng.random() < 0.6
                else float(rng.uniform(0, 180)),
                covariates=cov,
                direction=int(rng.choice([-1, 1])),
                center=(float(rng.uniform(-1.2, 1.2)) * depth / 3.8, depth),
                jitter_seed=int(rng.integers(0, 2**31 - 1)),
                time_offset=float(rng.uniform(-1.5, 1.5)),
            )
        )
    if n_people == 0:  # an empty room (negatives): the walker passes 30 s later, far off to the side
        walks[0] = Walk(walks[0].person, view=90.0, center=(0.0, 4.0), time_offset=30.0)
    occluders = []
    for _ in range(int(rng.choice([0, 1, 2], p=[0.6, 0.3, 0.1]))):
        d = float(rng.uniform(1.8, 6.0))
        half = (float(rng.uniform(0.1, 0.8)), float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.3, 1.2)))
        colour = tuple(int(c) for c in rng.integers(20, 230, 3))
        occluders.append(Occluder(center=(float(rng.uniform(-2, 2)) * d / 3.8, d, half[2]), half=half, colour=colour))
    return Scene(
        walks=walks,
        size=SIZE,
        n_frames=1,
        camera=camera,
        occluders=occluders,
        seed=int(rng.integers(0, 2**31 - 1)),
        noise_seed=int(rng.integers(0, 2**31 - 1)),
        noise_sigma=float(rng.uniform(1.0, 5.0)),
        blur_sigma=float(rng.uniform(0.3, 1.2)),
        lighting_amplitude=float(rng.uniform(0.0, 0.15)),
        shadows=bool(rng.random() < 0.9),
    )


def mask_polygon(mask: np.ndarray) -> np.ndarray | None:
    """One polygon [K, 2] (pixels) for a person mask; parts split by an occluder are joined the
    way ultralytics' own converters do (thin bridges between the parts), since its label format
    holds one polygon per instance."""
    from ultralytics.data.converter import merge_multi_segment

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    parts = [c.reshape(-1, 2) for c in contours if cv2.contourArea(c) >= 4 and len(c) >= 3]
    if not parts:
        return None
    # approxPolyDP at 0.7 px keeps the outline to well under a pixel with far fewer points
    parts = [cv2.approxPolyDP(p.reshape(-1, 1, 2), 0.7, True).reshape(-1, 2) for p in parts]
    parts = [p for p in parts if len(p) >= 3]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0].astype(np.float32)
    merged = merge_multi_segment([p.reshape(-1).astype(np.float32) for p in parts])
    return np.concatenate(merged, axis=0).astype(np.float32)


def render_split(out: Path, split: str, count: int, seed: int) -> int:
    """Render ``count`` frames with labels into ``out/images/split`` and ``out/labels/split``."""
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    (out / "masks" / split).mkdir(parents=True, exist_ok=True)
    instances = 0
    with progress(count, f"rendering {split}", unit="frame") as bar:
        for i in range(count):
            name = f"{split}-{i:05d}"
            if (out / "labels" / split / f"{name}.txt").is_file():  # resumable
                bar.update(1)
                continue
            frame_seed = seed * 1_000_003 + i
            rng = np.random.default_rng([frame_seed, 5])
            scene = random_scene(rng, frame_seed)
            clip = render_scene(scene)
            image, masks = clip.frames[0], clip.masks[0]
            h, w = image.shape[:2]
            lines = []
            for m in masks:
                if m.sum() < MIN_AREA:
                    continue
                poly = mask_polygon(m)
                if poly is None:
                    continue
                xy = np.clip(poly / np.array([w, h], np.float32), 0.0, 1.0)
                lines.append("0 " + " ".join(f"{v:.5f}" for v in xy.reshape(-1)))
            instances += len(lines)
            cv2.imwrite(str(out / "images" / split / f"{name}.png"), image)
            # exact masks kept for measuring IoU on held-out frames (0 = background, k = walker k)
            owner = np.zeros((h, w), np.uint8)
            for k, m in enumerate(masks):
                owner[m] = k + 1
            cv2.imwrite(str(out / "masks" / split / f"{name}.png"), owner)
            (out / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            bar.update(1)
    return instances


def cmd_render(args: argparse.Namespace) -> None:
    out = Path(args.out)
    t0 = time.time()
    n_train = render_split(out, "train", args.train, args.seed)
    n_val = render_split(out, "val", args.val, args.seed + 1)
    (out / "data.yaml").write_text(
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: person\n"
    )
    print(f"rendered {args.train}+{args.val} frames ({n_train}+{n_val} people) in {time.time() - t0:.0f} s")


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def offline_ultralytics(home: Path) -> None:
    """Keep ultralytics from reaching the network or writing outside ``home`` (no fonts, no
    pretrained-weight AMP check, no telemetry, no hub)."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(home / "ultralytics-config"))
    os.environ["YOLO_OFFLINE"] = "1"
    from ultralytics.utils import SETTINGS

    off = ("sync", "clearml", "comet", "dvc", "mlflow", "neptune", "raytune", "tensorboard", "wandb", "vscode_msg")
    SETTINGS.update({k: False for k in off if k in SETTINGS})


def cmd_train(args: argparse.Namespace) -> None:
    data = Path(args.data).resolve()
    offline_ultralytics(data)
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(args.threads)
    model = YOLO("yolo11n-seg.yaml", task="segment")
    model.train(
        data=str(data / "data.yaml"),
        epochs=args.epochs,
        time=args.minutes / 60.0,  # hours; ultralytics rescales its schedule to fit
        imgsz=args.imgsz,
        batch=args.batch,
        # ultralytics accumulates gradients up to a nominal batch of 64: with a few hundred steps
        # in all on a CPU, every batch should be a step
        nbs=args.batch,
        warmup_epochs=1,
        device="cpu",
        workers=args.workers,
        project=str(data),
        name="run",
        exist_ok=True,
        pretrained=False,
        amp=False,
        plots=False,
        val=False,  # validation costs minutes per epoch here; ultralytics still validates the final epoch
        patience=1000,
        cache="ram",
        seed=0,
        deterministic=False,
        close_mosaic=2,  # the last epochs on whole frames, as the model will see them
        verbose=True,
    )


# ---------------------------------------------------------------------------------------------
# Release
# ---------------------------------------------------------------------------------------------
def cmd_release(args: argparse.Namespace) -> None:
    import torch

    run = Path(args.run)
    src = run / "weights" / "last.pt"  # no per-epoch validation (see train): the last EMA weights
    ckpt = torch.load(src, map_location="cpu", weights_only=False)  # our own run's file
    model = (ckpt.get("ema") or ckpt["model"]).half().eval()
    for p in model.parameters():
        p.requires_grad = False
    # plain data only: a checkpoint saved mid-training carries ultralytics' namespace of training
    # settings and the loss object, which gaitpipe's pickle guard rightly refuses to unpickle
    if hasattr(model, "args") and not isinstance(model.args, dict):
        model.args = dict(vars(model.args))
    if getattr(model, "criterion", None) is not None:
        model.criterion = None
    results = [*run.glob("results.csv")]
    metrics = ckpt.get("train_metrics") or {}
    out = {
        "model": model,
        "date": ckpt.get("date"),
        "version": ckpt.get("version"),
        "license": "AGPL-3.0 (ultralytics architecture and trainer); trained on gaitpipe.synth frames only",
        "docs": "docs/models/yolo11n-seg-synthpeople.md",
        "train_args": {
            k: v for k, v in (ckpt.get("train_args") or {}).items() if isinstance(v, (int, float, str, bool))
        },
        "train_metrics": metrics,
        "epoch": -1,
        "gaitpipe": {
            "name": RELEASE_NAME,
            "purpose": "tests only: trained on synthetic people (gaitpipe.synth), NOT for real footage",
            "source_epoch": ckpt.get("epoch"),
            "results_csv": results[0].read_text() if results else "",
        },
    }
    dest = Path(args.dest) / f"{RELEASE_NAME}.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name("." + dest.name + ".tmp")
    torch.save(out, tmp)
    shutil.move(tmp, dest)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.2f} MB) from {src}")


# ---------------------------------------------------------------------------------------------
# Evaluation on held-out rendered frames
# ---------------------------------------------------------------------------------------------
def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def cmd_evaluate(args: argparse.Namespace) -> None:
    """Per-walker mask IoU (each walker matched to its best predicted mask, one to one) and
    foreground IoU (all people together) on the held-out ``val`` frames, through gaitpipe's own
    soft-mask predictor (``soft > 0.5``). Walkers with fewer than ``--min-area`` visible pixels
    are not counted as misses (a shoe behind a pillar)."""
    from ultralytics import YOLO

    from gaitpipe.hub.pickle_guard import check_ultralytics_pickle
    from gaitpipe.segment.yolo import _soft_mask_predictor_class

    check_ultralytics_pickle(args.weights)
    model = YOLO(args.weights)
    kw = dict(predictor=_soft_mask_predictor_class(), retina_masks=True, classes=[0], verbose=False)
    images = sorted((Path(args.data) / "images" / "val").glob("*.png"))[: args.limit]
    per_walker, fg, found = [], [], 0
    with progress(len(images), "evaluating", unit="frame") as bar:
        for img_path in images:
            image = cv2.imread(str(img_path))
            owner = cv2.imread(str(Path(args.data) / "masks" / "val" / img_path.name), cv2.IMREAD_UNCHANGED)
            gts = [owner == k for k in range(1, int(owner.max()) + 1)]
            gts = [g for g in gts if g.sum() >= args.min_area]
            res = model.predict(image, **kw)[0]
            pred = (
                res.masks.data.float().cpu().numpy() > 0.5
                if res.masks is not None
                else np.zeros((0, *owner.shape), bool)
            )
            fg.append(_iou(pred.any(0) if len(pred) else np.zeros(owner.shape, bool), owner > 0))
            used: set[int] = set()
            for g in sorted(gts, key=lambda m: -int(m.sum())):
                scores = [(_iou(p, g), k) for k, p in enumerate(pred) if k not in used]
                best, k = max(scores, default=(0.0, -1))
                if k >= 0 and best >= 0.5:
                    used.add(k)
                    found += 1
                per_walker.append(best if best >= 0.5 else 0.0)
            bar.update(1)
    report = {
        "frames": len(images),
        "walkers": len(per_walker),
        "detected_iou50": round(found / max(1, len(per_walker)), 4),
        "mean_walker_iou": round(float(np.mean(per_walker)), 4) if per_walker else None,
        "mean_walker_iou_detected": round(float(np.mean([v for v in per_walker if v > 0])), 4) if found else None,
        "mean_foreground_iou": round(float(np.mean(fg)), 4) if fg else None,
    }
    print(json.dumps(report, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="render the synthetic YOLO-seg dataset")
    r.add_argument("--out", default=".devdata/synth-yoloseg")
    r.add_argument("--train", type=int, default=1200)
    r.add_argument("--val", type=int, default=150)
    r.add_argument("--seed", type=int, default=18)
    t = sub.add_parser("train", help="train yolo11n-seg from scratch on it (CPU)")
    t.add_argument("--data", default=".devdata/synth-yoloseg")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--minutes", type=float, default=70.0)
    t.add_argument("--imgsz", type=int, default=320)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--workers", type=int, default=1)
    t.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("release", help="write the fp16 model into gaitpipe/_weights/segmenters/")
    s.add_argument("--run", default=".devdata/synth-yoloseg/run")
    s.add_argument("--dest", default="gaitpipe/_weights/segmenters")
    e = sub.add_parser("evaluate", help="mask IoU on the held-out rendered frames")
    e.add_argument("--data", default=".devdata/synth-yoloseg")
    e.add_argument("--weights", default=f"gaitpipe/_weights/segmenters/{RELEASE_NAME}.pt")
    e.add_argument("--limit", type=int, default=200)
    e.add_argument("--min-area", type=int, default=300)
    args = ap.parse_args(argv)
    {"render": cmd_render, "train": cmd_train, "release": cmd_release, "evaluate": cmd_evaluate}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

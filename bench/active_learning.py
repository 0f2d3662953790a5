"""Active learning on phantoms: mAP50 after each round of labelled cases chosen by informativeness versus at
random, with a fixed test set, several seeds. Writes a PNG of both curves. Last line: one JSON object.

Each seed starts both strategies from the same random initial labelled set and the same first model (by
default the shipped starter model, trained on phantoms of another seed, fine-tuned on the initial set: the
platform's situation when a project starts); each round fine-tunes the previous round's model (as the
platform's retraining does) on all cases labelled so far, and the informativeness strategy ranks the unlabelled
pool with mlbackend.active_learning.informativeness on that model's predictions (the ordering the worklists get).
label_savings: the share of labels the informativeness curve needs to reach the random curve's final mAP50
(0 when it never does), from the seed-averaged curves.

    .venv/bin/python bench/active_learning.py [--cases 200] [--test 40] [--initial 8] [--step 8] [--rounds 4]
        [--epochs 6] [--imgsz 256] [--seeds 3] [--init starter|scratch] [--planes sagittal|all]
        [--png var/bench/active_learning.png]

Sized for this 2-core CPU (about 25 minutes): sagittal images only, like the starter model (--planes all adds
the axial slices to training, test and ranking). From scratch (--init scratch) a few epochs on a few dozen
cases score mAP50 ~0 on a CPU: no signal; that needs a GPU and many more epochs.
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _ml_common  # noqa: F401  (sets up Django)
from annotation.schema import DEFAULT_SCHEMA
from fixtures.phantoms import generate_phantoms
from mlbackend.active_learning import informativeness
from mlbackend.adapter import YoloAdapter, _as_bgr, training_device
from mlbackend.configs import config_load
from mlbackend.interpret import ImageDetections
from mlbackend.phantom_dataset import phantom_image, write_dataset
from mlbackend.services.registry import STARTER_WEIGHTS


def case_images(phantom_dir: Path, case: dict, planes: str) -> list[tuple[str, int, int, np.ndarray]]:
    """(plane, rank, series length, pixels) of what pre-annotation reads: mid-sagittal +-1 and the axials."""
    folder = phantom_dir / case["case_key"]
    sagittal = sorted(folder.glob("sag_*.dcm"))
    axial = sorted(folder.glob("ax_*.dcm")) if planes == "all" else []
    mid = len(sagittal) // 2
    out = [("sagittal", r, len(sagittal), phantom_image(sagittal[r])) for r in range(mid - 1, mid + 2)]
    return out + [("axial", r, len(axial), phantom_image(p)) for r, p in enumerate(axial)]


def train_round(parent: YoloAdapter | None | Path, labelled: list[dict], args, work: Path, phantom_dir: Path,
                data_test: list[dict]) -> tuple[YoloAdapter, float]:
    if work.exists():
        shutil.rmtree(work)
    data_yaml = write_dataset(work / "data", phantom_dir, {"train": labelled, "test": data_test})
    if isinstance(parent, Path):
        adapter = YoloAdapter.load(parent)
    else:
        adapter = parent if parent is not None else YoloAdapter.build(config_load("yolov8n"))
    adapter.train(data_yaml=data_yaml, out_dir=work / "out", epochs=args.epochs, imgsz=args.imgsz, batch=16,
                  device=training_device(), val=False)
    metrics = adapter.evaluate(data_yaml=data_yaml, split="test", imgsz=args.imgsz, out_dir=work / "out")
    return adapter, metrics.map50


def ranked_by_informativeness(adapter: YoloAdapter, pool: list[dict], images: dict, imgsz: int) -> list[dict]:
    scores = []
    for case in pool:
        pictures = images[case["case_key"]]
        detections = adapter.predict([_as_bgr(p[3]) for p in pictures], imgsz=imgsz, conf=0.05)
        scored = [ImageDetections(instance_id=i, plane=p[0], rank=p[1], series_length=p[2],
                                  detections=tuple(d), image_height=p[3].shape[0])
                  for i, (p, d) in enumerate(zip(pictures, detections))]
        scores.append(informativeness(DEFAULT_SCHEMA, scored)["score"])
    order = np.argsort(-np.asarray(scores), kind="stable")
    return [pool[i] for i in order]


def label_savings(labels: list[int], informative: list[float], random: list[float]) -> float | None:
    """None when the random curve never rises above its start (nothing to reach: no signal at this size)."""
    target = random[-1]
    if target <= random[0]:
        return None
    for i, value in enumerate(informative):
        if value >= target:
            if i == 0:
                needed = labels[0]
            else:  # linear interpolation between rounds
                lo, hi = informative[i - 1], value
                needed = labels[i - 1] + (labels[i] - labels[i - 1]) * ((target - lo) / (hi - lo) if hi > lo else 1)
            return round(1 - needed / labels[-1], 3)
    return 0.0


def _arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--initial", type=int, default=8)
    parser.add_argument("--step", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4, help="rounds including the initial one")
    parser.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs per round")
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--planes", choices=["sagittal", "all"], default="sagittal")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--png", default="var/bench/active_learning.png")
    parser.add_argument("--init", choices=["scratch", "starter"], default="starter",
                        help="first model: from the architecture, or fine-tuned from the shipped starter model "
                             "(phantom seed 101, disjoint from this benchmark's seed 7)")
    return parser.parse_args()


def _seed_curves(seed, args, pool_all, images, test, tmp: Path, started: float) -> dict:
    """Both strategies from the same first model and the same initial cases: {strategy: mAP50 per round}."""
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(pool_all)))
    initial = [pool_all[i] for i in order[:args.initial]]
    init = STARTER_WEIGHTS if args.init == "starter" else None
    first, first_map = train_round(init, initial, args, tmp / f"s{seed}-first", tmp / "phantoms", test)
    first_weights = tmp / f"s{seed}-first.pt"
    first.model.save(str(first_weights))
    curves = {}
    for strategy in ("informative", "random"):
        adapter = YoloAdapter.load(first_weights)
        labelled, curve = list(initial), [first_map]
        random_rest = [pool_all[i] for i in order[args.initial:]]
        for _round in range(1, args.rounds):
            keys = {c["case_key"] for c in labelled}
            pool = [c for c in pool_all if c["case_key"] not in keys]
            if strategy == "informative":
                chosen = ranked_by_informativeness(adapter, pool, images, args.imgsz)[:args.step]
            else:
                chosen = [c for c in random_rest if c["case_key"] not in keys][:args.step]
            labelled += chosen
            adapter, value = train_round(adapter, labelled, args, tmp / f"s{seed}-{strategy}", tmp / "phantoms", test)
            curve.append(value)
        curves[strategy] = [round(v, 4) for v in curve]
        print(f"seed {seed} {strategy}: {curve} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return curves


def _plot(png: Path, labels, curves, mean, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    png.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 4), dpi=100)
    axes = figure.add_subplot()
    for key, colour in (("informative", "tab:blue"), ("random", "tab:grey")):
        for curve in curves[key]:
            axes.plot(labels, curve, color=colour, alpha=0.25)
        axes.plot(labels, mean[key], color=colour, marker="o", label=f"{key} (mean of {args.seeds} seeds)")
    axes.set_xlabel("labelled cases")
    axes.set_ylabel(f"mAP50 on {args.test} fixed test cases")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(png)


def main():
    args = _arguments()
    started = time.monotonic()
    labels = [args.initial + args.step * r for r in range(args.rounds)]
    curves = {"informative": [], "random": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = generate_phantoms(n_cases=args.cases, out_dir=tmp / "phantoms", seed=7)["cases"]
        if args.planes == "sagittal":
            for case in cases:
                case["boxes"] = [b for b in case["boxes"] if b["plane"] == "sagittal"]
        test, pool_all = cases[:args.test], cases[args.test:]
        images = {c["case_key"]: case_images(tmp / "phantoms", c, args.planes) for c in pool_all}
        print(f"{args.cases} phantoms ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
        for seed in range(args.seeds):
            for strategy, curve in _seed_curves(seed, args, pool_all, images, test, tmp, started).items():
                curves[strategy].append(curve)
    mean = {k: [round(float(np.mean([c[i] for c in v])), 4) for i in range(args.rounds)] for k, v in curves.items()}
    png = Path(args.png)
    _plot(png, labels, curves, mean, args)
    print(json.dumps({
        "cases": args.cases, "test_cases": args.test, "labels": labels, "epochs": args.epochs, "imgsz": args.imgsz,
        "planes": args.planes, "seeds": args.seeds, "init": args.init, "informative": mean["informative"],
        "random": mean["random"], "informative_per_seed": curves["informative"], "random_per_seed": curves["random"],
        "label_savings": label_savings(labels, mean["informative"], mean["random"]), "png": str(png),
        "seconds": round(time.monotonic() - started, 1), "device": training_device(),
    }))


if __name__ == "__main__":
    main()

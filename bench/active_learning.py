"""Active learning on phantoms: mAP50 after each round of labelled cases chosen by informativeness versus at
random, with a fixed test set, several seeds. Writes a PNG of both curves. Last line: one JSON object.

Each seed starts both strategies from the same random initial labelled set and the same first model (by
default the shipped starter model, trained on phantoms of another seed, fine-tuned on the initial set: the
platform's situation when a project starts); each round fine-tunes the previous round's model (as the
platform's retraining does) on all cases labelled so far, and the informativeness strategy ranks the unlabelled
pool with mlbackend.active_learning.informativeness on that model's predictions (the ordering the worklists get).
label_savings: the share of labels the informativeness curve needs to reach the random curve's final mAP50
(0 when it never does), from the seed-averaged curves. With --model two-stage each round also trains the level
classifier (the two-stage config's settings, --level-epochs a round, fine-tuning the previous round's), the
pool is ranked by mlbackend.active_learning.level_informativeness (its uncertainty per level and finding plus
the rare-value bonus) and the curves are the held-out level_score (mlbackend.level_eval: Pfirrmann kappa and
the findings' AUCs).

    .venv/bin/python bench/active_learning.py [--cases 200] [--test 40] [--initial 8] [--step 8] [--rounds 4]
        [--epochs 6] [--imgsz 256] [--seeds 3] [--init starter|scratch] [--planes sagittal|all]
        [--model detector|two-stage] [--level-epochs 20] [--png var/bench/active_learning.png]

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
from annotation.schema import DEFAULT_SCHEMA, anchor_finding
from fixtures.phantoms import generate_phantoms
from fixtures.phantoms.truth import truth_values
from mlbackend.active_learning import informativeness, level_informativeness
from mlbackend.adapter import YoloAdapter, _as_bgr, training_device
from mlbackend.configs import config_load
from mlbackend.interpret import ImageDetections
from mlbackend.level_eval import level_metrics
from mlbackend.level_model import CropSpec, LevelClassifierModel, TwoStageAdapter
from mlbackend.phantom_dataset import phantom_image, write_dataset
from mlbackend.services.registry import STARTER_WEIGHTS
from mlbackend.services.two_stage import SeriesPictures, heads_for, levels_read, samples_from, schema_classes

LEVEL = {**config_load("two-stage").level}  # the two-stage config's classifier settings


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


class TwoStageRound:
    """--model two-stage: the round's detector and its level classifier, trained on the labelled cases' level
    samples (fine-tuning the previous round's), ranked and scored per level as the platform does."""

    def __init__(self, args, phantom_dir: Path):
        self.args, self.phantom_dir, self.classifier = args, phantom_dir, None

    def pictures(self, case: dict) -> SeriesPictures:
        folder = self.phantom_dir / case["case_key"]
        return SeriesPictures(sorted(folder.glob("sag_*.dcm")), sorted(folder.glob("ax_*.dcm")),
                              render=phantom_image, key=str)

    def train(self, detector: YoloAdapter, labelled: list[dict]) -> TwoStageAdapter:
        spec = CropSpec(size=LEVEL["crop"], depth=LEVEL["depth"])
        samples = []
        for case in labelled:
            drawn = [(str(self.phantom_dir / b["file"]), b["box"], b["level"]) for b in case["boxes"]
                     if b["finding"] == anchor_finding(DEFAULT_SCHEMA) and b["plane"] == "sagittal"]
            samples += samples_from(self.pictures(case), truth_values(case), drawn, DEFAULT_SCHEMA, spec)
        if self.classifier is None:
            self.classifier = LevelClassifierModel(heads=heads_for(DEFAULT_SCHEMA), spec=spec, width=LEVEL["width"],
                                                   layers=LEVEL["layers"])
        self.classifier.train(samples, epochs=self.args.level_epochs, batch=LEVEL["batch"], lr=LEVEL["lr"])
        return TwoStageAdapter(detector, self.classifier, schema_classes(DEFAULT_SCHEMA),
                               anchor_finding(DEFAULT_SCHEMA))

    def read(self, model: TwoStageAdapter, case: dict, images: dict | None = None):
        folder = self.phantom_dir / case["case_key"]
        pictures = (images or {}).get(case["case_key"]) or case_images(self.phantom_dir, case, "all")
        files = sorted(folder.glob("sag_*.dcm"))
        mid = len(files) // 2
        keys = [str(files[r]) for r in range(mid - 1, mid + 2)] + [f"axial-{i}" for i in range(len(pictures) - 3)]
        found = model.detector.predict([p[3] for p in pictures], imgsz=self.args.imgsz, conf=0.05)
        scored = [ImageDetections(instance_id=key, plane=p[0], rank=p[1], series_length=p[2], detections=tuple(d),
                                  image_height=p[3].shape[0]) for key, p, d in zip(keys, pictures, found)]
        return levels_read(model, DEFAULT_SCHEMA, scored, self.pictures(case))

    def score(self, model: TwoStageAdapter, test: list[dict]) -> float:
        calls = [self.read(model, case).calls(DEFAULT_SCHEMA) for case in test]
        return level_metrics(DEFAULT_SCHEMA, calls, [truth_values(case) for case in test])["level_score"] or 0.0

    def ranked(self, model: TwoStageAdapter, pool: list[dict], images: dict) -> list[dict]:
        scores = [level_informativeness(DEFAULT_SCHEMA, self.read(model, case, images).probabilities,
                                        model.classifier.heads)["score"] for case in pool]
        return [pool[i] for i in np.argsort(-np.asarray(scores), kind="stable")]


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
    parser.add_argument("--model", choices=["detector", "two-stage"], default="detector",
                        help="two-stage: each round also trains the level classifier; cases are ranked by its "
                             "per-level uncertainty and the curves are its held-out level_score")
    parser.add_argument("--level-epochs", type=int, default=20, help="level-classifier epochs per round")
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
    levels = TwoStageRound(args, tmp / "phantoms") if args.model == "two-stage" else None
    if levels is not None:
        first_model = levels.train(first, initial)
        first_state, first_map = first_model.classifier.state(), levels.score(first_model, test)
    curves = {}
    for strategy in ("informative", "random"):
        adapter = YoloAdapter.load(first_weights)
        if levels is not None:
            levels.classifier = LevelClassifierModel.from_state(first_state)
            model = TwoStageAdapter(adapter, levels.classifier, schema_classes(DEFAULT_SCHEMA),
                                    anchor_finding(DEFAULT_SCHEMA))
        labelled, curve = list(initial), [first_map]
        random_rest = [pool_all[i] for i in order[args.initial:]]
        for _round in range(1, args.rounds):
            keys = {c["case_key"] for c in labelled}
            pool = [c for c in pool_all if c["case_key"] not in keys]
            if strategy == "informative":
                chosen = (levels.ranked(model, pool, images) if levels is not None
                          else ranked_by_informativeness(adapter, pool, images, args.imgsz))[:args.step]
            else:
                chosen = [c for c in random_rest if c["case_key"] not in keys][:args.step]
            labelled += chosen
            adapter, value = train_round(adapter, labelled, args, tmp / f"s{seed}-{strategy}", tmp / "phantoms", test)
            if levels is not None:
                model = levels.train(adapter, labelled)
                value = levels.score(model, test)
            curve.append(value)
        curves[strategy] = [round(v, 4) for v in curve]
        print(f"seed {seed} {strategy}: {curve} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return curves


def metric_name(args) -> str:
    return "level_score" if args.model == "two-stage" else "mAP50"


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
    axes.set_ylabel(f"{metric_name(args)} on {args.test} fixed test cases")
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
        "planes": args.planes, "seeds": args.seeds, "init": args.init, "model": args.model,
        "metric": metric_name(args), "level_epochs": args.level_epochs if args.model == "two-stage" else None,
        "informative": mean["informative"],
        "random": mean["random"], "informative_per_seed": curves["informative"], "random_per_seed": curves["random"],
        "label_savings": label_savings(labels, mean["informative"], mean["random"]), "png": str(png),
        "seconds": round(time.monotonic() - started, 1), "device": training_device(),
    }))


if __name__ == "__main__":
    main()

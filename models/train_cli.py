"""``sco classify``, ``sco train``, ``sco evaluate`` and ``sco models``.

``classify`` and ``models`` need only onnxruntime; ``train`` and detector ``evaluate`` need
the optional ``train`` extra (torch, ultralytics), imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError

TASKS = {"detector": "detect", "classifier": "classify"}
NAMES = {"detector": "item-detector", "classifier": "produce-classifier"}


def _tta(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(v for v in text.split(",") if v and v != "none")


# -- sco classify -------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace) -> int:
    from models.classify import DEFAULT_MODEL, ProduceClassifier, read_image

    clf = ProduceClassifier(args.model or DEFAULT_MODEL, threads=args.threads, tta=_tta(args.tta))
    failed = False
    for path in args.images:
        line: dict[str, Any] = {"path": path}
        try:
            top = clf.classify(read_image(path), top_k=args.top)
            line["top"] = [{"label": lab, "score": round(score, 4)} for lab, score in top]
        except KioskError as err:
            failed = True
            line["error"] = str(err)
        if args.json:
            print(json.dumps(line, ensure_ascii=False), flush=True)
        elif "error" in line:
            print(f"{path}: error: {line['error']}", flush=True)
        else:
            best = ", ".join(f"{t['label']} {t['score']:.2f}" for t in line["top"])
            print(f"{path}: {best}", flush=True)
    return 1 if failed else 0


# -- sco train ----------------------------------------------------------------------------


def _classifier_data(args: argparse.Namespace, out: Path) -> str:
    from models.classifier_data import DEFAULT_DATASET, build_image_folder

    if args.from_closed_loop:
        from models.closed_loop import classify_training_tree

        return str(classify_training_tree(args.from_closed_loop, out / "data"))
    data = Path(args.data or DEFAULT_DATASET)
    if (data / "classes.csv").is_file():  # the grocery dataset: symlink tree, rare classes x
        return str(build_image_folder(out / "data", data, balance_to=args.balance))
    return str(data)


def _detector_data(args: argparse.Namespace, out: Path) -> str:
    if args.from_closed_loop:
        from models.closed_loop import detect_data_yaml

        return str(detect_data_yaml(args.from_closed_loop, out / "data"))
    if not args.data:
        raise KioskError("sco train detector needs --data DATA.yaml (e.g. from sco render)")
    return str(args.data)


def cmd_train(args: argparse.Namespace) -> int:
    from models import train as T

    task = TASKS[args.what]
    out = Path(args.out).resolve()
    data = args.data or ""
    if not args.resume:
        out.parent.mkdir(parents=True, exist_ok=True)
        data = _classifier_data(args, out) if task == "classify" else _detector_data(args, out)
    imgsz = args.imgsz or (160 if task == "classify" else 320)
    spec = T.TrainSpec(
        task=task, data=data, out=str(out), model=args.model, epochs=args.epochs, imgsz=imgsz,
        batch=args.batch, seed=args.seed, workers=args.workers, threads=args.threads,
        resume=args.resume, overrides={"time": args.hours} if args.hours else {},
    )  # fmt: skip
    best, seconds = T.timed(T.train, spec)
    print(f"trained in {seconds / 60:.1f} min: {best}", flush=True)
    if args.no_export:
        return 0
    command = "sco " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    version = args.version or T.version_stamp()
    dest = Path(args.release or out / "release") / NAMES[args.what] / version
    releases = ship(
        args.what, best, data, imgsz=imgsz, dest=dest, version=version, command=command,
        train_seconds=seconds, int8=task == "detect", source=str(args.from_closed_loop or data),
    )  # fmt: skip
    if args.registry:
        from models.registry import ModelRegistry

        installed = ModelRegistry(args.registry).install([r.onnx for r in releases], version)
        print(f"installed {installed} (activate with: sco models activate "
              f"{NAMES[args.what]} {version})")  # fmt: skip
    return 0


TTA_CHOICES: tuple[tuple[str, ...], ...] = ((), ("flip",), ("flip", "full"))


def _calibration_frames(data_yaml: str, n: int = 32) -> list[Any]:
    """The first ``n`` images of the data set's val split (int8 calibration)."""
    import cv2
    import yaml

    cfg = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8"))
    root = Path(cfg.get("path") or Path(data_yaml).parent)
    val = root / cfg["val"]
    files = (
        [Path(line.strip()) for line in val.read_text().splitlines() if line.strip()]
        if val.is_file()
        else sorted(p for p in val.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    )
    return [im for im in (cv2.imread(str(f)) for f in files[:n]) if im is not None]


def _has_split(data_yaml: str, split: str) -> bool:
    import yaml

    return bool(yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8")).get(split))


def ship(
    what: str,
    weights: str | Path,
    data: str,
    *,
    imgsz: int,
    dest: Path,
    version: str,
    command: str,
    train_seconds: float | None = None,
    int8: bool = False,
    split: str = "",
    source: str = "",
    baseline: dict[str, float] | None = None,
    notes: str = "",
) -> list[Any]:
    """Export ``weights`` to ONNX in ``dest`` with measured cards (and the int8 variant)."""
    from models import train as T
    from models.evaluate import speed

    name, task = NAMES[what], TASKS[what]
    onnx = T.export_onnx(weights, imgsz)
    classes = T.class_names_of(weights)
    extra: dict[str, Any] = {"variant": "fp32", "channels": "rgb"}
    if train_seconds is not None:
        extra["train_minutes"] = round(train_seconds / 60, 1)
    common = dict(name=name, task=task, classes=classes, imgsz=imgsz, data=source or data,
                  command=command, version=version, notes=notes)  # fmt: skip
    if task == "detect":
        extra["head"] = "classic"
    else:
        extra.update(preprocess="resize short side, centre crop, RGB, /255", softmax=True)
    rel = T.release(onnx, dest, extra=extra, **common)  # a carded file to evaluate
    if task == "classify":
        split = split or "val"
        runs = {"+".join(v) or "none": E_classifier(rel.onnx, data, split, v) for v in TTA_CHOICES}
        best = max(runs, key=lambda k: (runs[k]["top1"], runs[k]["top3"]))
        extra["tta"] = runs[best]["tta"]
        metrics: dict[str, Any] = {k: runs[best][k] for k in ("top1", "top3", "top5", "n", "split")}
        metrics["by_tta"] = {
            k: {m: v[m] for m in ("top1", "top3", "top5")} for k, v in runs.items()
        }
        if baseline:
            metrics["baseline_hsv_knn"] = baseline
    else:
        split = split or ("test" if _has_split(data, "test") else "val")
        metrics = _evaluate(what, rel.onnx, data, split)
    out = [T.release(rel.onnx, dest, extra=extra, metrics=metrics, speed=speed(rel.onnx),
                     **common)]  # fmt: skip
    print(json.dumps({"model": str(out[0].onnx), "metrics": metrics}), flush=True)
    if int8 and task == "detect":
        from models.quantize import quantize_detector

        q = quantize_detector(rel.onnx, dest / f"{name}-int8.tmp.onnx", _calibration_frames(data))
        extra8 = {**extra, "variant": "int8", "quantisation": "onnxruntime quantize_static QDQ, "
                  "per-channel int8 weights, uint8 activations, MinMax on 32 val frames, "
                  "detect-head decode kept in float"}  # fmt: skip
        r8 = T.release(q, dest, extra=extra8, stem=f"{name}-int8", **common)
        q.unlink(missing_ok=True)
        m8 = _evaluate(what, r8.onnx, data, split)
        out.append(T.release(r8.onnx, dest, extra=extra8, metrics=m8, speed=speed(r8.onnx),
                             stem=f"{name}-int8", **common))  # fmt: skip
        print(json.dumps({"model": str(r8.onnx), "metrics": m8}), flush=True)
    return out


def E_classifier(model: Path, data: str, split: str, tta: tuple[str, ...]) -> dict[str, Any]:
    from models.evaluate import evaluate_classifier

    return evaluate_classifier(model, data, split=split, tta=tta)


def cmd_export(args: argparse.Namespace) -> int:
    from models import train as T

    baseline = None
    if args.baseline and args.what == "classifier":
        from models.baseline import grocery_baseline

        baseline = grocery_baseline(args.baseline)
    ship(
        args.what, args.weights, args.data, imgsz=args.imgsz, dest=Path(args.out),
        version=args.version or T.version_stamp(), split=args.split, int8=args.int8,
        command=args.command or "sco " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        train_seconds=args.train_minutes * 60 if args.train_minutes else None,
        source=args.source, baseline=baseline, notes=args.notes,
    )  # fmt: skip
    return 0


def _evaluate(what: str, model: Path, data: str, split: str, tta: Any = None) -> dict[str, Any]:
    from models import evaluate as E

    if what == "classifier":
        return E.evaluate_classifier(model, data, split=split, tta=tta)
    return E.evaluate_detector(model, data, split=split)


def cmd_evaluate(args: argparse.Namespace) -> int:
    metrics = _evaluate(args.what, Path(args.model), args.data, args.split, _tta(args.tta))
    if args.speed:
        from models.evaluate import speed

        metrics["speed"] = speed(args.model)
    if args.json:
        print(json.dumps(metrics))
        return 0
    for key, value in metrics.items():
        if key == "per_class":
            for name, m in value.items():
                print(f"  {name:12s} mAP50 {m['mAP50']:.3f}  mAP50-95 {m['mAP50-95']:.3f}")
        else:
            print(f"{key}: {value}")
    return 0


# -- sco models ---------------------------------------------------------------------------


def _registry(args: argparse.Namespace) -> Any:
    from models.registry import ModelRegistry, models_dir_from

    if args.dir:
        return ModelRegistry(args.dir)
    from kiosk.config import load_config

    return ModelRegistry(models_dir_from(load_config(args.config)))


def cmd_models(args: argparse.Namespace) -> int:
    reg = _registry(args)
    if args.action == "list":
        for mv in reg.list():
            mark = "*" if mv.active else " "
            print(f"{mark} {mv.name:20s} {mv.version:24s} {mv.card.version:20s} {mv.path}")
    elif args.action == "activate":
        reg.activate(args.name, args.version)
        print(f"{args.name}: {args.version} active")
    elif args.action == "rollback":
        print(f"{args.name}: {reg.rollback(args.name)} active")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's commands to ``sco``."""
    p = sub.add_parser("classify", help="name the produce in photos (top-k labels)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON line per image")
    p.add_argument("--top", type=int, default=5, metavar="K")
    p.add_argument("--model", default="", help="classifier .onnx (card beside it)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tta", default=None, help='views to average: "flip,full", "none"')
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("train", help="train the detector or the produce classifier")
    p.add_argument("what", choices=sorted(TASKS))
    p.add_argument("--data", default="", help="detector: data.yaml; classifier: dataset root")
    p.add_argument("--from-closed-loop", default="", metavar="DIR",
                   help="retrain from crops the lane saved (closed loop)")  # fmt: skip
    p.add_argument("--model", default="", help="ultralytics yaml or .pt to start from")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--imgsz", type=int, default=0, help="0: 160 classifier, 320 detector")
    p.add_argument("--hours", type=float, default=0.0,
                   help="time budget: epochs and the LR schedule are fitted to it")  # fmt: skip
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--balance", type=int, default=30,
                   help="classifier: repeat rare classes up to this many photos")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--out", default="runs/train", metavar="RUN_DIR")
    p.add_argument("--version", default="", help="release version (default: a UTC stamp)")
    p.add_argument("--release", default="", help="release folder (default RUN_DIR/release)")
    p.add_argument("--registry", default="", help="also install the release into this dir")
    p.add_argument("--no-export", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="ONNX + measured model cards from a trained run")
    p.add_argument("what", choices=sorted(TASKS))
    p.add_argument("--weights", required=True, help="the run's weights/best.pt")
    p.add_argument("--data", required=True, help="detector: data.yaml; classifier: ImageFolder")
    p.add_argument("--imgsz", type=int, required=True)
    p.add_argument("--out", required=True, help="folder for the .onnx files and cards")
    p.add_argument("--split", default="", help="metrics split (default test, else val)")
    p.add_argument("--int8", action="store_true", help="detector: also the int8 variant")
    p.add_argument("--version", default="")
    p.add_argument("--source", default="", help="what the data was, for the card")
    p.add_argument("--command", default="", help="the training command, for the card")
    p.add_argument("--train-minutes", type=float, default=0.0)
    p.add_argument("--baseline", default="", help="classifier: grocery dataset for the kNN")
    p.add_argument("--notes", default="", help="extra Markdown for the card")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("evaluate", help="metrics of an exported model")
    p.add_argument("what", choices=sorted(TASKS))
    p.add_argument("--model", required=True, help=".onnx with its card")
    p.add_argument("--data", required=True, help="detector: data.yaml; classifier: dataset")
    p.add_argument("--split", default="", help="default: test (detector), val (classifier)")
    p.add_argument("--tta", default=None, help='classifier views: "flip,full", "none"')
    p.add_argument("--speed", action="store_true", help="also time it (1 and 2 threads)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_evaluate_entry)

    p = sub.add_parser("models", help="versioned models: list, activate, roll back")
    p.add_argument("action", choices=("list", "activate", "rollback"))
    p.add_argument("name", nargs="?", default="")
    p.add_argument("version", nargs="?", default="")
    p.add_argument("--dir", default="", help="models folder (default from --config)")
    p.add_argument("--config", default=None, help="kiosk TOML config")
    p.set_defaults(func=_models_entry)


def _evaluate_entry(args: argparse.Namespace) -> int:
    args.split = args.split or ("test" if args.what == "detector" else "val")
    return cmd_evaluate(args)


def _models_entry(args: argparse.Namespace) -> int:
    if args.action != "list" and not args.name:
        raise KioskError(f"sco models {args.action} needs a model NAME")
    if args.action == "activate" and not args.version:
        raise KioskError("sco models activate needs NAME VERSION")
    return cmd_models(args)

"""Training with ultralytics (the optional ``train`` extra): classifier and detector runs.

torch and ultralytics are imported inside the functions only: the kiosk runs with onnxruntime
and never imports this module's heavy dependencies. Runs are deterministic (fixed seed,
``deterministic=True``), resumable (``last.pt``), leave ``results.csv`` plus a curves plot in
the run folder, and end in an ONNX export with its model card in a versioned folder.
"""

from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from models.cards import ModelCard, file_sha256, save_card

ONNX_OPSET = 17  # onnxruntime 1.17+ runs it; the kiosk's minimum


class TrainingError(KioskError):
    """Training cannot start or finish (missing extra, bad data, failed export)."""


@dataclass(frozen=True)
class TrainSpec:
    task: str  # "classify" | "detect"
    data: str  # classify: ImageFolder root; detect: data.yaml
    out: str  # run folder (ultralytics project/name)
    model: str = ""  # yaml (from scratch) or .pt; "" = the task's default
    epochs: int = 50
    imgsz: int = 160
    batch: int = 32
    seed: int = 0
    workers: int = 0
    threads: int = 1
    resume: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)


# Strong augmentation for a from-scratch classifier on 2.6k photos; hue stays small because
# colour is what tells a Granny-Smith from a Pink-Lady.
CLASSIFY_DEFAULTS: dict[str, Any] = {
    "optimizer": "AdamW",
    "lr0": 0.002,
    "lrf": 0.01,
    "cos_lr": True,
    "warmup_epochs": 3,
    "weight_decay": 0.0005,
    "auto_augment": "randaugment",
    "erasing": 0.4,
    "hsv_h": 0.01,
    "hsv_s": 0.5,
    "hsv_v": 0.4,
    "fliplr": 0.5,
    "flipud": 0.5,
    "scale": 0.5,
    "dropout": 0.2,
    "patience": 100000,  # early stopping off: cosine schedule runs to the end
    "cache": "ram",
}

DETECT_DEFAULTS: dict[str, Any] = {
    "optimizer": "AdamW",
    "lr0": 0.002,
    "lrf": 0.05,
    "cos_lr": True,
    "warmup_epochs": 2,
    "mosaic": 1.0,
    "close_mosaic": 2,
    "fliplr": 0.5,
    "flipud": 0.5,
    "degrees": 10.0,
    "scale": 0.4,
    "hsv_h": 0.015,
    "hsv_s": 0.6,
    "hsv_v": 0.4,
    "patience": 100000,
    "cache": "ram",
}

DEFAULT_MODEL = {"classify": "yolo11n-cls.yaml", "detect": "yolo11n.yaml"}


def _ultralytics() -> Any:
    try:
        import torch
        from ultralytics import YOLO
    except ImportError as err:  # the optional extra
        raise TrainingError(
            f"training needs the train extra (pip install 'opensco[train]'): {err}"
        ) from None
    return torch, YOLO


def run_dir(spec: TrainSpec) -> Path:
    return Path(spec.out).resolve()


def train(spec: TrainSpec) -> Path:
    """Train (or resume) one run; return its ``weights/best.pt``."""
    torch, YOLO = _ultralytics()
    torch.set_num_threads(max(1, spec.threads))  # leave cores to the lane / other jobs
    out = run_dir(spec)
    last = out / "weights" / "last.pt"
    if spec.resume:
        if not last.is_file():
            raise TrainingError(f"{last}: nothing to resume")
        YOLO(str(last)).train(resume=True, workers=spec.workers)
    else:
        if spec.task not in DEFAULT_MODEL:
            raise TrainingError(f"unknown task {spec.task!r}")
        defaults = CLASSIFY_DEFAULTS if spec.task == "classify" else DETECT_DEFAULTS
        args = {
            **defaults,
            **spec.overrides,
            "data": spec.data,
            "epochs": spec.epochs,
            "imgsz": spec.imgsz,
            "batch": spec.batch,
            "seed": spec.seed,
            "deterministic": True,
            "workers": spec.workers,
            # Nothing is downloaded: a yaml starts from scratch; our own .pt (an earlier
            # run of ours) is fine-tuned from its weights.
            "pretrained": str(spec.model).endswith(".pt"),
            "device": "cpu",
            "amp": False,
            "project": str(out.parent),
            "name": out.name,
            "exist_ok": True,
            "plots": True,
        }
        YOLO(spec.model or DEFAULT_MODEL[spec.task]).train(**args)
    plot_curves(out)
    best = out / "weights" / "best.pt"
    if not best.is_file():
        raise TrainingError(f"{best}: training finished without weights")
    return best


def plot_curves(run: Path) -> Path | None:
    """``curves.png`` from ``results.csv`` (ultralytics' own ``results.png`` may be absent)."""
    results = run / "results.csv"
    if not results.is_file():
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    with open(results, newline="") as fh:
        rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(fh)]
    if not rows:
        return None
    cols = [c for c in rows[0] if c not in ("epoch", "time") and not c.startswith("lr/")]
    epochs = [float(r["epoch"]) for r in rows]
    n = len(cols)
    fig, axes = plt.subplots((n + 3) // 4, 4, figsize=(16, 3.2 * ((n + 3) // 4)), squeeze=False)
    for ax, col in zip(axes.flat, cols, strict=False):
        ax.plot(epochs, [float(r[col] or "nan") for r in rows], marker=".")
        ax.set_title(col, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    path = run / "curves.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def export_onnx(weights: str | Path, imgsz: int, *, opset: int = ONNX_OPSET) -> Path:
    """Export ``weights`` (.pt) to ONNX with a fixed batch of 1 and a fixed input size."""
    _, YOLO = _ultralytics()
    model = YOLO(str(weights))
    path = model.export(format="onnx", imgsz=imgsz, opset=opset, simplify=True, dynamic=False)
    return Path(path)


def class_names_of(weights: str | Path) -> list[str]:
    _, YOLO = _ultralytics()
    names = YOLO(str(weights)).names
    return [names[i] for i in sorted(names)]


def version_stamp() -> str:
    return datetime.now(UTC).strftime("%Y.%m.%d-%H%M%S")


@dataclass(frozen=True)
class Release:
    onnx: Path
    card: Path


def release(
    onnx_path: str | Path,
    dest_dir: str | Path,
    *,
    name: str,
    task: str,
    classes: list[str],
    imgsz: int,
    data: str,
    command: str,
    version: str = "",
    metrics: dict[str, Any] | None = None,
    speed: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    notes: str = "",
    stem: str = "",
) -> Release:
    """Copy a model to ``dest_dir/<stem or name>.onnx`` and write its card (JSON, Markdown)."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{stem or name}.onnx"
    if Path(onnx_path).resolve() != target.resolve():
        tmp = target.with_suffix(".onnx.tmp")
        shutil.copyfile(onnx_path, tmp)
        tmp.replace(target)
    card = ModelCard(
        name=name,
        task=task,
        version=version or version_stamp(),
        classes=tuple(classes),
        input_size=(imgsz, imgsz),
        onnx=target.name,
        sha256=file_sha256(target),
        data=data,
        command=command,
        metrics=dict(metrics or {}),
        speed=dict(speed or {}),
        extra=dict(extra or {}),
    )
    return Release(target, save_card(card, dest, card_markdown(card, notes)))


def card_markdown(card: ModelCard, notes: str = "") -> str:
    """The people-readable twin of a card."""
    lines = [
        f"# {card.name} {card.version}",
        "",
        f"- Task: {card.task}; input {card.input_size[0]}x{card.input_size[1]} RGB",
        f"- File: `{card.onnx}` (sha256 `{card.sha256}`)",
        f"- Licence: {card.licence} (trained with Ultralytics, AGPL-3.0)",
        f"- Data: {card.data}",
        "- Command:",
        "",
        "```",
        card.command,
        "```",
        "",
        f"## Classes ({len(card.classes)})",
        "",
        ", ".join(card.classes),
        "",
    ]
    if card.metrics:
        lines += ["## Metrics", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in card.metrics.items()]
        lines.append("")
    if card.speed:
        lines += ["## Speed (onnxruntime, CPU)", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in card.speed.items()]
        lines.append("")
    if card.extra:
        lines += ["## Notes", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in card.extra.items()]
        lines.append("")
    if notes:
        lines += [notes, ""]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def with_overrides(spec: TrainSpec, **kw: Any) -> TrainSpec:
    return replace(spec, overrides={**spec.overrides, **kw})


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0

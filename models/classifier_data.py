"""The Grocery Store dataset (Klasson et al., MIT) as an ImageFolder tree for training.

The photos stay where they are (they are never copied into the repo): the tree under the run
folder holds symlinks ``train/<Class Name>/<file>`` and ``val/<Class Name>/<file>``. Rare
classes get extra links in ``train`` (``dupN-<file>``) so that every class is seen about as
often as the common ones: a cheap class-balanced sampler that needs no trainer change.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import KioskError

DEFAULT_DATASET = Path("/work/shared/data/grocery-store/dataset")
CLASS_COLUMN = "Class Name (str)"
ID_COLUMN = "Class ID (int)"


class DatasetError(KioskError):
    """The grocery dataset is missing or malformed."""


@dataclass(frozen=True)
class Sample:
    path: Path  # absolute
    label: str


def class_names(dataset: str | Path = DEFAULT_DATASET) -> list[str]:
    """The 81 fine class names in class-id order, exactly as ``classes.csv`` spells them."""
    path = Path(dataset) / "classes.csv"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise DatasetError(f"{path}: cannot read class list ({err})") from None
    try:
        pairs = sorted((int(r[ID_COLUMN]), r[CLASS_COLUMN].strip()) for r in rows)
    except (KeyError, ValueError) as err:
        raise DatasetError(f"{path}: malformed class list ({err!r})") from None
    names = [name for _, name in pairs]
    if [i for i, _ in pairs] != list(range(len(names))):
        raise DatasetError(f"{path}: class ids are not 0..N-1")
    return names


def read_split(dataset: str | Path, split: str) -> list[Sample]:
    """Samples of ``train`` or ``val`` (``<split>.txt``: ``path, fine_id, coarse_id``)."""
    root = Path(dataset)
    names = class_names(root)
    out: list[Sample] = []
    list_path = root / f"{split}.txt"
    try:
        lines = list_path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DatasetError(f"{list_path}: cannot read split ({err})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            out.append(Sample(root / parts[0], names[int(parts[1])]))
        except (IndexError, ValueError) as err:
            raise DatasetError(f"{list_path}:{n}: bad line {line!r} ({err!r})") from None
    return out


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    os.symlink(src, dst)


def build_image_folder(
    out_dir: str | Path,
    dataset: str | Path = DEFAULT_DATASET,
    *,
    balance_to: int = 0,
) -> Path:
    """Build ``out_dir/{train,val}/<Class Name>/`` symlink trees; return ``out_dir``.

    ``balance_to``: repeat the links of any train class with fewer images up to about this
    many (0: no balancing). Every class gets a folder in both splits (empty when the split has
    none) so the trainer's class index is the same 81 names in both.
    """
    out = Path(out_dir)
    names = class_names(dataset)
    for split in ("train", "val"):
        by_class: dict[str, list[Sample]] = defaultdict(list)
        for sample in read_split(dataset, split):
            by_class[sample.label].append(sample)
        for name in names:
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            samples = by_class.get(name, [])
            for s in samples:
                _link(s.path, folder / s.path.name)
            if split == "train" and balance_to and samples:
                extra = max(0, balance_to - len(samples))
                for i in range(extra):
                    s = samples[i % len(samples)]
                    _link(s.path, folder / f"dup{i // len(samples) + 1}-{s.path.name}")
    return out


if __name__ == "__main__":  # pragma: no cover - a convenience for the trainer
    import sys

    print(build_image_folder(sys.argv[1], balance_to=int(sys.argv[2]) if len(sys.argv) > 2 else 0))

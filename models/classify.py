"""Produce recogniser at run time: an ultralytics classification export run with onnxruntime.

Preprocessing matches ultralytics' ``classify_transforms`` (the export's training-time
eval transform): resize the short side to the input size, centre-crop, RGB, scale to 0..1, no
mean/std. The exported graph already ends in a softmax, so its output is probabilities.

Test-time augmentation (``tta``) averages the probabilities of a few views of the same photo:
``"flip"`` adds the mirrored centre crop, ``"full"`` adds the whole image squashed to the
input (the centre crop cuts off produce lying near an edge).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from kiosk.errors import KioskError
from models.cards import MODELS_DIR, ModelCard, load_card

DEFAULT_MODEL = MODELS_DIR / "produce-classifier.onnx"
TTA_VIEWS = ("flip", "full")


class ClassifierError(KioskError):
    """The classifier model cannot be loaded or an image cannot be classified."""


def _resize_short(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (nw, nh), interpolation=interp)


def _centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


def views(image: np.ndarray, size: int, tta: Sequence[str] = ()) -> np.ndarray:
    """The model inputs for one BGR image: ``(V, 3, size, size)`` float32 RGB in 0..1."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ClassifierError(f"expected a BGR image, got shape {image.shape}")
    if image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if min(image.shape[:2]) < 1:
        raise ClassifierError("empty image")
    centre = _centre_crop(_resize_short(image, size), size)
    out = [centre]
    if "flip" in tta:
        out.append(centre[:, ::-1])
    if "full" in tta:
        interp = cv2.INTER_AREA if min(image.shape[:2]) > size else cv2.INTER_LINEAR
        out.append(cv2.resize(image, (size, size), interpolation=interp))
    batch = np.stack([v[:, :, ::-1] for v in out]).astype(np.float32) / 255.0  # BGR -> RGB
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


class ProduceClassifier:
    """Top-k produce labels for a BGR image, from a carded ONNX classifier."""

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        *,
        threads: int = 1,
        tta: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        self.card: ModelCard = load_card(model_path)
        onnx_file = Path(model_path).parent / self.card.onnx  # a .json or .onnx path was given
        if self.card.task != "classify":
            raise ClassifierError(f"{model_path}: a {self.card.task} model, not a classifier")
        self.tta = tuple(self.card.extra.get("tta", ()) if tta is None else tta)
        unknown = set(self.tta) - set(TTA_VIEWS)
        if unknown:
            raise ClassifierError(f"unknown tta views {sorted(unknown)}; known: {TTA_VIEWS}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(onnx_file),
                sess_options=opts,
                providers=["CPUExecutionProvider"],
            )
        except Exception as err:  # onnxruntime raises its own bare exception types
            raise ClassifierError(f"{model_path}: cannot load ({err})") from None
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        self._batch_fixed = isinstance(inp.shape[0], int)
        self.size = self.card.input_size[0]
        self.labels = self.card.classes

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (averaged over the TTA views), shape ``(num_classes,)``."""
        batch = views(image, self.size, self.tta)
        if self._batch_fixed:  # a fixed batch of 1: one run per view
            outs = [self._session.run(None, {self._input: b[None]})[0][0] for b in batch]
            probs = np.mean(outs, axis=0)
        else:
            probs = self._session.run(None, {self._input: batch})[0].mean(axis=0)
        if probs.shape[0] != len(self.labels):
            raise ClassifierError(
                f"model gives {probs.shape[0]} scores but its card names {len(self.labels)}"
            )
        return probs.astype(np.float64)

    def classify(self, image: np.ndarray, top_k: int = 5) -> list[tuple[str, float]]:
        """The ``top_k`` most likely labels with their probabilities, best first."""
        probs = self.probabilities(image)
        order = np.argsort(-probs, kind="stable")[: max(1, top_k)]
        return [(self.labels[i], float(probs[i])) for i in order]

    def classify_path(self, path: str | Path, top_k: int = 5) -> list[tuple[str, float]]:
        image = read_image(path)
        return self.classify(image, top_k)


def read_image(path: str | Path) -> np.ndarray:
    """A BGR image from disk (any path, including non-ASCII), or ClassifierError."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise ClassifierError(f"{path}: cannot read ({err.strerror or err})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ClassifierError(f"{path}: not a readable image")
    return image


def top_k_accuracy(
    classifier: ProduceClassifier,
    samples: Sequence[tuple[Path, str]],
    ks: Sequence[int] = (1, 3, 5),
) -> dict[str, float]:
    """Top-k accuracies over ``(path, label)`` samples."""
    hits = dict.fromkeys(ks, 0)
    for path, label in samples:
        top = [lab for lab, _ in classifier.classify_path(path, top_k=max(ks))]
        for k in ks:
            hits[k] += label in top[:k]
    n = max(1, len(samples))
    return {f"top{k}": hits[k] / n for k in ks}

"""YOLO-family ONNX detector on onnxruntime: letterbox a region, run, decode, NMS, map back.

The model and what it means come from its file and its card (``models/cards.py``): class
names, input size and sha256. A model without a card, or whose bytes do not match it, is
refused, and so is one whose input or output shapes disagree with the card, at load time
rather than on the first frame of a customer's scan.

Two output heads are understood:
- classic ``(1, 4 + nc, N)``: cx, cy, w, h then per-class scores; needs NMS (done here with
  ``cv2.dnn.NMSBoxesBatched``, per class);
- end-to-end ``(1, N, 6)``: x1, y1, x2, y2, score, class (YOLO26, YOLOv10): NMS-free.

Boxes come back in FULL-FRAME pixel coordinates whatever region was run, so the tracker and
zones never see crop coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]

from kiosk.errors import KioskError
from models.cards import ModelCard, ModelCardError, file_sha256, load_card
from vision.types import BGRImage, Box, Detections

PAD_GREY = 114  # the letterbox grey YOLO models were trained with
_OPT_LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}
_SCORE_SLACK = 1e-3  # float rounding in a sigmoid may give 1.0000001


class DetectorError(KioskError):
    """The detector model cannot be loaded or produced an output we cannot trust."""


@dataclass(frozen=True)
class Letterbox:
    """How a region of the frame was placed in the model input:
    model = (frame - off) * scale + pad, per axis (rounding makes the two scales differ)."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    off_x: float
    off_y: float
    crop_w: float = 0.0  # the crop's size in frame pixels
    crop_h: float = 0.0

    @property
    def crop(self) -> tuple[float, float, float, float]:
        return self.off_x, self.off_y, self.off_x + self.crop_w, self.off_y + self.crop_h

    def to_frame(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, [0, 2]] = (xyxy[:, [0, 2]] - self.pad_x) / self.scale_x + self.off_x
        out[:, [1, 3]] = (xyxy[:, [1, 3]] - self.pad_y) / self.scale_y + self.off_y
        return out


def _nms(
    xywh: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    cids: npt.NDArray[np.int64],
    conf: float,
    iou: float,
) -> npt.NDArray[np.int64]:
    """Per-class NMS; OpenCV takes numpy arrays (its stubs say sequences): no list copies."""
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.astype(np.float32),  # type: ignore[arg-type]
        scores.astype(np.float32),  # type: ignore[arg-type]
        cids.astype(np.int32),  # type: ignore[arg-type]
        conf,
        iou,
    )
    return np.asarray(keep, np.int64).reshape(-1)


def find_model(directory: str | Path, name: str, variant: str = "fp32") -> Path:
    """The one ``.onnx`` in ``directory`` whose card has this name and ``extra.variant``
    (cards without one count as fp32): how a kiosk picks its int8 model by configuration.
    ``models.registry`` does the same across installed versions."""
    found = []
    for card_file in sorted(Path(directory).glob("*.json")):
        try:
            card = load_card(card_file, verify=False)
        except ModelCardError:
            continue  # not a model card (zones, config)
        if card.name == name and str(card.extra.get("variant", "fp32")) == variant:
            found.append(card_file.parent / card.onnx)
    if len(found) != 1:
        what = "no" if not found else str(len(found))
        raise DetectorError(f"{directory}: {what} model cards named {name!r}, variant {variant!r}")
    return found[0]


class YoloOnnxDetector:
    """One ONNX detector session. Not thread-safe (it reuses one letterbox canvas): give each
    thread its own. An int8 model is just another ``.onnx`` with its own card
    (``extra.variant: int8``); ``find_model`` or ``models.registry`` picks it by variant."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        card: ModelCard | None = None,
        threads: int = 1,
        conf: float = 0.25,
        iou: float = 0.45,
        optimisation: str = "all",
        max_det: int = 100,
        max_candidates: int = 1000,
    ) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise DetectorError(f"{model_path}: model file not found")
        if card is None:
            card = load_card(model_path)  # checks the sha256 itself
        elif file_sha256(model_path) != card.sha256:
            raise ModelCardError(f"{model_path}: sha256 does not match its card")
        if card.task != "detect":
            raise DetectorError(f"{model_path}: card task is {card.task!r}, not 'detect'")
        if optimisation not in _OPT_LEVELS:
            raise DetectorError(f"optimisation must be one of {sorted(_OPT_LEVELS)}")
        if not (0.0 <= conf <= 1.0 and 0.0 < iou <= 1.0 and threads >= 0):
            raise DetectorError(f"bad detector options conf={conf} iou={iou} threads={threads}")
        self.card = card
        self.class_names = card.classes
        self.input_h, self.input_w = card.input_size
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.max_candidates = max_candidates
        self.variant = str(card.extra.get("variant", "fp32"))
        self._bgr = str(card.extra.get("channels", "rgb")).lower() == "bgr"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = _OPT_LEVELS[optimisation]
        try:
            self.session = ort.InferenceSession(
                str(model_path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception zoo
            raise DetectorError(f"{model_path}: onnxruntime cannot load it ({err})") from err
        self._input_name = self.session.get_inputs()[0].name
        self.head = self._check_shapes(model_path)
        self._canvas = np.full((self.input_h, self.input_w, 3), PAD_GREY, np.uint8)

    # -- loading ------------------------------------------------------------------------

    def _check_shapes(self, model_path: Path) -> str:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise DetectorError(f"{model_path}: expected one input, found {len(inputs)}")
        shape = inputs[0].shape
        want = [1, 3, self.input_h, self.input_w]
        if len(shape) != 4 or any(
            isinstance(d, int) and d != w for d, w in zip(shape, want, strict=True)
        ):
            raise DetectorError(
                f"{model_path}: input shape {shape} does not match the card's {want}"
            )
        nc = len(self.class_names)
        out = outputs[0].shape
        if len(out) != 3:
            raise DetectorError(f"{model_path}: output must be 3-D, found {out}")
        declared = str(self.card.extra.get("head", ""))
        fits_classic = not isinstance(out[1], int) or out[1] == 4 + nc
        fits_e2e = not isinstance(out[2], int) or out[2] == 6
        if declared in ("classic", "end2end"):
            if (declared == "classic" and not fits_classic) or (
                declared == "end2end" and not fits_e2e
            ):
                raise DetectorError(
                    f"{model_path}: output shape {out} is not a {declared} head for {nc} classes"
                )
            return declared
        if fits_classic and not fits_e2e:
            return "classic"
        if fits_e2e and not fits_classic:
            return "end2end"
        if fits_classic and fits_e2e:
            raise DetectorError(
                f"{model_path}: output shape {out} could be either head; set extra.head "
                "to 'classic' or 'end2end' in the card"
            )
        raise DetectorError(
            f"{model_path}: output shape {out} matches neither (1, 4+{nc}, N) nor (1, N, 6) "
            f"for the card's {nc} classes"
        )

    # -- running ------------------------------------------------------------------------

    def preprocess(
        self, image: BGRImage, region: Box | None = None
    ) -> tuple[npt.NDArray[np.float32], Letterbox]:
        """The model tensor for ``region`` of ``image`` (whole frame when None), letterboxed
        with grey padding and scaled to fit (up or down), and how to map boxes back."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DetectorError(f"expected an H x W x 3 uint8 BGR image, got {image.shape}")
        fh, fw = image.shape[:2]
        if region is None:
            x1, y1, x2, y2 = 0, 0, fw, fh
        else:
            x1, y1, x2, y2 = region.clipped(fw, fh).as_int()
        if x2 - x1 < 1 or y2 - y1 < 1:
            raise DetectorError(f"region {region} lies outside the {fw}x{fh} frame")
        crop = image[y1:y2, x1:x2]
        h, w = crop.shape[:2]
        scale = min(self.input_h / h, self.input_w / w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        px, py = (self.input_w - nw) // 2, (self.input_h - nh) // 2
        canvas = self._canvas
        canvas[:] = PAD_GREY
        canvas[py : py + nh, px : px + nw] = cv2.resize(
            crop, (nw, nh), interpolation=cv2.INTER_LINEAR
        )
        tensor = np.asarray(
            cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=not self._bgr), np.float32
        )  # already float32: no copy
        # the true per-axis scales after rounding, so back-mapping lands on the pixel
        return tensor, Letterbox(nw / w, nh / h, px, py, x1, y1, w, h)

    def infer(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The bare session run (the benchmark's baseline for pipeline overhead)."""
        return self.session.run(None, {self._input_name: tensor})[0]  # type: ignore[no-any-return]

    def detect(self, image: BGRImage, region: Box | None = None) -> Detections:
        tensor, lb = self.preprocess(image, region)
        try:
            raw = self.infer(tensor)
        except Exception as err:
            raise DetectorError(f"inference failed: {err}") from err
        xyxy, scores, cids = self.decode(raw)
        if len(scores):
            xyxy = lb.to_frame(xyxy)
            # clip to the crop, not the frame: past its edge the model saw only padding
            x1, y1, x2, y2 = lb.crop
            xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], x1, x2)
            xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], y1, y2)
            keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
            xyxy, scores, cids = xyxy[keep], scores[keep], cids[keep]
        try:
            return Detections(
                xyxy.astype(np.float32), scores.astype(np.float32), cids, self.class_names
            )
        except ValueError as err:
            raise DetectorError(f"model output failed validation: {err}") from err

    def decode(
        self, raw: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Model-input xyxy, scores and class ids above ``conf`` after NMS (classic head)."""
        nc = len(self.class_names)
        raw = np.asarray(raw)
        if raw.ndim != 3 or raw.shape[0] != 1:
            raise DetectorError(f"model output shape {raw.shape}: expected (1, ., .)")
        if self.head == "classic":
            if raw.shape[1] != 4 + nc:
                raise DetectorError(
                    f"model output shape {raw.shape}: expected (1, {4 + nc}, N) for {nc} classes"
                )
            pred = raw[0].T  # N x (4 + nc)
        else:
            if raw.shape[2] != 6:
                raise DetectorError(f"model output shape {raw.shape}: expected (1, N, 6)")
            pred = raw[0]
        if self.head == "classic":
            cls_scores = pred[:, 4:]
            cids = cls_scores.argmax(axis=1)
            scores = cls_scores[np.arange(len(pred)), cids]
        else:
            scores = pred[:, 4]
            cids = np.rint(pred[:, 5]).astype(np.int64)
        # NaN wins argmax and fails every comparison: check here, before the conf filter
        # would drop it silently (boxes are checked once they are candidates)
        if not np.isfinite(scores).all():
            raise DetectorError("model output holds NaN or infinity in its scores")
        if len(scores) and (scores.min() < -_SCORE_SLACK or scores.max() > 1 + _SCORE_SLACK):
            raise DetectorError(
                f"model scores span [{scores.min():.3g}, {scores.max():.3g}], not [0, 1]: "
                "an export without the final sigmoid?"
            )
        mask = scores >= self.conf
        pred, scores, cids = pred[mask], np.clip(scores[mask], 0, 1), cids[mask]
        if len(scores) > self.max_candidates:  # NMS is quadratic: bound the worst frame
            top = np.argpartition(-scores, self.max_candidates)[: self.max_candidates]
            pred, scores, cids = pred[top], scores[top], cids[top]
        if not np.isfinite(pred[:, :4]).all():
            raise DetectorError("model output holds NaN or infinity in its boxes")
        if self.head == "classic":
            cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
            xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        else:
            xyxy = pred[:, :4].copy()
            if len(cids) and (cids.min() < 0 or cids.max() >= nc):
                raise DetectorError(f"model class id outside 0..{nc - 1}")
        if np.any(xyxy[:, 2:] < xyxy[:, :2]):
            raise DetectorError("model output has boxes with corners out of order")
        if self.head == "classic" and len(scores) > 1:
            xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
            keep = _nms(xywh, scores, cids, self.conf, self.iou)
            keep = keep[np.argsort(-scores[keep], kind="stable")]
        else:
            keep = np.argsort(-scores, kind="stable")
        keep = keep[: self.max_det]
        return (
            xyxy[keep].astype(np.float32),
            scores[keep].astype(np.float32),
            cids[keep].astype(np.int64),
        )


def merge_detections(
    parts: Sequence[Detections],
    regions: Sequence[Box] | None = None,
    frame_size: tuple[int, int] | None = None,
    *,
    iou: float = 0.45,
    edge_cap: float = 0.6,
    max_det: int = 100,
) -> Detections:
    """Detections from several regions of ONE frame as one set: per-class NMS over all of
    them, so an item seen by two overlapping regions is one detection (Frigate's
    ``reduce_detections``). With ``regions`` and ``frame_size``, a box touching a region edge
    that is not a frame edge (the item was cut) ranks as if it scored at most ``edge_cap``,
    so the fuller view of the item wins; reported scores are left as the model gave them."""
    if regions is not None and len(regions) != len(parts):
        raise DetectorError(f"{len(parts)} sets of detections but {len(regions)} regions")
    pairs = [(p, None if regions is None else regions[i]) for i, p in enumerate(parts)]
    pairs = [(p, r) for p, r in pairs if len(p)]
    if not pairs:
        return parts[0] if parts else Detections.empty(())
    parts = [p for p, _ in pairs]
    names = parts[0].class_names
    if any(p.class_names != names for p in parts):
        raise DetectorError("cannot merge detections from models with different classes")
    xyxy = np.concatenate([p.xyxy for p in parts]).astype(np.float32)
    scores = np.concatenate([p.scores for p in parts]).astype(np.float32)
    cids = np.concatenate([p.class_ids for p in parts]).astype(np.int64)
    rank = scores.copy()
    if regions is not None and frame_size is not None:
        fw, fh = frame_size
        start = 0
        for p, r in pairs:
            assert r is not None
            b = xyxy[start : start + len(p)]
            cut = np.zeros(len(p), bool)
            for axis, lo, hi, size in ((0, r.x1, r.x2, fw), (1, r.y1, r.y2, fh)):
                if lo > 1:
                    cut |= b[:, axis] <= lo + 1
                if hi < size - 1:
                    cut |= b[:, axis + 2] >= hi - 1
            part = rank[start : start + len(p)]  # a view: writes land in rank
            part[cut] = np.minimum(part[cut], edge_cap)
            start += len(p)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    keep = _nms(xywh, rank, cids, 0.0, iou)
    keep = keep[np.argsort(-scores[keep], kind="stable")][:max_det]
    return Detections(xyxy[keep], scores[keep], cids[keep], names)

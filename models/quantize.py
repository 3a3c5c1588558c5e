"""int8 detector: onnxruntime static quantisation (QDQ, per-channel) with the decode in float.

A YOLO head's last steps (DFL softmax, box decode to pixels, the concat of pixel boxes with
0..1 class scores) share one quantisation scale if quantised, and the scores collapse (see
docs research: vision.md section 2.2). So every node of the last ``/model.NN/`` block is
kept in float except the head's convolution stacks (``cv2``/``cv3``, plus ``one2one_*`` on
end-to-end heads), which carry nearly all of its compute and quantise well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from kiosk.errors import KioskError

_BLOCK = re.compile(r"^/model\.(\d+)/")
_HEAD_CONV = re.compile(r"/(?:one2one_)?cv[23]\.\d+/")


class QuantizeError(KioskError):
    """The model cannot be quantised as asked."""


def letterbox(image: np.ndarray, size: int, pad: int = 114) -> np.ndarray:
    """``(1, 3, size, size)`` float32 RGB 0..1, aspect kept, grey padding (YOLO's input)."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), pad, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top : top + nh, left : left + nw] = resized
    rgb = canvas[:, :, ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


def head_nodes_to_exclude(model_path: str | Path, *, whole_block: bool = False) -> list[str]:
    """Names of the decode nodes in the model's last ``/model.NN/`` block (the Detect head)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    blocks = [int(m.group(1)) for n in graph.node if (m := _BLOCK.match(n.name))]
    if not blocks:
        raise QuantizeError(f"{model_path}: no /model.NN/ nodes: not an ultralytics export")
    last = f"/model.{max(blocks)}/"
    names = []
    for node in graph.node:
        in_head = node.name.startswith(last)
        after_head = not _BLOCK.match(node.name)  # unnamed tail nodes (output concat etc.)
        if (in_head and (whole_block or not _HEAD_CONV.search(node.name))) or after_head:
            names.append(node.name)
    return [n for n in names if n]


class _Frames:
    """onnxruntime CalibrationDataReader over images (read lazily, letterboxed)."""

    def __init__(self, input_name: str, images: Iterable[np.ndarray], size: int) -> None:
        self._it: Iterator[dict[str, np.ndarray]] = (
            {input_name: letterbox(im, size)} for im in images
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantize_detector(
    fp32_path: str | Path,
    int8_path: str | Path,
    calibration: Sequence[np.ndarray],
    *,
    whole_block: bool = False,
) -> Path:
    """Write the int8 QDQ model; metadata (class names, stride) is carried over."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise QuantizeError("need calibration frames")
    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    src = onnx.load(str(fp32_path))
    inp = src.graph.input[0]
    size = inp.type.tensor_type.shape.dim[2].dim_value
    if size <= 0:
        raise QuantizeError(f"{fp32_path}: needs a fixed input size")
    pre = int8_path.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
    try:
        quantize_static(
            str(pre),
            str(int8_path),
            _Frames(inp.name, calibration, size),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=head_nodes_to_exclude(pre, whole_block=whole_block),
        )
    finally:
        pre.unlink(missing_ok=True)
    out = onnx.load(str(int8_path))
    if not out.metadata_props:  # ultralytics reads names/stride/imgsz from here
        out.metadata_props.extend(src.metadata_props)
        onnx.save(out, str(int8_path))
    return int8_path

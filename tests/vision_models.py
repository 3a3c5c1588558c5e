"""Tiny but real ONNX detectors for the vision tests, built with ``onnx.helper``.

The "blob detector" takes a YOLO-style input (1, 3, S, S), RGB in [0, 1], and finds, per
class, the bounding box of all pixels of that colour: ``white`` (every channel > 0.7) and
``red`` (R > 0.6, G and B < 0.3). Its score is how much of that box the colour fills, so a
solid square scores 1.0 and a hollow or holed one less (the tests' knob for thresholds).

Heads, as the real exports give them:
- ``classic``: (1, 4 + nc, N), rows cx, cy, w, h then one score per class. Each class
  proposes ``copies`` boxes (the blob box grown by k px, score x (1 - 0.1 k)), so NMS has
  duplicates to merge; ``pad`` zero-score proposals make N larger.
- ``end2end``: (1, N, 6), rows x1, y1, x2, y2, score, class, one per class (NMS-free).

``corrupt`` makes a broken model on purpose: ``nan`` (a NaN in the output), ``logits``
(scores x 10, outside [0, 1]), ``extra_row`` (one row more than the card's classes, with a
dynamic output shape so only the run can notice).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.cards import ModelCard, file_sha256, save_card

CLASSES = ("white", "red")
OPSET = 17


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray | float, hint: str = "c") -> str:
        arr = np.asarray(value, dtype=np.float32 if np.isscalar(value) else None)
        out = self.name(hint)
        self.inits.append(numpy_helper.from_array(arr, out))
        return out

    def op(self, op_type: str, *inputs: str, hint: str = "", **attrs: object) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def _blob_boxes(g: _Graph, x: str, size: int) -> tuple[str, str, str, str, str]:
    """x1, y1, x2, y2, score: each (1, nc) float, in model-input pixels."""
    r, gr, b = (g.name("r"), g.name("g"), g.name("b"))
    g.nodes.append(
        helper.make_node("Split", [x, g.const(np.array([1, 1, 1], np.int64))], [r, gr, b], axis=1)
    )
    white = g.op(
        "Cast",
        g.op("Greater", g.op("ReduceMin", x, axes=[1], keepdims=1), g.const(0.7)),
        to=TensorProto.FLOAT,
        hint="white",
    )
    red = g.op(
        "Cast",
        g.op(
            "And", g.op("Greater", r, g.const(0.6)), g.op("Less", g.op("Max", gr, b), g.const(0.3))
        ),
        to=TensorProto.FLOAT,
        hint="red",
    )
    masks = g.op("Concat", white, red, axis=1, hint="masks")  # (1, nc, S, S)
    cols = g.op("ReduceMax", masks, axes=[2], keepdims=0)  # (1, nc, S): any pixel in column
    rows = g.op("ReduceMax", masks, axes=[3], keepdims=0)

    def first(v: str) -> str:
        return g.op(
            "Cast", g.op("ArgMax", v, axis=2, keepdims=0, select_last_index=0), to=TensorProto.FLOAT
        )

    def past_last(v: str) -> str:
        last = g.op("ArgMax", v, axis=2, keepdims=0, select_last_index=1)
        return g.op("Add", g.op("Cast", last, to=TensorProto.FLOAT), g.const(1.0))

    x1, x2, y1, y2 = first(cols), past_last(cols), first(rows), past_last(rows)
    filled = g.op("ReduceSum", masks, g.const(np.array([2, 3], np.int64)), keepdims=0)
    area = g.op("Mul", g.op("Sub", x2, x1), g.op("Sub", y2, y1))
    score = g.op("Div", filled, area, hint="score")  # an empty class scores 0 over the frame
    del size
    return x1, y1, x2, y2, score


def build_blob_model(
    directory: str | Path,
    *,
    name: str = "blob",
    size: int = 128,
    head: str = "classic",
    copies: int = 3,
    pad: int = 0,
    corrupt: str | None = None,
    dynamic_input: bool = False,
    dynamic_output: bool = False,
    variant: str = "fp32",
) -> Path:
    """Write ``<name>.onnx`` and its card into ``directory``; return the model path."""
    nc = len(CLASSES)
    g = _Graph()
    x1, y1, x2, y2, score = _blob_boxes(g, "images", size)

    def unsq(v: str, axis: int) -> str:
        return g.op("Unsqueeze", v, g.const(np.array([axis], np.int64)))

    if head == "classic":
        ex1, ey1, ex2, ey2, escore = [], [], [], [], []
        for k in range(copies):
            grow = g.const(float(k))
            ex1.append(g.op("Sub", x1, grow))
            ey1.append(g.op("Sub", y1, grow))
            ex2.append(g.op("Add", x2, grow))
            ey2.append(g.op("Add", y2, grow))
            escore.append(g.op("Mul", score, g.const(1.0 - 0.1 * k)))
        cat = [g.op("Concat", *v, axis=1) for v in (ex1, ey1, ex2, ey2, escore)]
        bx1, by1, bx2, by2, bscore = cat  # (1, nc * copies), index k * nc + c
        half = g.const(0.5)
        cx = g.op("Mul", g.op("Add", bx1, bx2), half)
        cy = g.op("Mul", g.op("Add", by1, by2), half)
        w = g.op("Sub", bx2, bx1)
        h = g.op("Sub", by2, by1)
        onehot = np.zeros((nc, nc * copies), np.float32)
        for k in range(copies):
            for c in range(nc):
                onehot[c, k * nc + c] = 1.0
        scores = g.op("Mul", unsq(bscore, 1), g.const(onehot))  # (1, nc, nc * copies)
        if corrupt == "logits":
            scores = g.op("Mul", scores, g.const(10.0))
        rows = [unsq(v, 1) for v in (cx, cy, w, h)] + [scores]
        if corrupt == "extra_row":
            rows.append(unsq(bscore, 1))
        out = g.op("Concat", *rows, axis=1)  # (1, 4 + nc, nc * copies)
        if pad:
            zeros = np.zeros((1, 4 + nc + (corrupt == "extra_row"), pad), np.float32)
            out = g.op("Concat", out, g.const(zeros), axis=2)
        n = nc * copies + pad
        shape: list[int | str] = [1, 4 + nc + (corrupt == "extra_row"), n]
    elif head == "end2end":
        cls = g.const(np.arange(nc, dtype=np.float32)[None, :])
        if corrupt == "logits":
            score = g.op("Mul", score, g.const(10.0))
        cols = [unsq(v, 2) for v in (x1, y1, x2, y2, score, cls)]
        if corrupt == "extra_row":
            cols.append(unsq(score, 2))
        out = g.op("Concat", *cols, axis=2)  # (1, nc, 6)
        if pad:
            zeros = np.zeros((1, pad, 6 + (corrupt == "extra_row")), np.float32)
            out = g.op("Concat", out, g.const(zeros), axis=1)
        shape = [1, nc + pad, 6 + (corrupt == "extra_row")]
    else:
        raise ValueError(f"unknown head {head!r}")
    if corrupt == "nan":
        poison = np.zeros(shape, np.float32)
        poison[0, 0, 0] = np.nan
        out = g.op("Add", out, g.const(poison))
    g.nodes.append(helper.make_node("Identity", [out], ["output0"]))
    if dynamic_output or corrupt == "extra_row":
        shape = ["batch", "rows", "cols"]
    in_shape: list[int | str] = (
        ["batch", 3, "height", "width"] if dynamic_input else [1, 3, size, size]
    )
    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, shape)],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    onnx.save(model, path)
    card = ModelCard(
        name=name,
        task="detect",
        version="test",
        classes=CLASSES,
        input_size=(size, size),
        onnx=path.name,
        sha256=file_sha256(path),
        licence="AGPL-3.0",
        data="none: a hand-built colour-blob graph for tests",
        command="tests/vision_models.py build_blob_model",
        extra={"variant": variant, "head": head},
    )
    save_card(card, directory)
    return path

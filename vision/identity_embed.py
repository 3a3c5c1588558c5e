"""Optional learned embedding for the identity check: a classifier's penultimate layer.

The produce classifier (``models/produce-classifier.onnx`` with its card) is trained
elsewhere; when it is present its pooled features before the last linear layer describe an
item better than colour alone, and they work for SKUs the classifier never saw (the vector is
compared with the references' vectors, not turned into a class). When it is absent the check
runs on colour and keypoints only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import helper

from kiosk.errors import ModelError
from models.cards import ModelCardError, card_path_for, load_card
from models.classify import views
from vision.types import BGRImage

logger = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "produce-classifier.onnx"
_PASS_THROUGH = {"Softmax", "LogSoftmax", "Sigmoid", "Identity", "Reshape", "Flatten"}


def penultimate_output(model: onnx.ModelProto) -> str:
    """Name of the tensor that feeds the model's last linear layer (Gemm or MatMul)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    name = model.graph.output[0].name
    for _ in range(16):
        node = producers.get(name)
        if node is None:
            break
        if node.op_type == "Add":  # MatMul + Add is how some exporters write Linear
            inner = [producers.get(i) for i in node.input]
            matmuls = [n for n in inner if n is not None and n.op_type == "MatMul"]
            if matmuls:
                return str(matmuls[0].input[0])
        if node.op_type in ("Gemm", "MatMul"):
            return str(node.input[0])
        if node.op_type not in _PASS_THROUGH:
            break
        name = node.input[0]
    raise ModelError("cannot find the classifier's last linear layer; set extra.embedding_output")


class OnnxEmbedder:
    """Unit-length feature vectors from a classifier ONNX model described by a model card."""

    def __init__(self, model_path: str | Path, *, threads: int = 1) -> None:
        try:
            card = load_card(card_path_for(model_path))
        except ModelCardError as err:
            raise ModelError(str(err)) from None
        path = card_path_for(model_path).parent / card.onnx
        try:
            model = onnx.load(str(path))
        except Exception as err:  # onnx raises DecodeError, OSError, ... on a bad file
            raise ModelError(f"{path}: unreadable ONNX model ({err})") from None
        name = str(card.extra.get("embedding_output") or penultimate_output(model))
        if name not in {o.name for o in model.graph.output}:
            model.graph.output.append(helper.make_empty_tensor_value_info(name))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime's own error types are not exported stably
            raise ModelError(f"{path}: onnxruntime refused the model ({err})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = name
        self.size = card.input_size  # (height, width)
        norm = card.extra.get("mean"), card.extra.get("std")
        self.mean = None if norm[0] is None else np.array(norm[0], np.float32)
        self.std = None if norm[1] is None else np.array(norm[1], np.float32)
        self.name = f"{card.name}@{card.version}"

    @classmethod
    def optional(cls, model_path: str | Path = DEFAULT_MODEL) -> OnnxEmbedder | None:
        """The embedder when the model and its card are there, else None (logged)."""
        if not Path(model_path).is_file() or not card_path_for(model_path).is_file():
            logger.info("no embedding model at %s; identity uses colour and keypoints", model_path)
            return None
        return cls(model_path)

    def embed(self, image: BGRImage) -> npt.NDArray[np.float32]:
        # The classifier's own eval transform (models.classify.views): short side to the
        # input size, centre crop, RGB 0..1; a card may add a mean/std normalisation.
        batch = views(image, self.size[0])[:1]
        if self.mean is not None and self.std is not None:
            batch = (batch - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        (out,) = self.session.run([self.output_name], {self.input_name: batch.astype(np.float32)})
        vec = np.asarray(out, np.float32).reshape(-1)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm > 0 else vec

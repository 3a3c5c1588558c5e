"""Face blurring for evidence snapshots: find face regions and pixelate them before any JPEG
is written or spooled. Detection only — nothing here (or anywhere in OpenSCO) identifies,
embeds or compares faces.

Detectors are OpenCV's Haar cascades (frontal and profile, the profile one also run on the
mirrored image). OpenCV 5 dropped ``cv2.CascadeClassifier`` and the bundled cascade files, so
when the native classifier is missing the same XML cascades are evaluated by a small NumPy
port of OpenCV's Haar evaluator (same variance normalisation, stump stages and rectangle
grouping). The cascade files are looked up in ``cv2.data.haarcascades``, Debian's
``opencv-data`` and, last, the copies shipped in ``vision/face_cascades`` (Intel licence in
their headers). Nothing is downloaded.

Blurring errs on the side of privacy: each face box is grown by a margin and pixelated to a
few blocks (not recoverable); everything else in the image is left byte-for-byte alone.
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"
_SHIPPED = Path(__file__).with_name("face_cascades")
_SYSTEM_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")

Rect = tuple[int, int, int, int]  # x, y, w, h in pixels


class CascadeError(ValueError):
    """A cascade file is missing, unreadable or of a kind this evaluator does not run."""


def cascade_path(name: str) -> Path:
    """The first readable copy of cascade ``name`` (cv2's data, the system's, ours)."""
    dirs = [getattr(getattr(cv2, "data", None), "haarcascades", ""), *_SYSTEM_DIRS, _SHIPPED]
    for d in dirs:
        if d and (Path(d) / name).is_file():
            return Path(d) / name
    raise CascadeError(f"face cascade {name} not found in {[str(d) for d in dirs if d]}")


@dataclass(frozen=True)
class _Stage:
    threshold: float
    rects: npt.NDArray[np.int64]  # (K, 3, 4): x, y, w, h per rectangle (zero-size if unused)
    weights: npt.NDArray[np.float64]  # (K, 3)
    node_thresholds: npt.NDArray[np.float64]  # (K,)
    left: npt.NDArray[np.float64]  # (K,) leaf value when feature < threshold
    right: npt.NDArray[np.float64]  # (K,)


class HaarCascade:
    """A stump-based OpenCV Haar cascade (the new XML format) evaluated with NumPy."""

    def __init__(self, path: str | Path) -> None:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as err:
            raise CascadeError(f"cannot read cascade {path}: {err}") from err
        c = root.find("cascade")
        if c is None or (c.findtext("featureType") or "").strip() != "HAAR":
            raise CascadeError(f"{path} is not a HAAR cascade in OpenCV's format")
        self.width = int(c.findtext("width") or 0)
        self.height = int(c.findtext("height") or 0)
        features = []
        for f in c.iterfind("features/_"):
            if (f.findtext("tilted") or "0").strip() != "0":
                raise CascadeError(f"{path}: tilted features are not supported")
            rects = [[float(v) for v in (r.text or "").split()] for r in f.iterfind("rects/_")]
            features.append(rects)
        self.stages: list[_Stage] = []
        for s in c.iterfind("stages/_"):
            rows = []
            for wc in s.iterfind("weakClassifiers/_"):
                nodes = (wc.findtext("internalNodes") or "").split()
                leaves = [float(v) for v in (wc.findtext("leafValues") or "").split()]
                if len(nodes) != 4 or len(leaves) != 2:
                    raise CascadeError(f"{path}: only stump classifiers are supported")
                rows.append((int(nodes[2]), float(nodes[3]), leaves[0], leaves[1]))
            rects = np.zeros((len(rows), 3, 4), np.int64)
            weights = np.zeros((len(rows), 3), np.float64)
            for k, (fi, *_) in enumerate(rows):
                for j, r in enumerate(features[fi][:3]):
                    rects[k, j] = [int(v) for v in r[:4]]
                    weights[k, j] = r[4]
            self.stages.append(
                _Stage(
                    float(s.findtext("stageThreshold") or 0),
                    rects,
                    weights,
                    np.array([r[1] for r in rows]),
                    np.array([r[2] for r in rows]),
                    np.array([r[3] for r in rows]),
                )
            )
        if not self.stages or self.width <= 2 or self.height <= 2:
            raise CascadeError(f"{path}: no stages or no window size")

    def _windows(self, gray: npt.NDArray[np.uint8], step: int) -> npt.NDArray[np.int64]:
        """Top-left (y, x) of every window position that passes all stages."""
        h, w = gray.shape
        ww, wh = self.width, self.height
        ii, sq = cv2.integral2(gray, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        stride = w + 1
        flat, sqflat = ii.ravel(), sq.ravel()
        ys, xs = np.mgrid[0 : h - wh + 1 : step, 0 : w - ww + 1 : step]
        base = (ys * stride + xs).ravel()

        def rect_sum(table: npt.NDArray[np.float64], b: npt.NDArray[np.int64], r: tuple[int, ...]):
            x, y, rw, rh = r
            tl = y * stride + x
            return (
                table[b + tl + rh * stride + rw]
                - table[b + tl + rw]
                - table[b + tl + rh * stride]
                + table[b + tl]
            )

        norm = (1, 1, ww - 2, wh - 2)
        area = float((ww - 2) * (wh - 2))
        s, s2 = rect_sum(flat, base, norm), rect_sum(sqflat, base, norm)
        nf = area * s2 - s * s
        nf = np.where(nf > 0, np.sqrt(np.maximum(nf, 0)), 1.0)
        for st in self.stages:
            if base.size == 0:
                break
            x, y, rw, rh = (st.rects[..., i] for i in range(4))
            tl = y * stride + x  # (K, 3)
            b = base[:, None, None]
            sums = (
                flat[b + tl + rh * stride + rw]
                - flat[b + tl + rw]
                - flat[b + tl + rh * stride]
                + flat[b + tl]
            )
            value = (sums * st.weights).sum(axis=2)  # (N, K)
            votes = np.where(value < st.node_thresholds * nf[:, None], st.left, st.right)
            keep = votes.sum(axis=1) >= st.threshold
            base, nf = base[keep], nf[keep]
        return np.stack([base // stride, base % stride], axis=1)

    def detect(
        self,
        gray: npt.NDArray[np.uint8],
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        min_size: int = 0,
    ) -> list[Rect]:
        """Face rectangles in ``gray`` (like cv2.CascadeClassifier.detectMultiScale)."""
        h, w = gray.shape[:2]
        found: list[Rect] = []
        scale = 1.0
        while True:
            ww, wh = round(self.width * scale), round(self.height * scale)
            sw, sh = round(w / scale), round(h / scale)
            if sw < self.width or sh < self.height:
                break
            if ww >= min_size and wh >= min_size:
                small = gray if scale == 1.0 else cv2.resize(gray, (sw, sh), cv2.INTER_LINEAR)
                step = 1 if scale > 2 else 2
                for y, x in self._windows(small, step):
                    found.append((round(x * scale), round(y * scale), ww, wh))
            scale *= scale_factor
        return group_rectangles(found, min_neighbors)


def group_rectangles(rects: list[Rect], min_neighbors: int, eps: float = 0.2) -> list[Rect]:
    """OpenCV's groupRectangles: cluster similar boxes, keep clusters of > min_neighbors,
    average each, drop a box that lies inside a stronger one."""
    n = len(rects)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            a, b = rects[i], rects[j]
            delta = eps * (min(a[2], b[2]) + min(a[3], b[3])) * 0.5
            if (
                abs(a[0] - b[0]) <= delta
                and abs(a[1] - b[1]) <= delta
                and abs(a[0] + a[2] - b[0] - b[2]) <= delta
                and abs(a[1] + a[3] - b[1] - b[3]) <= delta
            ):
                parent[root(i)] = root(j)
    clusters: dict[int, list[Rect]] = {}
    for i, r in enumerate(rects):
        clusters.setdefault(root(i), []).append(r)
    groups = [
        (len(c), tuple(round(sum(r[k] for r in c) / len(c)) for k in range(4)))
        for c in clusters.values()
        if len(c) > min_neighbors
    ]
    out: list[Rect] = []
    for count, r in groups:
        inside = any(
            other != r
            and c2 >= count
            and r[0] >= other[0]
            and r[1] >= other[1]
            and r[0] + r[2] <= other[0] + other[2]
            and r[1] + r[3] <= other[1] + other[3]
            for c2, other in groups
        )
        if not inside:
            out.append(r)  # type: ignore[arg-type]
    return out


class FaceDetector:
    """Frontal + profile (both directions) face detection on a downscaled copy of the image."""

    def __init__(
        self,
        *,
        max_side: int = 320,
        scale_factor: float = 1.15,
        min_neighbors: int = 3,
        min_face_px: int = 20,
        profile: bool = False,
    ) -> None:
        # 320 px keeps a snapshot's detection near a second on a slow CPU with the NumPy
        # evaluator; a face under ~6% of the frame's long side is too small to matter.
        self.max_side, self.scale_factor = max_side, scale_factor
        self.min_neighbors, self.min_face_px, self.profile = min_neighbors, min_face_px, profile
        native = getattr(cv2, "CascadeClassifier", None)
        self._cascades: list[object] = []
        for name in (FRONTAL, PROFILE):
            path = cascade_path(name)
            if native is not None:
                clf = native(str(path))
                if not clf.empty():
                    self._cascades.append(clf)
                    continue
            self._cascades.append(HaarCascade(path))

    def _run(self, cascade: object, gray: npt.NDArray[np.uint8]) -> list[Rect]:
        if isinstance(cascade, HaarCascade):
            return cascade.detect(
                gray,
                scale_factor=self.scale_factor,
                min_neighbors=self.min_neighbors,
                min_size=self.min_face_px,
            )
        found = cascade.detectMultiScale(  # type: ignore[attr-defined]
            gray, self.scale_factor, self.min_neighbors, minSize=(self.min_face_px,) * 2
        )
        return [tuple(int(v) for v in r) for r in found]  # type: ignore[misc]

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Rect]:
        """Face boxes (x, y, w, h) in ``image``'s pixels; BGR or grey input."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        k = min(1.0, self.max_side / max(h, w))
        small = gray if k == 1.0 else cv2.resize(gray, (round(w * k), round(h * k)), cv2.INTER_AREA)
        small = cv2.equalizeHist(small)
        boxes: list[Rect] = []
        frontal, profile = self._cascades
        boxes += self._run(frontal, small)
        if self.profile:
            boxes += self._run(profile, small)
            mirrored = np.ascontiguousarray(small[:, ::-1])
            sw = small.shape[1]
            boxes += [(sw - x - bw, y, bw, bh) for x, y, bw, bh in self._run(profile, mirrored)]
        return [
            (round(x / k), round(y / k), round(w_ / k), round(h_ / k)) for x, y, w_, h_ in boxes
        ]


def pixelate(
    image: npt.NDArray[np.uint8], boxes: list[Rect], *, margin: float = 0.25, blocks: int = 6
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with each box (grown by ``margin``) reduced to ``blocks`` x
    ``blocks`` samples and scaled back (not recoverable); pixels outside are untouched."""
    out = image.copy()
    h, w = image.shape[:2]
    for x, y, bw, bh in boxes:
        mx, my = round(bw * margin), round(bh * margin)
        x1, y1 = max(0, x - mx), max(0, y - my)
        x2, y2 = min(w, x + bw + mx), min(h, y + bh + my)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = out[y1:y2, x1:x2]
        tiny = cv2.resize(region, (blocks, blocks), interpolation=cv2.INTER_AREA)
        # Bilinear back up: smooth colour gradients, no block edges a viewer could read into.
        out[y1:y2, x1:x2] = cv2.resize(tiny, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    return out


_default: FaceDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> FaceDetector:
    """One shared detector (the cascades take a moment to parse)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FaceDetector()
        return _default


def blur_faces(
    image: npt.NDArray[np.uint8], detector: FaceDetector | None = None
) -> tuple[npt.NDArray[np.uint8], list[Rect]]:
    """``image`` with every detected face pixelated, and the boxes found. If the detector
    cannot run the whole image is pixelated: a snapshot is never stored with a sharp face
    because of a missing file."""
    try:
        boxes = (detector or default_detector()).detect(image)
    except (CascadeError, cv2.error) as err:
        logger.error("face detection unavailable (%s); snapshot blurred whole", err)
        h, w = image.shape[:2]
        return pixelate(image, [(0, 0, w, h)], margin=0, blocks=16), [(0, 0, w, h)]
    return (pixelate(image, boxes) if boxes else image), boxes

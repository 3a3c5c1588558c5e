"""The ``[camera]`` and ``[vision]`` config sections (importing this module registers them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kiosk.config  # noqa: F401  (built-in sections register first: a stable docs order)
from kiosk.config_schema import Field, Section, register_section


def _check_camera(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if values["enabled"] and not str(values["url"]).strip():
        yield "url", 'must be set when the camera is enabled, e.g. "v4l2:0"'


CAMERA_SECTION = register_section(
    Section(
        "camera",
        "the overhead camera that watches the scan zone and the bagging area",
        (
            Field("enabled", bool, False, "this lane has a camera"),
            Field("url", str, "v4l2:0",
                  'where frames come from: "v4l2:0", "rtsp://...", "http://.../mjpg", '
                  '"folder:PATH", a video file, or "synthetic:?script=basket&loop=1"'),
            Field("reconnect_s", float, 1.0,
                  "seconds between attempts to reopen a camera that failed or was unplugged",
                  minimum=0.1, maximum=60.0),
        ),
        checks=(_check_camera,),
    )
)  # fmt: skip

VISION_SECTION = register_section(
    Section(
        "vision",
        "what the lane does with camera frames: detection, tracking, barcodes, evidence",
        (
            Field("detector_model", str, "",
                  'detector .onnx (its card .json beside it); "" = the active model, '
                  "else the one shipped in models/"),
            Field("detector_int8", bool, False,
                  "use the int8 variant of the shipped detector (faster on VNNI CPUs)"),
            Field("detector_threads", int, 1,
                  "onnxruntime threads for detection; leave a core for decoding and capture",
                  minimum=1, maximum=16),
            Field("detector_conf", float, 0.35, "lowest detection score kept",
                  minimum=0.01, maximum=0.99),
            Field("detect_every", int, 2,
                  "run the detector on every Nth frame with motion; the tracker fills the gaps",
                  minimum=1, maximum=30),
            Field("max_regions", int, 2,
                  "most detector regions per frame (motion and tracked items are merged)",
                  minimum=1, maximum=8),
            Field("zones_file", str, "",
                  'calibrated zones (opensco.zones/1 JSON); "" = examples/zones.json'),
            Field("references_dir", str, "",
                  'reference photos per SKU (DIR/<sku>/*.jpg) for the identity check; "" = off'),
            Field("decode_budget_ms", float, 25.0,
                  "time the barcode cascade may spend on one frame after its first pass",
                  minimum=1.0, maximum=500.0),
            Field("read_gap_ms", int, 800,
                  "a code unseen this long, then seen again, is a new presentation",
                  minimum=100, maximum=10_000),
            Field("evidence_dir", str, "",
                  'where evidence JPEGs are kept; "" = <data_dir>/evidence'),
            Field("evidence_max_mb", int, 200, "most disk evidence images may use",
                  minimum=1, maximum=100_000),
            Field("evidence_max_age_h", float, 72.0,
                  "hours an evidence image is kept at most (privacy: bounded retention)",
                  minimum=0.1, maximum=24 * 90),
        ),
    )
)  # fmt: skip

"""Scene renderer: synthetic top-down checkout frames with exact labels.

``render_detection_dataset`` writes a YOLO data set for the item/hand/bag detector;
``render_scenario_video`` and ``iter_scenario_frames`` play scripted shopper actions with
per-frame ground truth (boxes, tracks, zones, decodable barcodes).
"""

from __future__ import annotations

from models.scenes.compose import CLASS_NAMES
from models.scenes.dataset import render_detection_dataset

__all__ = ["CLASS_NAMES", "render_detection_dataset"]

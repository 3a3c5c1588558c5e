"""Scene renderer: synthetic top-down checkout frames with exact labels.

``render_detection_dataset`` writes a YOLO data set for the item/hand/bag detector;
``render_scenario_video`` and ``iter_scenario_frames`` play scripted shopper actions with
per-frame ground truth (boxes, tracks, zones, decodable barcodes).
"""

from __future__ import annotations

from models.scenes.compose import CLASS_NAMES
from models.scenes.dataset import render_detection_dataset
from models.scenes.script import BUILTIN_SCRIPTS, Action, parse_script
from models.scenes.video import (
    FrameTruth,
    GroundTruth,
    ObjectTruth,
    iter_scenario_frames,
    render_scenario_video,
)

__all__ = [
    "BUILTIN_SCRIPTS",
    "CLASS_NAMES",
    "Action",
    "FrameTruth",
    "GroundTruth",
    "ObjectTruth",
    "iter_scenario_frames",
    "parse_script",
    "render_detection_dataset",
    "render_scenario_video",
]

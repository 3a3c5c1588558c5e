"""The demo lane's evidence camera: what a camera lane's vision keeps when an item is carried
into the bagging area, made from the scene renderer instead of a live camera.

A real lane's vision pipeline (vision/pipeline.py) saves a JPEG through its
``EvidenceStore`` when a track enters the bagging zone (the item's box outlined) and puts
that snap id on the ``ItemTrack``; the core's non-scan rule cites it in the alert's
evidence. ``DemoCamera`` does the same with a top-down frame rendered for the carried
product. It keeps the whole frame rather than the pipeline's tight crop, so the attendant
and the reviewer see where the item went; outside the scan, produce and bagging zones the
frame is blurred (the store's privacy mask), as a frame that may show a shopper must be.
Its store hands the JPEG to the lane's
``SnapshotSpool``, so the lane's ``SnapshotPublisher`` sends it on ``snap/<id>`` to the
tablets and the loss-prevention backend.

Rendering needs no downloaded data (``with_photos=False``: drawn packs, no photo library),
so the demo works without ``../shared/data/grocery-store``. A rendering or storage failure
leaves the track without a snapshot, as a camera fault would; the sale goes on.
"""

from __future__ import annotations

import logging
import threading
import zlib
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from vision.evidence import EvidenceError, EvidenceStore, mask_from_polygons
from vision.types import Box, Frame

logger = logging.getLogger(__name__)

MIN_VISIBLE = 0.9  # the frame picked shows the item this much uncovered
RENDER_FPS = 10  # fewer frames to render; the carry path is the same
EVIDENCE_MAX_BYTES = 16 * 1024 * 1024
EVIDENCE_MAX_AGE_S = 3600.0  # a demo keeps shopper images an hour at most
EVIDENCE_MAX_COUNT = 200
SHARP_ZONES = ("scan", "produce_scale", "bagging")  # kept sharp; the rest is blurred
CAMERA_NAME = "demo-render"  # the snapshot's camera property: a review shows it was drawn


def render_carry(product_code: str, seed: int) -> tuple[Any, Box]:
    """A top-down lane frame (BGR, 640x480) with ``product_code`` just carried into the
    bagging zone without a scan, and the item's box in it. KioskError for an unknown
    product or a script in which the item never reaches the bag."""
    from models.scenes.catalog import product_by_code
    from models.scenes.script import Action
    from models.scenes.video import Player

    sku = product_by_code(product_code).sku
    player = Player([Action("skip_scan", sku)], seed, fps=RENDER_FPS, with_photos=False,
                    check_decode=False)  # fmt: skip
    bx1, by1, bx2, by2 = player.kit.layout.rect("bagging")
    for image, truth in player.frames():
        for obj in truth.objects:
            x1, y1, x2, y2 = (float(v) for v in obj.box)
            # Wholly over the bag: the zone's privacy mask keeps all of it sharp.
            inside = bx1 <= x1 and by1 <= y1 and x2 <= bx2 and y2 <= by2
            if obj.cls == "item" and inside and obj.visible >= MIN_VISIBLE:
                return image, Box(x1, y1, x2, y2)
    raise KioskError(f"the rendered carry of {product_code} never reached the bagging zone")


class DemoCamera:
    """Evidence for one demo lane: rendered frames kept through the lane's spool."""

    def __init__(self, lane: Any, kiosk_id: str, data_dir: Path) -> None:
        self.lane = lane
        self.kiosk_id = kiosk_id
        self.dir = Path(data_dir) / "evidence"
        self.seed = zlib.crc32(kiosk_id.encode())  # each lane its own lighting and bag
        self._store: EvidenceStore | None = None
        self._frames: dict[str, tuple[Any, Box]] = {}  # product -> rendered carry
        self._lock = threading.Lock()
        self._index = 0

    def store(self) -> EvidenceStore:
        """The lane's evidence store, made on first use (the link's boot id is known then)."""
        if self._store is None:
            spool = getattr(self.lane, "snapshots", None)
            link = getattr(self.lane, "link", None)
            from models.scenes.layout import load_layout

            layout = load_layout()  # the renderer's frame size and zones
            sharp = [layout.zones[z].tolist() for z in SHARP_ZONES if z in layout.zones]
            self._store = EvidenceStore(
                self.dir,
                max_bytes=EVIDENCE_MAX_BYTES,
                max_age_s=EVIDENCE_MAX_AGE_S,
                max_count=EVIDENCE_MAX_COUNT,
                spool=spool,
                kiosk_id=self.kiosk_id if spool is not None else "",
                boot_id=link.boot_id if spool is not None and link is not None else "",
                privacy_mask=mask_from_polygons(layout.width, layout.height, sharp),
            )
        return self._store

    def keep_carry(self, product_code: str, ts_ms: int) -> str | None:
        """Save the frame of ``product_code`` entering the bag (its box outlined); its snap
        id, or None when no evidence could be made."""
        with self._lock:
            try:
                if product_code not in self._frames:
                    self._frames[product_code] = render_carry(product_code, self.seed)
                image, box = self._frames[product_code]
                self._index += 1
                frame = Frame(image, ts_ms, self._index, f"demo:{self.kiosk_id}")
                return self.store().keep(
                    frame, [box], reason="enter bagging", meta={"camera": CAMERA_NAME}
                )
            except (KioskError, EvidenceError, OSError, ValueError) as err:
                logger.warning("demo %s: no evidence snapshot (%s)", self.kiosk_id, err)
                return None

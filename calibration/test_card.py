"""The printed camera test card: an EAN-13 at a known module width between four ArUco markers.

The card (80 x 50 mm) carries markers 0-3 at its corners, at known millimetre positions,
and one EAN-13 whose module is ``module_mm`` wide (0.33 mm: a code at 100 % magnification).
Seen by the camera, the markers give the card's scale in pixels per millimetre wherever it
lies, so the pixels per module follow even when the code is too small to decode; the code
itself, when it decodes, gives a second measurement (its 95 modules, first bar to last).

Page 2 holds four larger markers (10-13) to cut out and lay with their centres on the
corners of the scan zone (top-left, top-right, bottom-right, bottom-left as the camera sees
them) for the alignment check.

``write_card_pdf`` writes both pages as a small hand-made PDF with the card embedded as a
raster at a whole number of raster pixels per module, placed at true size (print it at
"actual size", not "fit to page"; the 100 mm ruler shows whether it was).
``render_card`` draws the same card as a numpy image at any pixels per module, and
``card_frame`` puts it into a synthetic camera frame (tests, the guided app's autoplay).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.files import write_atomically

Gray = npt.NDArray[np.uint8]
BGR = npt.NDArray[np.uint8]

ARUCO_DICT = cv2.aruco.DICT_4X4_50
CARD_MARKER_IDS = (0, 1, 2, 3)  # top-left, top-right, bottom-right, bottom-left of the card
CORNER_MARKER_IDS = (10, 11, 12, 13)  # scan-zone corners: TL, TR, BR, BL as the camera sees
CARD_GTIN = "2012345678903"  # prefix 20: in-store numbering, never a real product
EAN13_MODULES = 95  # first bar to last bar; 113 with the quiet zones
MM_PER_PT = 25.4 / 72


@dataclass(frozen=True)
class CardLayout:
    """Where things are on the card, in millimetres from its top-left corner."""

    module_mm: float = 0.33
    width_mm: float = 80.0
    height_mm: float = 50.0
    marker_mm: float = 10.0
    marker_inset_mm: float = 7.0  # marker centre from the card's edges
    code_center_mm: tuple[float, float] = (40.0, 26.0)
    bar_height_mm: float = 16.0
    gtin: str = CARD_GTIN

    def __post_init__(self) -> None:
        if not 0.1 <= self.module_mm <= 1.0:
            raise ValueError(f"module width must be 0.1-1.0 mm, got {self.module_mm}")
        if self.code_width_mm + 2 * (self.marker_inset_mm + self.marker_mm / 2) > self.width_mm:
            raise ValueError(f"a {self.module_mm} mm module makes the code wider than the card")

    @property
    def code_width_mm(self) -> float:
        """The symbol with its quiet zones (113 modules)."""
        return 113 * self.module_mm

    def marker_centers_mm(self) -> dict[int, tuple[float, float]]:
        i, w, h = self.marker_inset_mm, self.width_mm, self.height_mm
        pts = ((i, i), (w - i, i), (w - i, h - i), (i, h - i))
        return dict(zip(CARD_MARKER_IDS, pts, strict=True))

    def marker_corners_mm(self, marker_id: int) -> npt.NDArray[np.float64]:
        """The marker's four corners (TL, TR, BR, BL: ArUco's order) on the card."""
        cx, cy = self.marker_centers_mm()[marker_id]
        s = self.marker_mm / 2
        return np.array([[cx - s, cy - s], [cx + s, cy - s], [cx + s, cy + s], [cx - s, cy + s]])


def aruco_marker(marker_id: int, side_px: int) -> Gray:
    """One marker, black border included, ``side_px`` square."""
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    return np.asarray(cv2.aruco.generateImageMarker(dictionary, marker_id, side_px), np.uint8)


def _ean13(gtin: str, px_per_module: int, height_px: int) -> Gray:
    import zxingcpp

    code = zxingcpp.create_barcode(gtin, zxingcpp.BarcodeFormat.EAN13)
    img = np.asarray(code.to_image(scale=px_per_module, add_quiet_zones=True, add_hrt=False))
    out = cv2.resize(img, (img.shape[1], height_px), interpolation=cv2.INTER_NEAREST)
    return np.asarray(out, np.uint8)


def _put(img: Gray, text: str, x: int, y: int, height_px: float) -> None:
    scale = height_px / 22.0  # Hershey simplex caps are about 22 px tall at scale 1
    thick = max(1, round(scale * 1.6))
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thick, cv2.LINE_AA)


def render_card_sharp(layout: CardLayout, px_per_module: int) -> Gray:
    """The card at a whole number of pixels per module: what gets printed."""
    if px_per_module < 1:
        raise ValueError("px_per_module must be at least 1")
    ppmm = px_per_module / layout.module_mm
    card = np.full((round(layout.height_mm * ppmm), round(layout.width_mm * ppmm)), 255, np.uint8)
    side = round(layout.marker_mm * ppmm)
    for mid, (cx, cy) in layout.marker_centers_mm().items():
        x0, y0 = round(cx * ppmm - side / 2), round(cy * ppmm - side / 2)
        card[y0 : y0 + side, x0 : x0 + side] = aruco_marker(mid, side)
    code = _ean13(layout.gtin, px_per_module, round(layout.bar_height_mm * ppmm))
    cx, cy = layout.code_center_mm
    x0, y0 = round(cx * ppmm - code.shape[1] / 2), round(cy * ppmm - code.shape[0] / 2)
    card[y0 : y0 + code.shape[0], x0 : x0 + code.shape[1]] = code
    text_h = 2.2 * ppmm
    _put(card, "OpenSCO camera test card", round(14 * ppmm), round(8.2 * ppmm), text_h)
    digits = f"{layout.gtin}  module {layout.module_mm:g} mm"
    _put(card, digits, round(14 * ppmm), round((layout.height_mm - 5.8) * ppmm), text_h)
    cv2.rectangle(card, (0, 0), (card.shape[1] - 1, card.shape[0] - 1), 160, 1)  # cut line
    return card


def render_card(layout: CardLayout, px_per_module: float) -> Gray:
    """The card at any scale, averaged down from a sharp render as a camera's sensor would."""
    if not px_per_module > 0:
        raise ValueError("px_per_module must be positive")
    k = max(1, math.ceil(px_per_module))
    sharp = render_card_sharp(layout, k)
    if k == px_per_module:
        return sharp
    f = px_per_module / k
    size = (round(sharp.shape[1] * f), round(sharp.shape[0] * f))
    return np.asarray(cv2.resize(sharp, size, interpolation=cv2.INTER_AREA), np.uint8)


def card_frame(
    layout: CardLayout,
    px_per_module: float,
    *,
    frame_size: tuple[int, int] = (1280, 960),
    center: tuple[float, float] | None = None,
    angle_deg: float = 0.0,
    background: BGR | None = None,
) -> tuple[BGR, npt.NDArray[np.float64]]:
    """A BGR frame with the card lying in it; returns it and the card-mm -> frame-px affine."""
    w, h = frame_size
    if background is None:
        rng = np.random.default_rng(7)
        base = rng.normal(110, 18, (h // 8 + 1, w // 8 + 1)).clip(0, 255).astype(np.uint8)
        grey = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
        frame = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    else:
        frame = cv2.resize(background, (w, h)) if background.shape[:2] != (h, w) else background
        frame = frame.copy()
    card = render_card(layout, px_per_module)
    ch, cw = card.shape
    cx, cy = center if center is not None else (w / 2, h / 2)
    m = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle_deg, 1.0)
    m[0, 2] += cx - cw / 2
    m[1, 2] += cy - ch / 2
    warped = cv2.warpAffine(card, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(np.full_like(card, 255), m, (w, h), flags=cv2.INTER_LINEAR)
    a = (mask.astype(np.float32) / 255)[:, :, None]
    paper = 30 + warped.astype(np.float32) * (205 / 255)  # ink is not black, nor paper white
    frame[:] = (frame * (1 - a) + paper[:, :, None] * a).astype(np.uint8)
    scale = np.array([[cw / layout.width_mm, 0, 0], [0, ch / layout.height_mm, 0], [0, 0, 1]])
    return np.asarray(frame, np.uint8), np.vstack([m, [0, 0, 1]]).astype(np.float64) @ scale


def paste_marker(frame: BGR, marker_id: int, center: tuple[float, float], side_px: int) -> None:
    """Draw one marker (with a white margin, as cut out of page 2) centred at ``center``."""
    margin = max(2, side_px // 6)
    tile = np.pad(aruco_marker(marker_id, side_px), margin, constant_values=255)
    t = tile.shape[0]
    x0, y0 = round(center[0] - t / 2), round(center[1] - t / 2)
    fh, fw = frame.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(fw, x0 + t), min(fh, y0 + t)
    if xa < xb and ya < yb:
        part = 30 + tile[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(np.float32) * (205 / 255)
        frame[ya:yb, xa:xb] = part.astype(np.uint8)[:, :, None]


# --------------------------------------------------------------------------------------------
# PDF


@dataclass(frozen=True)
class _Image:
    pixels: Gray
    x_mm: float
    y_mm: float  # from the top of the page
    w_mm: float
    h_mm: float


@dataclass
class _Page:
    width_mm: float = 210.0
    height_mm: float = 297.0
    images: tuple[_Image, ...] = ()
    texts: tuple[tuple[float, float, float, str], ...] = ()  # x mm, y mm from top, pt, text
    lines: tuple[tuple[float, float, float, float], ...] = ()  # x1, y1, x2, y2 in mm


def _pt(mm: float) -> str:
    return f"{mm / MM_PER_PT:.3f}"


def _pdf_text(text: str) -> str:
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[_Page]) -> bytes:
    """A minimal PDF 1.4: Helvetica text, grey lines, 8-bit grey Flate images at true size."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 1
    add(b"")  # the page tree, filled in below
    kids = []
    for page in pages:
        xobjects, ops = [], []
        for i, im in enumerate(page.images):
            h, w = im.pixels.shape
            data = zlib.compress(np.ascontiguousarray(im.pixels).tobytes(), 9)
            head = (
                f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace "
                f"/DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length {len(data)} >>"
            )
            oid = add(head.encode() + b"\nstream\n" + data + b"\nendstream")
            xobjects.append(f"/Im{i} {oid} 0 R")
            y = page.height_mm - im.y_mm - im.h_mm
            ops.append(
                f"q {_pt(im.w_mm)} 0 0 {_pt(im.h_mm)} {_pt(im.x_mm)} {_pt(y)} cm /Im{i} Do Q"
            )
        for x1, y1, x2, y2 in page.lines:
            h_mm = page.height_mm
            ops.append(f"0.5 w {_pt(x1)} {_pt(h_mm - y1)} m {_pt(x2)} {_pt(h_mm - y2)} l S")
        for x, y, size, text in page.texts:
            ops.append(
                f"BT /F1 {size:g} Tf {_pt(x)} {_pt(page.height_mm - y)} Td "
                f"({_pdf_text(text)}) Tj ET"
            )
        content = "\n".join(ops).encode()
        cid = add(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream")
        kids.append(
            add(
                f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {_pt(page.width_mm)} "
                f"{_pt(page.height_mm)}] /Resources << /Font << /F1 {font} 0 R >> /XObject << "
                f"{' '.join(xobjects)} >> >> /Contents {cid} 0 R >>".encode()
            )
        )
    refs = " ".join(f"{k} 0 R" for k in kids)
    objects[pages_id - 1] = f"<< /Type /Pages /Kids [{refs}] /Count {len(kids)} >>".encode()
    catalog = add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def card_pages(layout: CardLayout) -> list[_Page]:
    """Page 1: the card, a 100 mm ruler and how to use them; page 2: the corner markers."""
    k = max(2, math.ceil(12.0 * layout.module_mm))  # >= 12 raster px per mm (about 300 dpi)
    card = render_card_sharp(layout, k)
    left, top = 20.0, 70.0
    instructions = (
        "Print at ACTUAL SIZE (100 %, no 'fit to page'); the line below must measure 100 mm.",
        "Cut out the card along its grey border and lay it flat, printed side up, in the",
        "middle of the scan zone at scanning height. Then run:",
        "    sco calibrate camera check CAMERA-URL --zones ZONES.json",
        f"The code is EAN-13 {layout.gtin} with a {layout.module_mm:g} mm module (100 %).",
        "Decoding needs at least 2, ideally 3 or more camera pixels per module.",
    )
    texts = [(left, 25.0, 18.0, "OpenSCO camera test card")]
    texts += [(left, 36.0 + 5.5 * i, 10.0, line) for i, line in enumerate(instructions)]
    ruler_y = top + layout.height_mm + 20.0
    lines = [(left, ruler_y, left + 100.0, ruler_y)]
    lines += [
        (left + t, ruler_y - (3 if t % 50 else 5), left + t, ruler_y) for t in range(0, 101, 10)
    ]
    texts.append((left, ruler_y + 6.0, 9.0, "100 mm"))
    page1 = _Page(
        images=(_Image(card, left, top, layout.width_mm, layout.height_mm),),
        texts=tuple(texts),
        lines=tuple(lines),
    )
    side_mm = 30.0
    side_px = round(side_mm * 12)
    names = ("TOP-LEFT", "TOP-RIGHT", "BOTTOM-RIGHT", "BOTTOM-LEFT")
    images, texts2, lines2 = [], [(20.0, 25.0, 18.0, "Scan-zone corner markers")], []
    texts2.append(
        (20.0, 34.0, 10.0, "Cut out; lay each marker's CENTRE on that corner of the scan zone,")
    )
    texts2.append((20.0, 39.5, 10.0, "as the camera sees it. Then: sco calibrate camera align"))
    for i, (mid, name) in enumerate(zip(CORNER_MARKER_IDS, names, strict=True)):
        x = 30.0 + (i % 2) * 90.0
        y = 70.0 + (i // 2) * 90.0
        images.append(_Image(np.pad(aruco_marker(mid, side_px), 24, constant_values=255),
                             x, y, side_mm + 4, side_mm + 4))  # fmt: skip
        texts2.append((x, y + side_mm + 12.0, 11.0, f"{name} (marker {mid})"))
        c = (x + side_mm / 2 + 2, y + side_mm / 2 + 2)
        lines2 += [(c[0] - 3, c[1], c[0] + 3, c[1]), (c[0], c[1] - 3, c[0], c[1] + 3)]
    page2 = _Page(images=tuple(images), texts=tuple(texts2), lines=tuple(lines2))
    return [page1, page2]


def write_card_pdf(path: str | Path, layout: CardLayout | None = None) -> Path:
    """Write the test card PDF (A4, two pages) atomically; returns the path."""
    path = Path(path)
    write_atomically(path, pdf_bytes(card_pages(layout or CardLayout())))
    return path

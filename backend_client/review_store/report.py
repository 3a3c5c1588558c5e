"""CSV export and the self-contained HTML report (inline SVG precision chart, no scripts)."""

from __future__ import annotations

import csv
import html as _html
from collections.abc import Sequence
from typing import TextIO

from backend_client.review_store.types import FlagFilter, FlagRow, PrecisionPoint, iso

CSV_COLUMNS = (
    "flag_id", "time", "store_id", "kiosk_id", "session_id", "event_type", "reason", "severity",
    "outcome", "alert_id", "snap_ids", "label", "note", "labelled_by", "labelled_time",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A note typed by a reviewer must not run as a formula when the CSV opens in a spreadsheet.
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(rows: Sequence[FlagRow], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(_cell(v) for v in _cells(r))
    return len(rows)


def _cells(r: FlagRow) -> tuple[object, ...]:
    return (
        r.flag_id, iso(r.ts), r.store_id, r.kiosk_id, r.session_id, r.event_type, r.reason,
        r.severity, r.outcome, r.alert_id, " ".join(r.snap_ids), r.label, r.note,
        r.labelled_by, iso(r.labelled_ts) if r.labelled_ts else "",
    )  # fmt: skip


def _e(value: object) -> str:
    return _html.escape("" if value is None else str(value))


def precision_svg(points: Sequence[PrecisionPoint], width: int = 640, height: int = 240) -> str:
    """Precision (0..1) per reason over the buckets, one polyline per reason."""
    labelled = [p for p in points if p.precision is not None]
    if not labelled:
        return "<p>No labelled flags yet: precision needs reviewed flags.</p>"
    starts = sorted({p.bucket_start for p in labelled})
    left, right, top, bottom = 40, 150, 10, 30
    span_x = max(1, len(starts) - 1)

    def x(start: float) -> float:
        return left + (width - left - right) * starts.index(start) / span_x

    def y(value: float) -> float:
        return top + (height - top - bottom) * (1 - value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="precision by reason over time">',
        f'<line x1="{left}" y1="{y(0)}" x2="{width - right}" y2="{y(0)}" stroke="#888"/>',
        f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{y(1)}" stroke="#888"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{tick:.1f}</text>'
        )
    for start in starts:
        parts.append(
            f'<text x="{x(start):.1f}" y="{height - 12}" font-size="10" '
            f'text-anchor="middle">{_e(iso(start)[:10])}</text>'
        )
    reasons = sorted({p.reason for p in labelled})
    for i, reason in enumerate(reasons):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = [(x(p.bucket_start), y(p.precision or 0.0)) for p in labelled if p.reason == reason]
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts]
        parts.append(
            f'<text x="{width - right + 8}" y="{top + 14 * (i + 1)}" font-size="11" '
            f'fill="{colour}">{_e(reason)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def html(rows: Sequence[FlagRow], points: Sequence[PrecisionPoint], f: FlagFilter) -> str:
    """One file a loss-prevention manager can open or print to PDF; no images of shoppers."""
    head = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>OpenSCO flagged events</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}"
        "th{background:#eee}</style></head><body>"
    )
    summary = f"<p>Filter: {_e(f.describe() or 'all')}; {len(rows)} flag(s).</p>"
    body = [head, "<h1>Flagged events</h1>", summary, "<h2>Precision by reason</h2>"]
    body.append(precision_svg(points))
    body.append(
        "<table><tr><th>reason</th><th>bucket</th><th>confirmed</th><th>false alarms</th>"
        "<th>unlabelled</th><th>precision</th></tr>"
    )
    for p in points:
        shown = f"{p.precision:.2f}" if p.precision is not None else "–"
        body.append(
            f"<tr><td>{_e(p.reason)}</td><td>{_e(iso(p.bucket_start)[:10])}</td>"
            f"<td>{p.confirmed}</td><td>{p.false_alarms}</td><td>{p.unlabelled}</td>"
            f"<td>{shown}</td></tr>"
        )
    body.append("</table><h2>Flags</h2><table><tr>")
    body += [f"<th>{_e(c)}</th>" for c in CSV_COLUMNS]
    body.append("</tr>")
    for r in rows:
        body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in _cells(r)) + "</tr>")
    body.append("</table></body></html>")
    return "\n".join(body)

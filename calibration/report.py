"""The calibration report: one self-contained HTML file for the store's records.

No scripts, no external files: styles and plots (inline SVG) are in the page, so it opens
anywhere and prints on A4 (print styles included). A PDF is made only when a converter is
installed (``pdf_converter``: chromium/chrome headless, wkhtmltopdf or WeasyPrint); otherwise
the technician prints the HTML from a browser.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from calibration.record import CalibrationRecord, RecordedCheck, iso
from calibration.results import CheckResult, Verdict

COLOURS = {
    Verdict.PASS: ("#1b7f3b", "#e3f4e8"),
    Verdict.WARN: ("#8a5a00", "#fff3d6"),
    Verdict.FAIL: ("#b3261e", "#fbe4e2"),
    Verdict.SKIPPED: ("#555555", "#eeeeee"),
}
DEVICE_TITLES = {
    "bagging_scale": "Bagging scale",
    "scan_scale": "Scan scale",
    "camera": "Camera",
    "expected_weights": "Expected weights",
}
CSS = """
body{font:14px/1.4 system-ui,'Noto Sans','Noto Sans CJK SC',sans-serif;color:#1d1d1d;margin:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #ddd}
table{border-collapse:collapse;width:100%;margin:6px 0 12px} th,td{border:1px solid #ccc;
padding:4px 8px;text-align:left;vertical-align:top} th{background:#f3f3f3}
.v{font-weight:700;padding:2px 8px;border-radius:4px;display:inline-block}
.num{text-align:right;font-variant-numeric:tabular-nums} .advice{color:#444;font-size:13px}
.meta td:first-child{width:190px;font-weight:600} .plot{margin:4px 0 12px}
.small{font-size:12px;color:#555}
@media print{body{margin:10mm} h2{break-after:avoid} tr,svg{break-inside:avoid}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: Verdict) -> str:
    fg, bg = COLOURS[verdict]
    return f'<span class="v" style="color:{fg};background:{bg}">{_e(verdict.value.upper())}</span>'


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}".rstrip("0").rstrip(".")
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or "—"
    return str(value)


def _limit_for(key: str, limits: Mapping[str, Any]) -> Any:
    """The limit a figure was judged against: same key, or ``max_<key>``/``min_<key>``."""
    for candidate in (key, f"max_{key}", f"min_{key}", f"{key}_max", f"{key}_min"):
        if candidate in limits:
            return limits[candidate]
    return None


def figures_table(entry: RecordedCheck) -> str:
    result, before = entry.after, entry.before
    rows = []
    for key, value in result.figures.items():
        prior = before.figures.get(key) if before else None
        limit = _limit_for(key, result.limits)
        cells = [f"<td>{_e(key)}</td>"]
        if before:
            cells.append(f'<td class="num">{_e(_fmt(prior))}</td>')
        cells += [
            f'<td class="num">{_e(_fmt(value))}</td>',
            f'<td class="num">{_e(_fmt(limit))}</td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    used = {k for key in result.figures for k in (key, f"max_{key}", f"min_{key}")}
    extra = {k: v for k, v in result.limits.items() if k not in used}
    head = "<th>Figure</th>" + ("<th>Before</th><th>After</th>" if before else "<th>Measured</th>")
    body = "".join(rows)
    out = f"<table><tr>{head}<th>Limit</th></tr>{body}</table>"
    if extra:
        out += f'<div class="small">Limits: {_e(_fmt(extra))}</div>'
    return out


def svg_plot(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    band: Sequence[float] | None = None,
    x_label: str = "",
    y_label: str = "",
    width: int = 520,
    height: int = 240,
) -> str:
    """A small line-and-points plot; ``band`` draws ±band[i] as the tolerance envelope."""
    if not xs or len(xs) != len(ys):
        return ""
    left, right, top, bottom = 56, 12, 12, 40
    lo_y = min([*ys, *(-b for b in band or [])], default=0.0)
    hi_y = max([*ys, *(band or [])], default=0.0)
    lo_y, hi_y = min(lo_y, 0.0), max(hi_y, 0.0)
    if hi_y - lo_y < 1e-9:
        lo_y, hi_y = lo_y - 1, hi_y + 1
    pad = (hi_y - lo_y) * 0.1
    lo_y, hi_y = lo_y - pad, hi_y + pad
    lo_x, hi_x = min(xs), max(xs)
    if hi_x - lo_x < 1e-9:
        lo_x, hi_x = lo_x - 1, hi_x + 1

    def px(x: float) -> float:
        return left + (x - lo_x) / (hi_x - lo_x) * (width - left - right)

    def py(y: float) -> float:
        return top + (hi_y - y) / (hi_y - lo_y) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="plot">',
        f'<rect x="{left}" y="{top}" width="{width - left - right}" '
        f'height="{height - top - bottom}" fill="#fafafa" stroke="#bbb"/>',
    ]
    if band:
        upper = " ".join(f"{px(x):.1f},{py(b):.1f}" for x, b in zip(xs, band, strict=True))
        lower = " ".join(
            f"{px(x):.1f},{py(-b):.1f}" for x, b in reversed(list(zip(xs, band, strict=True)))
        )
        parts.append(
            f'<polygon points="{upper} {lower}" fill="#e3f4e8" stroke="#1b7f3b" '
            'stroke-dasharray="4 3"/>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{py(0):.1f}" y2="{py(0):.1f}" stroke="#888"/>'
    )
    line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    parts.append(f'<polyline points="{line}" fill="none" stroke="#1f4e9c" stroke-width="2"/>')
    for x, y in zip(xs, ys, strict=True):
        outside = band is not None and abs(y) > band[list(xs).index(x)]
        colour = "#b3261e" if outside else "#1f4e9c"
        parts.append(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{colour}">'
            f"<title>{_e(_fmt(x))}: {_e(_fmt(y))}</title></circle>"
        )
    for value, anchor in ((lo_y + pad, "lo"), (hi_y - pad, "hi"), (0.0, "zero")):
        del anchor
        parts.append(
            f'<text x="{left - 6}" y="{py(value) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{_e(_fmt(round(value, 1)))}</text>'
        )
    for x in xs:
        parts.append(
            f'<text x="{px(x):.1f}" y="{height - bottom + 14}" font-size="11" '
            f'text-anchor="middle">{_e(_fmt(x))}</text>'
        )
    parts.append(
        f'<text x="{(left + width) / 2:.0f}" y="{height - 6}" font-size="12" '
        f'text-anchor="middle">{_e(x_label)}</text>'
    )
    mid_y = (top + height - bottom) / 2
    parts.append(
        f'<text x="12" y="{mid_y:.0f}" font-size="12" '
        f'text-anchor="middle" transform="rotate(-90 12 {mid_y:.0f})">'
        f"{_e(y_label)}</text></svg>"
    )
    return "".join(parts)


def plot_for(result: CheckResult) -> str:
    """The plot a result's ``series`` asks for: an error curve against its tolerance band
    (linearity: error vs applied load), else the first series against its index."""
    s = result.series
    if "applied_g" in s and "error_g" in s:
        return svg_plot(
            s["applied_g"],
            s["error_g"],
            band=s.get("mpe_g"),
            x_label="applied load (g)",
            y_label="error (g)",
        )
    for name, values in s.items():
        if values:
            return svg_plot(list(range(1, len(values) + 1)), values, x_label="#", y_label=name)
    return ""


def render_html(record: CalibrationRecord, *, title: str = "Lane calibration report") -> str:
    finished = iso(record.finished_ts) if record.finished_ts else "not finished"
    meta = [
        ("Store / lane", f"{record.store_id} / {record.kiosk_id}"),
        ("Technician", record.technician),
        ("Started (UTC)", iso(record.started_ts)),
        ("Finished (UTC)", finished),
        ("Record id", record.record_id),
        ("Software version", f"OpenSCO {record.software_version}"),
    ]
    for name, info in sorted(record.models.items()):
        if "sha256" in info:
            text = (
                f"{info.get('version')} (card {info.get('card_version')}), "
                f"sha256 {info.get('sha256')}"
            )
        else:
            text = f"unavailable: {info.get('error')}"
        meta.append((f"Model {name}", text))
    if record.event_seq:
        meta.append(
            ("Sent to the backend as", f"calibration_recorded event seq {record.event_seq}")
        )
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in meta)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)} — {_e(record.kiosk_id)} — {_e(finished)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Overall verdict: {_badge(record.verdict)}</p>",
        f'<table class="meta">{rows}</table>',
        _summary_table(record),
    ]
    for device in _device_order(record):
        out.append(f"<h2>{_e(DEVICE_TITLES.get(device, device))}</h2>")
        for entry in (c for c in record.checks if c.after.device == device):
            out.append(_check_section(entry))
    if record.applied_settings:
        out.append("<h2>Settings written to the lane's configuration</h2>")
        out.append("<table><tr><th>Setting</th><th>Before</th><th>After</th></tr>")
        for section, values in sorted(record.applied_settings.items()):
            for key, change in sorted(values.items()):
                out.append(
                    f"<tr><td>[{_e(section)}] {_e(key)}</td>"
                    f'<td class="num">{_e(_fmt(change.get("before")))}</td>'
                    f'<td class="num">{_e(_fmt(change.get("after")))}</td></tr>'
                )
        out.append("</table>")
    out.append(
        '<p class="small">Legal-for-trade adjustment belongs to the scale and its '
        "service; this tool verifies and records. Generated by sco calibrate.</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _device_order(record: CalibrationRecord) -> list[str]:
    seen: list[str] = []
    for entry in record.checks:
        if entry.after.device not in seen:
            seen.append(entry.after.device)
    return seen


def _summary_table(record: CalibrationRecord) -> str:
    rows = []
    for entry in record.checks:
        r = entry.after
        before = f"{_badge(entry.before.verdict)} → " if entry.before else ""
        device = DEVICE_TITLES.get(r.device, r.device)
        rows.append(
            f"<tr><td>{_e(device)}</td><td>{_e(r.check)}</td>"
            f"<td>{before}{_badge(r.verdict)}</td><td>{entry.runs}</td></tr>"
        )
    return (
        "<table><tr><th>Device</th><th>Check</th><th>Verdict</th><th>Runs</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _check_section(entry: RecordedCheck) -> str:
    r = entry.after
    parts = [
        f"<h3>{_e(r.check)} {_badge(r.verdict)}"
        + (f' <span class="small">(unit: {_e(r.unit)})</span>' if r.unit else "")
        + "</h3>",
        figures_table(entry),
    ]
    if r.advice:
        parts.append(f'<p class="advice">{_e(r.advice)}</p>')
    if entry.before and entry.before.advice and entry.before.verdict is not Verdict.PASS:
        parts.append(f'<p class="advice small">Before adjustment: {_e(entry.before.advice)}</p>')
    parts.append(plot_for(r))
    return "\n".join(p for p in parts if p)


# --- PDF ----------------------------------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def pdf_converter() -> str | None:
    """The first PDF maker installed: a headless browser, wkhtmltopdf or WeasyPrint."""
    for name in (*BROWSERS, "wkhtmltopdf"):
        if shutil.which(name):
            return name
    try:
        import weasyprint  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return None
    return "weasyprint"


def write_pdf(html_path: Path, pdf_path: Path, converter: str, timeout_s: float = 120) -> None:
    """Convert with ``converter``; raises RuntimeError with its output when it fails."""
    if converter == "weasyprint":
        import weasyprint

        weasyprint.HTML(filename=str(html_path)).write_pdf(str(pdf_path))
        return
    with tempfile.TemporaryDirectory() as profile:
        if converter == "wkhtmltopdf":
            cmd = [converter, "--quiet", str(html_path), str(pdf_path)]
        else:
            cmd = [
                converter,
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf_path}",
                html_path.resolve().as_uri(),
            ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or not pdf_path.is_file():
        raise RuntimeError(f"{converter} failed ({done.returncode}): {done.stderr[-500:]}")

"""The tolerance trade-off as a hand-written SVG (no plotting library on a kiosk).

y: false interventions per 100 honest sessions; x: recall (the weight-based fraud classes
and all frauds) as ``security.weight_tolerance_k`` varies; each point is labelled with k.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from kiosk.files import write_atomically

WIDTH, HEIGHT = 720, 480
LEFT, RIGHT, TOP, BOTTOM = 80, 200, 50, 60
SERIES: tuple[tuple[str, str, str], ...] = (
    ("weight_classes_recall", "weight-based classes", "#1f77b4"),
    ("fraud_recall", "all frauds", "#d62728"),
)
TARGET_PER_100 = 1.0  # issue 6: at most 1 false intervention per 100 honest sessions


def _nice_ceiling(value: float) -> float:
    if value <= 1.0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _fmt_k(k: float) -> str:
    return f"{k:g}"


def render_svg(points: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """SVG text for sweep points (dicts with k, the recalls and the false-alert rate)."""
    usable = [p for p in points if p.get("false_interventions_per_100_honest") is not None]
    xs = [float(p[key]) for p in usable for key, _, _ in SERIES if p.get(key) is not None]
    x_lo = min([math.floor(min(xs) * 10) / 10] if xs else [0.0])
    x_lo = min(x_lo, 0.9)
    x_hi = 1.0
    rates = [float(p["false_interventions_per_100_honest"]) for p in usable]
    y_hi = _nice_ceiling(max([*rates, 1.0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - y / y_hi * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2:.0f}" y="24" text-anchor="middle" font-size="15">'
        f"{escape(title or 'False interventions against recall as the weight tolerance k varies')}"
        "</text>",
    ]
    for i in range(6):  # grid and tick labels
        xv = x_lo + (x_hi - x_lo) * i / 5
        yv = y_hi * i / 5
        out.append(
            f'<line x1="{sx(xv):.1f}" y1="{TOP}" x2="{sx(xv):.1f}" y2="{TOP + plot_h}" '
            'stroke="#e0e0e0"/>'
        )
        out.append(
            f'<text x="{sx(xv):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{xv:.2f}</text>'
        )
        out.append(
            f'<line x1="{LEFT}" y1="{sy(yv):.1f}" x2="{LEFT + plot_w}" y2="{sy(yv):.1f}" '
            'stroke="#e0e0e0"/>'
        )
        out.append(f'<text x="{LEFT - 8}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:g}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="black"/>'
    )
    if y_hi >= TARGET_PER_100:
        y = sy(TARGET_PER_100)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#2ca02c" '
            'stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<text x="{LEFT + plot_w - 4}" y="{y - 5:.1f}" text-anchor="end" fill="#2ca02c">'
            "target: 1 per 100</text>"
        )
    out.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 18}" text-anchor="middle">'
        "recall (caught by an alert or a flag)</text>"
    )
    out.append(
        f'<text transform="translate(22 {TOP + plot_h / 2:.0f}) rotate(-90)" '
        'text-anchor="middle">false interventions per 100 honest sessions</text>'
    )
    ordered = sorted(usable, key=lambda p: p["k"])
    for n, (key, name, colour) in enumerate(SERIES):
        pts = [
            (sx(p[key]), sy(p["false_interventions_per_100_honest"]), p["k"])
            for p in ordered
            if p.get(key) is not None
        ]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
        # Points that coincide (k changed nothing) share one label: "k=1, 1.5".
        groups: dict[tuple[float, float], list[float]] = {}
        for x, y, k in pts:
            groups.setdefault((round(x, 1), round(y, 1)), []).append(k)
        for (x, y), ks in groups.items():
            label = "k=" + ", ".join(_fmt_k(k) for k in ks)
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
            out.append(
                f'<text x="{x + 6:.1f}" y="{y - 6 - 12 * n:.1f}" fill="{colour}" '
                f'font-size="11">{escape(label)}</text>'
            )
        ly = TOP + 20 + 22 * n
        lx = LEFT + plot_w + 16
        out.append(f'<circle cx="{lx}" cy="{ly}" r="5" fill="{colour}"/>')
        out.append(f'<text x="{lx + 12}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(path: str | Path, points: Sequence[Mapping[str, Any]], title: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, render_svg(points, title))
    return path

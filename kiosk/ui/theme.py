"""Look of the shopper screens: the CJK font, sizes in dp/sp, and two palettes.

Sizes are device-independent (``dp`` for touch targets, ``sp`` for text) so a 15" kiosk
and a laptop show the same physical buttons; every touch target is at least 48 dp, and
large-text mode makes them bigger still. Kivy is imported only inside functions, so this
module is importable (and its numbers testable) without a display.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import ConfigError
from kiosk.fonts import find_cjk_font

FONT_NAME = "OpenSCO"  # the name kv rules use; Noto Sans CJK covers Latin and Chinese
MIN_TOUCH_DP = 48  # WCAG / Material minimum touch target

RGBA = tuple[float, float, float, float]


def _hex(code: str, alpha: float = 1.0) -> RGBA:
    code = code.lstrip("#")
    r, g, b = (int(code[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, alpha)


@dataclass(frozen=True)
class Palette:
    bg: RGBA
    panel: RGBA
    fg: RGBA
    muted: RGBA
    accent: RGBA  # primary actions (Start, Pay)
    accent_fg: RGBA
    button: RGBA  # secondary actions
    button_fg: RGBA
    warn: RGBA  # nudge / age banner
    warn_fg: RGBA
    danger: RGBA  # intervention, out of service
    danger_fg: RGBA
    ok: RGBA  # approved, suggestion card
    ok_fg: RGBA


NORMAL = Palette(
    bg=_hex("f4f6f8"), panel=_hex("ffffff"), fg=_hex("1b1f24"), muted=_hex("5a6470"),
    accent=_hex("0a7d3b"), accent_fg=_hex("ffffff"), button=_hex("dde3ea"),
    button_fg=_hex("1b1f24"), warn=_hex("ffd54a"), warn_fg=_hex("1b1f24"),
    danger=_hex("b3261e"), danger_fg=_hex("ffffff"), ok=_hex("1565c0"), ok_fg=_hex("ffffff"),
)  # fmt: skip

# Pure black/white/yellow: contrast ratios of 15:1 or more for every text/background pair.
HIGH_CONTRAST = Palette(
    bg=_hex("000000"), panel=_hex("000000"), fg=_hex("ffffff"), muted=_hex("ffffff"),
    accent=_hex("ffff00"), accent_fg=_hex("000000"), button=_hex("ffffff"),
    button_fg=_hex("000000"), warn=_hex("ffff00"), warn_fg=_hex("000000"),
    danger=_hex("ffffff"), danger_fg=_hex("000000"), ok=_hex("00ffff"), ok_fg=_hex("000000"),
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    """Text in sp, the rest in dp."""

    text_s: float
    text_m: float
    text_l: float
    text_xl: float
    text_xxl: float
    touch: float  # height of every button row
    pad: float
    gap: float

    def __post_init__(self) -> None:
        if self.touch < MIN_TOUCH_DP:
            raise ConfigError(f"touch targets must be >= {MIN_TOUCH_DP} dp, got {self.touch}")


NORMAL_SIZES = Sizes(
    text_s=16, text_m=22, text_l=30, text_xl=40, text_xxl=60, touch=64, pad=16, gap=10
)
LARGE_SIZES = Sizes(
    text_s=22, text_m=30, text_l=40, text_xl=54, text_xxl=80, touch=88, pad=20, gap=14
)


def palette(high_contrast: bool) -> Palette:
    return HIGH_CONTRAST if high_contrast else NORMAL


def sizes(large_text: bool) -> Sizes:
    return LARGE_SIZES if large_text else NORMAL_SIZES


def register_font(path: Path | None = None) -> Path:
    """Register the CJK font under ``FONT_NAME``; raises ConfigError naming the Debian
    package when no font with Chinese glyphs is installed (Kivy's Roboto has none)."""
    from kivy.core.text import LabelBase

    regular = path or find_cjk_font()
    bold = regular.with_name(regular.name.replace("Regular", "Bold"))
    LabelBase.register(
        FONT_NAME, str(regular), fn_bold=str(bold) if bold.is_file() and bold != regular else None
    )
    return regular


def apply(target: object, *, large_text: bool, high_contrast: bool) -> None:
    """Copy a palette and sizes onto the app's Kivy properties (``c_*``, ``fs_*``...),
    which every kv rule binds to, so a mode switch restyles every screen at once."""
    from kivy.metrics import dp, sp

    pal, size = palette(high_contrast), sizes(large_text)
    for name, value in vars(pal).items():
        setattr(target, f"c_{name}", value)
    for name in ("text_s", "text_m", "text_l", "text_xl", "text_xxl"):
        setattr(target, "fs_" + name[5:], sp(getattr(size, name)))
    target.touch_h = dp(size.touch)  # type: ignore[attr-defined]
    target.pad = dp(size.pad)  # type: ignore[attr-defined]
    target.gap = dp(size.gap)  # type: ignore[attr-defined]

"""Find a font that has Chinese glyphs (Kivy's bundled Roboto has none)."""

from __future__ import annotations

from pathlib import Path

from kiosk.errors import ConfigError

# Debian's fonts-noto-cjk first, then other common locations.
CJK_FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def find_cjk_font(candidates: tuple[str, ...] = CJK_FONT_CANDIDATES) -> Path:
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file():
            return path
    raise ConfigError(
        "no font with Chinese glyphs found; install Debian's fonts-noto-cjk "
        f"(looked in: {', '.join(candidates)})"
    )

"""The shopper guide's pictures, drawn with Kivy graphics (nothing to download or ship).

Each page is a flat illustration in a 160 x 120 design box that is scaled to fit the
widget and centred, so it stays sharp at any size and on the large-text layout. The
colours are fixed (not the theme's): the picture sits on its own light card, which reads
the same in the normal and the high-contrast theme.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kivy.core.text import Label as CoreLabel
from kivy.graphics import (
    Color,
    Ellipse,
    Line,
    Mesh,
    Rectangle,
    RoundedRectangle,
)
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

from kiosk.ui.theme import FONT_NAME

W, H = 160.0, 120.0  # the design box
RGBA = tuple[float, float, float, float]


def rgb(hex_colour: str, alpha: float = 1.0) -> RGBA:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


CARD = rgb("#f4f1ea")
COUNTER = rgb("#c9ced6")
COUNTER_EDGE = rgb("#9aa3ae")
DARK = rgb("#2b3440")
STEEL = rgb("#6b7785")
RED = rgb("#e0312b")
LASER = rgb("#ff3b30", 0.55)
SKIN = rgb("#f2c29b")
SKIN_EDGE = rgb("#d79b72")
GREEN = rgb("#2e9d5b")
LEAF = rgb("#3fa34d")
APPLE = rgb("#d2332b")
APPLE_LIGHT = rgb("#f06a55")
BAG = rgb("#3c8d6e")
BAG_DARK = rgb("#2a6650")
BOX = rgb("#f29e38")
BOX_SIDE = rgb("#d07c1c")
WHITE = rgb("#ffffff")
BLUE = rgb("#2f6fd6")
SCREEN = rgb("#bfe3ff")
GOLD = rgb("#e9c25a")
INK = rgb("#1d232b")


class Pen:
    """Draws in design units on a widget's canvas: ``(x, y)`` from the box's lower left."""

    def __init__(self, widget: Widget) -> None:
        self.canvas = widget.canvas
        self.k = min(widget.width / W, widget.height / H)
        self.x0 = widget.x + (widget.width - W * self.k) / 2
        self.y0 = widget.y + (widget.height - H * self.k) / 2

    def p(self, x: float, y: float) -> tuple[float, float]:
        return self.x0 + x * self.k, self.y0 + y * self.k

    def rect(self, x: float, y: float, w: float, h: float, colour: RGBA, r: float = 0) -> None:
        self.canvas.add(Color(*colour))
        pos, size = self.p(x, y), (w * self.k, h * self.k)
        if r:
            self.canvas.add(RoundedRectangle(pos=pos, size=size, radius=[r * self.k]))
        else:
            self.canvas.add(Rectangle(pos=pos, size=size))

    def oval(self, cx: float, cy: float, rx: float, ry: float, colour: RGBA) -> None:
        self.canvas.add(Color(*colour))
        self.canvas.add(
            Ellipse(pos=self.p(cx - rx, cy - ry), size=(2 * rx * self.k, 2 * ry * self.k))
        )

    def poly(self, points: list[tuple[float, float]], colour: RGBA) -> None:
        """A convex filled polygon (a fan from its first point)."""
        verts: list[float] = []
        for x, y in points:
            verts += [*self.p(x, y), 0, 0]
        self.canvas.add(Color(*colour))
        self.canvas.add(Mesh(vertices=verts, indices=list(range(len(points))), mode="triangle_fan"))

    def line(self, points: list[tuple[float, float]], colour: RGBA, width: float = 1.5) -> None:
        flat = [c for x, y in points for c in self.p(x, y)]
        self.canvas.add(Color(*colour))
        self.canvas.add(Line(points=flat, width=max(1.0, width * self.k), cap="round",
                             joint="round"))  # fmt: skip

    def arc(self, cx: float, cy: float, r: float, a0: float, a1: float, colour: RGBA,
            width: float = 1.5) -> None:  # fmt: skip
        """An arc, angles in degrees clockwise from 12 o'clock (Kivy's convention)."""
        self.canvas.add(Color(*colour))
        x, y = self.p(cx, cy)
        self.canvas.add(Line(circle=(x, y, r * self.k, a0, a1), width=max(1.0, width * self.k),
                             cap="round"))  # fmt: skip

    def text(self, s: str, cx: float, cy: float, size: float, colour: RGBA) -> None:
        label = CoreLabel(text=s, font_name=FONT_NAME, font_size=size * self.k, color=colour)
        label.refresh()
        tex = label.texture
        x, y = self.p(cx, cy)
        self.canvas.add(Color(1, 1, 1, 1))
        self.canvas.add(Rectangle(texture=tex, pos=(x - tex.width / 2, y - tex.height / 2),
                                  size=tex.size))  # fmt: skip

    def arrow_down(self, x: float, y_top: float, y_tip: float, colour: RGBA) -> None:
        self.arrow(x, y_top, x, y_tip, colour)

    def arrow(self, x0: float, y0: float, x1: float, y1: float, colour: RGBA) -> None:
        """A thick arrow from (x0, y0) with its head at (x1, y1)."""
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        ux, uy = (x1 - x0) / length, (y1 - y0) / length  # along the shaft
        bx, by = x1 - 8 * ux, y1 - 8 * uy  # where the head starts
        self.line([(x0, y0), (bx + 2 * ux, by + 2 * uy)], colour, 2.4)
        self.poly([(bx - 6 * uy, by + 6 * ux), (bx + 6 * uy, by - 6 * ux), (x1, y1)], colour)

    def check(self, cx: float, cy: float, r: float) -> None:
        self.oval(cx, cy, r, r, GREEN)
        self.line([(cx - r * 0.45, cy), (cx - r * 0.1, cy - r * 0.4), (cx + r * 0.5, cy + r * 0.4)],
                  WHITE, r * 0.2)  # fmt: skip

    def barcode(self, x: float, y: float, w: float, h: float) -> None:
        self.rect(x, y, w, h, WHITE, 1)
        widths = (1, 2, 1, 1, 3, 1, 2, 1, 1, 2, 3, 1, 1, 2, 1, 3, 1, 1, 2, 1)
        step = (w - 4) / (sum(widths) * 1.6)
        bx = x + 2
        for i, bw in enumerate(widths):
            if i % 2 == 0:
                self.rect(bx, y + 2, bw * step, h - 4, INK)
            bx += bw * step * 1.6 if i % 2 == 0 else bw * step * 0.9


def _counter(pen: Pen) -> None:
    pen.rect(0, 0, W, H, CARD, 10)
    pen.rect(6, 10, W - 12, 16, COUNTER, 3)
    pen.rect(6, 10, W - 12, 3, COUNTER_EDGE, 1)


def draw_scan(pen: Pen) -> None:
    """A hand holds a box's barcode to the scanner's red window; the scanner beeps."""
    _counter(pen)
    pen.rect(18, 24, 34, 70, DARK, 6)  # the scanner tower
    pen.rect(44, 40, 6, 40, RED, 2)  # its glass
    pen.rect(24, 30, 14, 6, STEEL, 2)
    for dy in (-14, -6, 2, 10, 18):  # the laser fan onto the barcode
        pen.line([(50, 60), (84, 60 + dy)], LASER, 0.9)
    pen.rect(96, 34, 34, 56, BOX_SIDE, 3)  # the box, side face, then front
    pen.rect(84, 36, 36, 54, BOX, 3)
    pen.barcode(86, 48, 24, 22)
    pen.text("Tea", 102, 82, 9, WHITE)
    # The hand: palm behind the box, fingers over its front edge, thumb on top.
    pen.rect(116, 44, 26, 30, SKIN, 9)
    for i in range(4):
        pen.rect(110, 46 + i * 7, 14, 6, SKIN, 3)
    pen.rect(120, 72, 10, 16, SKIN, 5)
    pen.rect(136, 40, 20, 38, SKIN_EDGE, 8)  # the wrist
    for r in (8, 14, 20):  # the beep
        pen.arc(30, 100, r, -40, 40, GREEN, 1.6)
    pen.check(140, 104, 10)


def draw_produce(pen: Pen) -> None:
    """Apples on the scale's platter; the scale shows the weight, a down arrow says 'put'."""
    _counter(pen)
    pen.rect(20, 24, 84, 10, STEEL, 3)  # the scale body
    pen.rect(12, 34, 100, 6, COUNTER_EDGE, 3)  # the platter
    for cx, cy in ((40, 50), (62, 50), (84, 50), (51, 68), (73, 68)):  # five apples
        pen.oval(cx, cy, 11, 10, APPLE)
        pen.oval(cx - 4, cy + 3, 4, 3, APPLE_LIGHT)
        pen.line([(cx, cy + 9), (cx + 1, cy + 14)], rgb("#6b4a2b"), 1.2)
        pen.oval(cx + 5, cy + 13, 4, 2, LEAF)
    pen.arrow_down(62, 112, 86, BLUE)
    pen.rect(116, 26, 38, 58, DARK, 5)  # the weight display
    pen.rect(120, 54, 30, 24, rgb("#0d1f16"), 2)
    pen.text("1.184", 135, 69, 9, rgb("#5cff8d"))
    pen.text("kg", 135, 59, 7, rgb("#5cff8d"))
    pen.rect(122, 32, 26, 16, SCREEN, 2)
    pen.text("¥9.40", 135, 40, 8, INK)


def draw_bags(pen: Pen) -> None:
    """An empty reusable bag opened in the bagging area; an item goes in after scanning."""
    _counter(pen)
    pen.rect(14, 24, 132, 6, COUNTER_EDGE, 2)  # the bagging platform
    pen.poly([(30, 30), (106, 30), (112, 88), (24, 88)], BAG)  # the bag
    pen.rect(24, 84, 88, 6, BAG_DARK, 2)  # its hem
    pen.arc(50, 90, 13, -90, 90, BAG_DARK, 2.6)  # handles
    pen.arc(86, 90, 13, -90, 90, BAG_DARK, 2.6)
    pen.oval(68, 58, 18, 14, rgb("#ffffff", 0.25))  # a recycling mark
    pen.arc(68, 58, 11, 20, 340, WHITE, 1.8)
    pen.poly([(76, 66), (82, 60), (74, 58)], WHITE)
    pen.rect(122, 82, 24, 30, BOX, 3)  # a scanned item, on its way in
    pen.barcode(125, 88, 18, 13)
    pen.arrow(118, 92, 98, 74, BLUE)
    pen.check(134, 44, 10)


def draw_pay(pen: Pen) -> None:
    """A card tapped on the payment terminal; the receipt comes out of its top."""
    _counter(pen)
    pen.rect(30, 100, 36, 16, WHITE, 1)  # the receipt, behind the terminal's top edge
    for i in range(3):
        pen.rect(34, 106 + i * 3.2, 26 - 7 * i, 1.3, COUNTER_EDGE)
    pen.rect(22, 22, 52, 84, DARK, 8)  # the terminal
    pen.rect(28, 66, 40, 32, SCREEN, 3)
    pen.text("¥36.50", 48, 87, 10, INK)
    pen.text("OK", 48, 74, 8, GREEN)
    for row in range(3):  # the keypad
        for col in range(3):
            pen.rect(31 + col * 12, 30 + row * 10, 10, 7, STEEL, 2)
    for r in (7, 12, 17):  # contactless waves, from the card towards the terminal
        pen.arc(98, 76, r, 215, 325, GREEN, 1.8)
    pen.rect(100, 60, 48, 30, BLUE, 4)  # the card, its chip and stripe
    pen.rect(106, 72, 10, 8, GOLD, 2)
    pen.rect(106, 64, 34, 3, rgb("#ffffff", 0.7))
    pen.rect(140, 52, 18, 30, SKIN, 8)  # the fingers holding it
    pen.check(140, 106, 10)


PAGES: dict[str, Callable[[Pen], None]] = {
    "scan": draw_scan,
    "produce": draw_produce,
    "bags": draw_bags,
    "pay": draw_pay,
}


class HelpPicture(Widget):
    """The picture of one guide page; redrawn when the page or the size changes."""

    page = StringProperty("scan")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self.redraw, size=self.redraw, page=self.redraw)

    def redraw(self, *_args: object) -> None:
        self.canvas.clear()
        draw = PAGES.get(self.page)
        if draw is not None and self.width > 1 and self.height > 1:
            draw(Pen(self))

"""The cart: one row per line (name, quantity or weight, amount, Remove), newest last."""

from __future__ import annotations

from collections.abc import Callable

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView
from kivy.utils import escape_markup

from kiosk.ui.strings import grams, text
from kiosk.ui.viewmodel import LineView
from kiosk.ui.widgets.base import TLabel, TouchButton


class CartList(ScrollView):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(do_scroll_x=False, **kwargs)
        self.grid = GridLayout(cols=1, size_hint_y=None, spacing=4)
        self.grid.bind(minimum_height=self.grid.setter("height"))
        self.add_widget(self.grid)
        self.rows: dict[int, BoxLayout] = {}
        self.remove_buttons: dict[int, TouchButton] = {}
        self._shown: tuple[tuple[LineView, ...], str] | None = None

    def forget(self) -> None:
        """Rebuild the rows on the next update (after a theme change resized them)."""
        self._shown = None

    def set_lines(
        self,
        lines: tuple[LineView, ...],
        lang: str,
        money: Callable[[int], str],
        on_remove: Callable[[int], None],
    ) -> None:
        if self._shown == (lines, lang):
            return  # most updates (nudges, banners) leave the cart alone
        old = self._shown
        self._shown = (lines, lang)
        if old is not None and old[1] == lang and lines[: len(old[0])] == old[0]:
            fresh = lines[len(old[0]) :]  # a scan appends: build only its row, not the cart
        else:
            self.grid.clear_widgets()
            self.rows.clear()
            self.remove_buttons.clear()
            fresh = lines
        for line in fresh:
            self.grid.add_widget(self._row(line, lang, money, on_remove))
        # The newest line is at the bottom: show it once the list outgrows the view.
        self.scroll_y = 0 if self.grid.minimum_height > self.height else 1

    def _row(
        self,
        line: LineView,
        lang: str,
        money: Callable[[int], str],
        on_remove: Callable[[int], None],
    ) -> BoxLayout:
        from kivy.app import App

        app = App.get_running_app()
        row = BoxLayout(size_hint_y=None, height=app.touch_h, spacing=app.gap)
        name = escape_markup(line.name(lang))
        if line.voided:
            name = f"[s]{name}[/s]"
        if line.weight_g is not None and line.sold_by == "weight":
            detail = grams(line.weight_g)
        else:
            detail = f"× {line.quantity}" if line.quantity != 1 else ""
        colour = app.c_muted if line.voided else app.c_fg
        cells = ((name, 0.52, "left"), (detail, 0.14, "left"),
                 (money(line.amount_minor), 0.16, "right"))  # fmt: skip
        for value, width, align in cells:
            label = TLabel(text=value, markup=True, size_hint=(width, 1), halign=align)
            label.color = colour  # after the kv rule, which binds color to the theme
            row.add_widget(label)
        btn = TouchButton(text=text("remove_item", lang), size_hint_x=0.18, hidden=line.voided)
        btn.bind(on_release=lambda _b, lid=line.line_id: on_remove(lid))
        row.add_widget(btn)
        row.line_id = line.line_id
        self.rows[line.line_id] = row
        self.remove_buttons[line.line_id] = btn
        return row

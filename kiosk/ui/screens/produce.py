"""Fruit & veg: suggested items first (with a picture when there is one), the PLU
keypad, and a search that understands English, 中文 and pinyin initials."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from kivy.properties import ColorProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.ui.screens.base import BaseScreen
from kiosk.ui.strings import grams, text
from kiosk.ui.viewmodel import ProduceChoice, ShopperState

if TYPE_CHECKING:
    from kiosk.ui.app import ShopperApp


def tile_colour(sku: str) -> tuple[float, float, float, float]:
    """A stable colour per product, dark enough for white names (contrast >= 4.5:1)."""
    h = hashlib.sha1(sku.encode()).digest()
    return (0.08 + h[0] / 1020, 0.12 + h[1] / 1100, 0.08 + h[2] / 1020, 1.0)


def resolve_image(image: str | None, root: Path | None) -> Path | None:
    """The picture's file when it exists (relative paths are under ``root``), else None."""
    if not image:
        return None
    path = Path(image)
    if not path.is_absolute() and root is not None:
        path = root / path
    return path if path.is_file() else None


class ProduceTile(ButtonBehavior, BoxLayout):
    label = StringProperty("")
    price = StringProperty("")
    sku = StringProperty("")
    tile_colour = ColorProperty((0.3, 0.3, 0.3, 1))


class ProduceScreen(BaseScreen):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.tiles: dict[str, ProduceTile] = {}
        self._shown: tuple[object, ...] | None = None
        self._state: ShopperState | None = None

    def on_pre_enter(self, *args: object) -> None:
        self.ids.search.text = ""
        self.ids.keypad.value = ""

    def show(self, state: ShopperState, app: ShopperApp) -> None:
        self._state = state
        lang = state.language
        place = state.weighing_sku is not None and not state.produce_weight_g
        self.ids.place.show(text("produce_place", lang) if place else None)
        w = state.produce_weight_g
        self.ids.weight.text = f"{text('produce_weight', lang)}: {grams(w)}" if w else ""
        self.ids.weight.hidden = not w
        self.ids.suggested.hidden = not state.produce_suggestions
        self.refresh_choices()

    def refresh_choices(self) -> None:
        from kivy.app import App

        app = App.get_running_app()
        state = self._state or app.vm.snapshot()
        query = self.ids.search.text
        key = (query, state.produce_suggestions, state.language, app.large_text)
        if key == self._shown:
            return
        self._shown = key
        grid = self.ids.choices
        grid.clear_widgets()
        self.tiles.clear()
        grid.cols = 3 if app.large_text else 4
        for choice in app.vm.produce_choices(query):
            grid.add_widget(self._tile(choice, state.language, app))

    def _tile(self, choice: ProduceChoice, lang: str, app: ShopperApp) -> ProduceTile:
        product = app.vm.catalog.by_sku(choice.sku)
        per_kg = product is not None and product.sold_by.value == "weight"
        price = app.vm.money(choice.price_minor) + ("/kg" if per_kg else "")
        tile = ProduceTile(label=choice.name(lang), sku=choice.sku, price=price)
        picture = resolve_image(choice.image, app.image_root)
        if picture is not None:
            tile.ids.picture.source = str(picture)
            tile.tile_colour = app.c_panel
            tile.ids.name.color = tile.ids.price.color = app.c_fg
        else:
            tile.remove_widget(tile.ids.picture)  # no picture: a coloured tile with the name
            tile.add_widget(Widget(), index=len(tile.children))  # centred: space above...
            tile.add_widget(Widget())  # ...and below
            tile.tile_colour = tile_colour(choice.sku) if not app.high_contrast else app.c_accent
        tile.bind(on_release=lambda _t, sku=choice.sku: app.vm.pick_produce(sku))
        self.tiles[choice.sku] = tile
        return tile

"""The lane map: a tile per kiosk of the store, coloured by what it needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.attendant.screens.assist import open_assist
from kiosk.attendant.screens.base import AttendantScreen
from kiosk.attendant.widgets import LaneTile

if TYPE_CHECKING:
    from kiosk.attendant.app import AttendantApp
    from kiosk.attendant.floor import FloorState


class TabletLanesScreen(AttendantScreen):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.tiles: dict[str, LaneTile] = {}
        self._shown: object = None

    def show(self, floor: FloorState, app: AttendantApp) -> None:
        if floor.lanes == self._shown:
            return  # only the clocks moved: refresh() keeps them current
        self._shown = floor.lanes
        grid = self.ids.grid
        grid.clear_widgets()
        self.tiles = {}
        for lane in floor.lanes:
            tile = LaneTile(app, lane, app.now(), app.open_lane,
                            on_screen=lambda kiosk: open_assist(app, kiosk))  # fmt: skip
            grid.add_widget(tile)
            self.tiles[lane.kiosk_id] = tile
        online = sum(1 for lane in floor.lanes if lane.online)
        self.ids.summary.text = (
            f"{len(floor.lanes)} lanes, {online} online"
            if floor.lanes
            else "No lanes seen yet: kiosks appear once they publish their state"
        )

    def refresh(self, now: float) -> None:
        for tile in self.tiles.values():
            tile.refresh(now)

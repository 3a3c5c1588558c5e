"""The shopper-simulator panel beside the real shopper screen.

:class:`DemoApp` is the lane's :class:`~kiosk.ui.app.ShopperApp` with a column on the right
whose buttons queue what a shopper does in front of the camera (present an item, skip
scanning it, swap its barcode, weigh produce, put a bag down, lean on the bagging area) and
what the attendant does (approve the age check, clear an alert). The buttons only queue
work for the world's thread or put one input on the lane: the UI thread never waits.
"""

from __future__ import annotations

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label

from kiosk.core.catalog import SoldBy
from kiosk.core.inputs import AttendantCommand
from kiosk.ui.app import ShopperApp
from models.scenes.catalog import product_by_code

if TYPE_CHECKING:
    from kiosk.demo.cli import DemoRig

logger = logging.getLogger(__name__)

ATTENDANT = "att-demo"
BUTTON_H = 40


def scene_products(rig: DemoRig) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(packs, loose produce) the scene can draw, as (label, code) pairs."""
    packs, produce = [], []
    for p in rig.catalog.products:
        try:
            product_by_code(p.sku)
        except Exception:
            continue  # the renderer has no look for it
        if p.sold_by is SoldBy.WEIGHT and p.plu:
            produce.append((f"{p.name_en} ({p.plu})", p.plu))
        elif p.gtins:
            packs.append((f"{p.name_en} [{p.sku}]", p.sku))
    return packs, produce


class SimulatorPanel(BoxLayout):
    """The buttons and a status log; ``rig`` holds the world, lane and view-model."""

    def __init__(self, rig: DemoRig, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", padding=8, spacing=4, **kwargs)
        self.rig = rig
        self.packs, self.produce = scene_products(rig)
        with self.canvas.before:
            Color(0.16, 0.17, 0.2, 1)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._paint, size=self._paint)
        self._title("Shopper simulator")
        self.buttons: dict[str, Button] = {}
        self.item = self._spinner([label for label, _ in self.packs])
        self._button("scan", "Present item (scan it)", lambda: self._act("scan({})"))
        self._button("skip", "Skip scanning it", lambda: self._act("skip_scan({})"))
        self._button("swap", "Swap its barcode (cheap code)", self._swap)
        self._button("remove", "Take it back out of the bag", lambda: self._act("remove({})"))
        self.fruit = self._spinner([label for label, _ in self.produce])
        self._button("weigh", "Put it on the produce scale", self._weigh)
        self._button("off_scale", "Take it off the scale", rig.world.release_produce)
        self._button("bag", "Place a bag", lambda: rig.world.do("bag_down"))
        self._button("lean", "Lean on the bagging area", rig.world.lean)
        self._button("hand", "Empty hand over the scanner", lambda: rig.world.do("hand_only"))
        self._title("Attendant")
        self._button("approve_age", "Approve age check", lambda: self._attend("approve_age"))
        self._button("approve_alert", "Approve / clear alert", self._approve_alert)
        self._button("decline", "Card terminal: decline next", self._toggle_decline)
        self.status = Label(text="", font_size=13, halign="left", valign="top",
                            color=(0.85, 0.88, 0.9, 1))  # fmt: skip
        self.status.bind(size=lambda w, s: setattr(w, "text_size", s))
        self.add_widget(self.status)
        self.last_action_at: float | None = None
        Clock.schedule_interval(self._refresh, 0.5)

    # --- building ---------------------------------------------------------------------

    def _paint(self, *_args: Any) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size

    def _title(self, text: str) -> None:
        self.add_widget(Label(text=f"[b]{text}[/b]", markup=True, font_size=17,
                              size_hint_y=None, height=30))  # fmt: skip

    def _spinner(self, values: list[str]) -> Any:
        from kivy.uix.spinner import Spinner  # imports the window: only once the app runs

        spinner = Spinner(text=values[0] if values else "", values=values, size_hint_y=None,
                          height=BUTTON_H, font_size=13)  # fmt: skip
        self.add_widget(spinner)
        return spinner

    def _button(self, key: str, text: str, action: Any) -> Button:
        button = Button(text=text, size_hint_y=None, height=BUTTON_H, font_size=14)

        def press(_widget: Any) -> None:
            self.last_action_at = time.perf_counter()
            try:
                action()
            except Exception as err:  # a panel mistake is shown, never fatal
                logger.exception("panel action failed")
                self.rig.log.recent.append(f"panel: {err}")

        button.bind(on_release=press)
        self.buttons[key] = button
        self.add_widget(button)
        return button

    # --- actions (UI thread: queue, never wait) -----------------------------------------

    def choose(self, code: str) -> bool:
        """Select the pack (SKU) or loose produce (PLU) the next button acts on."""
        for spinner, pairs in ((self.item, self.packs), (self.fruit, self.produce)):
            for label, value in pairs:
                if value == code:
                    spinner.text = label
                    return True
        return False

    def _code(self, spinner: Any, pairs: list[tuple[str, str]]) -> str:
        return dict(pairs).get(spinner.text, pairs[0][1] if pairs else "")

    def _act(self, template: str) -> None:
        self.rig.world.do(template.format(self._code(self.item, self.packs)))

    def _swap(self) -> None:
        """The chosen item wears the barcode of the cheapest other pack."""
        sku = self._code(self.item, self.packs)
        others = [p for p in self.rig.catalog.products if p.gtins and p.sku != sku
                  and any(code == p.sku for _, code in self.packs)]  # fmt: skip
        cheap = min(others, key=lambda p: p.price_minor)
        self.rig.world.do(f"switch({sku}, {cheap.sku})")

    def _weigh(self) -> None:
        self.rig.world.do(f"place_produce({self._code(self.fruit, self.produce)})")

    def _attend(self, command: str, **args: Any) -> None:
        lane = self.rig.lane
        lane.put(AttendantCommand(lane.clock(), command, ATTENDANT, args))

    def _approve_alert(self) -> None:
        view = self.rig.vm.snapshot().intervention
        if view is not None:
            self._attend("approve", alert_id=view.alert_id)
        else:
            self._attend("clear_all")

    def _toggle_decline(self) -> None:
        sim = self.rig.payment
        if sim.mode.value == "decline":
            sim.approve()
            self.buttons["decline"].text = "Card terminal: decline next"
        else:
            sim.decline()
            self.buttons["decline"].text = "Card terminal: approve again"

    # --- status ---------------------------------------------------------------------------

    def _refresh(self, _dt: float) -> None:
        w = self.rig.world.describe()
        lines = [
            f"camera {w['fps']:.0f} fps (renders {w['render_fps']:.0f})",
            f"bagging scale {w['bagging_g']} g, produce scale {w['scale_g']} g",
            f"now: {w['action'] or 'idle'}" + (" (on the scale)" if w["holding_produce"] else ""),
            "",
            *list(self.rig.log.recent)[-7:],
        ]
        self.status.text = "\n".join(lines)


class DemoApp(ShopperApp):
    """The shopper app with the simulator panel on its right."""

    def __init__(
        self,
        rig: DemoRig,
        *,
        panel: bool = True,
        shopper_size: tuple[int, int] = (1280, 800),
        panel_width: int = 320,
        **kwargs: Any,
    ) -> None:
        w, h = shopper_size
        size = (w + panel_width, h) if panel else shopper_size
        super().__init__(rig.vm, preview=rig.preview, window_size=size,
                         print_receipt=self._print, **kwargs)  # fmt: skip
        self.rig = rig
        self.with_panel = panel
        self.panel_width = panel_width
        self.panel: SimulatorPanel | None = None
        self.screenshot_dir: Path | None = None

    def _print(self, receipt: dict[str, Any]) -> None:
        """The lane prints every completed sale itself; a reprint is logged only."""
        self.rig.log.recent.append(f"reprint of receipt {receipt.get('txn_no', '')}")

    def build(self) -> Any:
        from kivy.core.window import Window

        sm = super().build()
        self.title = "OpenSCO demo"
        if not self.with_panel:
            return sm
        root = BoxLayout(orientation="horizontal")
        root.add_widget(sm)
        self.panel = SimulatorPanel(self.rig, size_hint_x=None, width=self.panel_width)
        root.add_widget(self.panel)
        Window.bind(on_key_down=self._on_key)
        return root

    def _on_key(self, _window: Any, key: int, *_args: Any) -> bool:
        if key == 292 and self.screenshot_dir is not None:  # F11: a screenshot of the screen
            path = self.screenshot_dir / f"screen-{time.strftime('%H%M%S')}.png"
            self.screenshot(path)
            self.rig.log.recent.append(f"screenshot {path}")
            return True
        return False

    def screenshot(self, path: str | Path) -> Path:
        """The shopper's screen only (without the panel), as a PNG."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.sm.export_to_png(str(out))
        return out

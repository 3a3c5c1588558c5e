"""What the camera's tracks say: items that reach the bagging area unsold, items that do
not look like what was scanned, hands and bags on the bagging area.

Sales are matched to items that arrive in the bagging area by time, not by track id: a
track that breaks between the scanner and the bag (a new id in the bagging area) still
finds the read made while it was at the scanner. Each sale pays for one arrival; an arrival
with no sale in its window (from a little before it reached the scan zone to a little after
it entered the bagging area) is a non-scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.core.inputs import ItemTrack
from kiosk.core.settings import SecuritySettings

SCAN_ZONES = frozenset({"scan", "produce_scale"})
NOT_MERCHANDISE = frozenset({"hand", "bag", "person", "purse"})


@dataclass
class TrackState:
    track_id: int
    label: str
    first_ms: int
    zone: str = "outside"
    scan_enter_ms: int | None = None  # first time in a scan zone
    bag_enter_ms: int | None = None  # first time in the bagging area
    bag_left_ms: int | None = None
    lost: bool = False
    confidence: float = 0.0
    sku: str | None = None
    identity: float | None = None
    candidates: tuple[tuple[str, float], ...] = ()
    snapshots: list[str] = field(default_factory=list)
    judged: bool = False  # its bagging arrival was matched or reported
    identity_judged: bool = False
    suggested: bool = False
    sale_line: int | None = None
    taken_back: bool = False  # carried from the bagging area back to the scanner


@dataclass
class Sale:
    line_id: int
    ts_ms: int
    sku: str
    track_id: int | None = None  # a camera read on this track
    used_by: int | None = None  # the arrival it paid for
    placed_ms: int | None = None  # the bagging scale took its item (untracked or not)
    code: str = ""
    loose: bool = False  # sold by weight: a bunch the camera may see as several items


class VisionWatch:
    def __init__(self, settings: SecuritySettings) -> None:
        self.settings = settings
        self.tracks: dict[int, TrackState] = {}
        self.sales: list[Sale] = []
        self.camera_codes: list[tuple[int, str, int | None]] = []  # evidence reads

    def seen(self) -> bool:
        return bool(self.tracks)

    # --- inputs -------------------------------------------------------------------------

    def on_track(self, t: ItemTrack) -> TrackState:
        state = self.tracks.get(t.track_id)
        if state is None:
            state = TrackState(t.track_id, t.label, t.ts_ms)
            self.tracks[t.track_id] = state
        state.label = t.label or state.label
        if not t.lost:  # an "it ended" update repeats a stale score
            state.confidence = max(state.confidence, t.confidence)
        if t.snapshot_id and t.snapshot_id not in state.snapshots:
            state.snapshots.append(t.snapshot_id)
        # A produce guess (top-k without an identity score) is not an identity.
        if t.sku is not None and not (t.candidates and t.identity_score is None):
            if t.sku != state.sku:
                state.identity_judged = False
            state.sku = t.sku
        if t.identity_score is not None:
            state.identity = t.identity_score
        if t.candidates:
            state.candidates = t.candidates
        if t.lost:
            state.lost = True
            if state.zone == "bagging":
                state.bag_left_ms = t.ts_ms
            state.zone = "outside"
            return state
        if state.zone == "bagging" and t.zone != "bagging":
            state.bag_left_ms = t.ts_ms
            if t.zone in SCAN_ZONES:
                state.taken_back = True
        state.zone = t.zone
        if t.zone in SCAN_ZONES and state.bag_enter_ms is not None:
            state.taken_back = True  # back at the scanner after being in the bagging area
        if t.zone in SCAN_ZONES and state.scan_enter_ms is None and state.bag_enter_ms is None:
            state.scan_enter_ms = t.ts_ms
        if t.zone == "bagging" and state.bag_enter_ms is None:
            state.bag_enter_ms = t.ts_ms
        return state

    def add_sale(
        self,
        line_id: int,
        ts_ms: int,
        sku: str,
        track_id: int | None,
        code: str = "",
        loose: bool = False,
    ) -> Sale:
        code = code.strip().lstrip("0")  # UPC-A, EAN-13 and GTIN-14 forms of one code
        if track_id is None:
            track_id = self._camera_saw(code, ts_ms)
        sale = Sale(line_id, ts_ms, sku, track_id, code=code, loose=loose)
        self.sales.append(sale)
        if track_id is not None and track_id in self.tracks:
            self.tracks[track_id].sale_line = line_id
        return sale

    def camera_read(self, code: str, ts_ms: int, track_id: int | None) -> None:
        """A camera read that does not sell (a scanner lane) still says which tracked item
        the scanner's sale of the same code was made on."""
        if track_id is None:
            return
        code = code.strip().lstrip("0")
        self.camera_codes.append((ts_ms, code, track_id))
        for sale in reversed(self.sales):
            if sale.code == code and sale.track_id is None and abs(ts_ms - sale.ts_ms) <= 2_000:
                sale.track_id = track_id
                if track_id in self.tracks:
                    self.tracks[track_id].sale_line = sale.line_id
                return

    def _camera_saw(self, code: str, ts_ms: int) -> int | None:
        for seen_ms, seen_code, track_id in reversed(self.camera_codes):
            if seen_code == code and abs(ts_ms - seen_ms) <= 2_000:
                return track_id
        return None

    def in_scan_zone_unpaid(self, except_track: int | None = None) -> list[TrackState]:
        """Items at the scanner now that no sale has been tied to yet."""
        return [
            s
            for s in self.tracks.values()
            if self.is_item(s)
            and not s.lost
            and s.zone in SCAN_ZONES
            and s.sale_line is None
            and s.track_id != except_track
        ]

    def placed(self, line_id: int, ts_ms: int) -> None:
        for sale in self.sales:
            if sale.line_id == line_id and sale.placed_ms is None:
                sale.placed_ms = ts_ms

    def void_sale(self, line_id: int) -> None:
        self.sales = [s for s in self.sales if s.line_id != line_id]

    # --- questions the monitor asks ---------------------------------------------------

    def is_item(self, state: TrackState) -> bool:
        return (
            state.label not in NOT_MERCHANDISE
            and state.confidence >= self.settings.min_track_confidence
        )

    def due_arrivals(self, now_ms: int) -> list[TrackState]:
        """Item arrivals in the bagging area whose read window has closed, oldest first."""
        due = [
            s
            for s in self.tracks.values()
            if not s.judged
            and s.bag_enter_ms is not None
            and self.is_item(s)
            and now_ms >= s.bag_enter_ms + self.settings.read_after_ms
        ]
        return sorted(due, key=lambda s: (s.bag_enter_ms or 0, s.track_id))

    def _free_sales(self, state: TrackState) -> list[Sale]:
        first = state.scan_enter_ms if state.scan_enter_ms is not None else state.first_ms
        start = first - self.settings.read_before_ms
        end = (state.bag_enter_ms or first) + self.settings.read_after_ms
        # A sale whose item the scale had already taken before this one came along cannot
        # pay for it (an untracked item left its sale free; it must not excuse the next).
        free = [
            s
            for s in self.sales
            if (s.used_by is None or s.loose)
            and start <= s.ts_ms <= end
            and (s.placed_ms is None or s.placed_ms >= first)
            and not self._held_by_other(s, state)
        ]
        own = [s for s in free if s.track_id == state.track_id]
        return own or free

    def _held_by_other(self, sale: Sale, state: TrackState) -> bool:
        """A sale the camera tied to another track stays that track's while the track may
        still arrive; if it ended without reaching the bagging area, it probably broke
        and this may be the same item under a new id."""
        if sale.track_id is None or sale.track_id == state.track_id:
            return False
        owner = self.tracks.get(sale.track_id)
        if owner is None:
            return False
        return not owner.lost or owner.bag_enter_ms is not None

    def has_free_sale(self, state: TrackState) -> bool:
        return bool(self._free_sales(state))

    def match_sale(self, state: TrackState) -> Sale | None:
        """Give the arrival the sale that paid for it, if there is one (marks both used)."""
        state.judged = True
        free = self._free_sales(state)
        if not free:
            return None
        free[0].used_by = state.track_id
        return free[0]

    def came_through_scan_zone(self, state: TrackState) -> bool:
        return state.scan_enter_ms is not None

    def clutter_in_bagging(self, now_ms: int) -> list[TrackState]:
        """Hands, bags or purses in the bagging area now or a moment ago."""
        window = self.settings.hand_window_ms
        return [
            s
            for s in self.tracks.values()
            if s.label in NOT_MERCHANDISE
            and (
                s.zone == "bagging"
                or (s.bag_left_ms is not None and now_ms - s.bag_left_ms <= window)
            )
        ]

    def item_arrivals_since(self, since_ms: int) -> list[TrackState]:
        return [
            s
            for s in self.tracks.values()
            if self.is_item(s) and s.bag_enter_ms is not None and s.bag_enter_ms >= since_ms
        ]

    def track_for_line(self, line_id: int, sku: str, ts_ms: int) -> TrackState | None:
        """The tracked item a sale was most likely made on (camera id, else scan zone)."""
        for s in self.tracks.values():
            if s.sale_line == line_id:
                return s
        near = [
            s
            for s in self.tracks.values()
            if self.is_item(s)
            and s.scan_enter_ms is not None
            and s.scan_enter_ms - self.settings.read_before_ms <= ts_ms
            and (s.bag_enter_ms is None or s.bag_enter_ms >= ts_ms - self.settings.read_after_ms)
        ]
        return max(near, key=lambda s: s.scan_enter_ms or 0) if near else None

    def sale_for_identity(self, state: TrackState, now_ms: int) -> Sale | None:
        """The sale an identity score speaks about: same track, else same SKU just before."""
        for s in reversed(self.sales):
            if s.track_id == state.track_id:
                return s
        for s in reversed(self.sales):
            if s.sku == state.sku and now_ms - s.ts_ms <= 5_000:
                return s
        return None

"""ReadDebouncer: one presentation = one read; the same code again after it left = a new read."""

from __future__ import annotations

import pytest

from vision.barcodes.debounce import DEFAULT_GAP_MS, ReadDebouncer
from vision.types import BarcodeHit

A = BarcodeHit("5901234123457", "ean13", "05901234123457", decoder="zxing")
A_ZBAR = BarcodeHit("5901234123457", "ean13", "05901234123457", decoder="zbar")
B = BarcodeHit("96385074", "ean8", "00000096385074")
TEXT = BarcodeHit("SCO-4711", "code128", None)
FRAME_MS = 33


def frames(d: ReadDebouncer, seen: list[list[BarcodeHit]], start: int = 0) -> list[list[str]]:
    """Feed one list of hits per frame at 30 fps; the keys of the new reads per frame."""
    return [
        [h.gtin or h.text for h in d.update(hits, start + i * FRAME_MS)]
        for i, hits in enumerate(seen)
    ]


def test_many_frames_of_one_presentation_are_one_read() -> None:
    d = ReadDebouncer()
    out = frames(d, [[A]] * 60)
    # An EAN needs a second frame to confirm it (a weak check digit); then never again.
    assert out[:2] == [[], [A.gtin]] and all(r == [] for r in out[2:])


def test_strongly_checked_codes_count_on_their_first_frame() -> None:
    d = ReadDebouncer()
    databar = BarcodeHit("0109501101530003", "databar", "09501101530003")
    assert d.update([databar, TEXT, A], 0) == [databar, TEXT]
    assert d.update([databar, TEXT, A], 33) == [A]


def test_a_one_frame_ean_misread_never_becomes_a_read() -> None:
    d = ReadDebouncer()
    misread = BarcodeHit("5901234123464", "ean13", "05901234123464")
    out = frames(d, [[A], [misread], [A], [A], [], [A]])
    assert out == [[], [], [A.gtin], [], [], []]
    assert sum(len(r) for r in frames(d, [[]] * 30 + [[A]], start=300)) == 0


def test_confirm_frames_one_reads_at_once() -> None:
    d = ReadDebouncer(confirm_frames=1)
    assert d.update([A], 0) == [A]
    assert d.update([A], 33) == []


def test_flicker_within_the_gap_stays_one_read() -> None:
    d = ReadDebouncer(gap_ms=800)
    seen = [[A], [], [], [A_ZBAR], [], [], [], [], [], [A]] + [[]] * 5 + [[A]]
    out = frames(d, seen)
    assert sum(len(r) for r in out) == 1


def test_same_code_after_it_left_for_the_gap_is_a_new_read() -> None:
    d = ReadDebouncer(gap_ms=800, confirm_frames=1)
    assert d.update([A], 0) == [A]
    assert d.update([A], 500) == []  # last seen at 500 now
    assert d.update([A], 1300) == []  # 800 ms after the last sighting: still the same
    assert d.update([A], 2101) == [A]  # 801 ms without it: it had left
    d2 = ReadDebouncer(gap_ms=800)
    assert frames(d2, [[A], [A]]) == [[], [A.gtin]]
    assert frames(d2, [[A], [A]], start=1000) == [[], [A.gtin]]


def test_two_codes_in_one_frame_are_two_reads_and_duplicates_one() -> None:
    d = ReadDebouncer(confirm_frames=1)
    assert [h.gtin for h in d.update([A, B, A_ZBAR], 0)] == [A.gtin, B.gtin]
    assert d.update([B, A], 33) == []
    assert d.present == {A.gtin, B.gtin}


def test_a_second_code_joining_later_is_read_once() -> None:
    d = ReadDebouncer()
    out = frames(d, [[A], [A], [A, B], [A, B], [B], [A, B]])
    assert out == [[], [A.gtin], [], [B.gtin], [], []]


def test_item_left_ends_the_presentation_at_once() -> None:
    d = ReadDebouncer(confirm_frames=1)
    d.update([A, B], 0)
    assert d.item_left("5901234123457")  # an EAN-13 form of the GTIN works too
    assert not d.item_left("5901234123457")
    assert d.update([A, B], 33) == [A]


def test_item_left_by_text_for_codes_without_gtin() -> None:
    d = ReadDebouncer()
    d.update([TEXT], 0)
    assert d.item_left("SCO-4711")
    assert d.update([TEXT], 33) == [TEXT]


def test_zone_cleared_ends_every_presentation() -> None:
    d = ReadDebouncer(confirm_frames=1)
    d.update([A, B], 0)
    d.zone_cleared()
    assert d.present == frozenset()
    assert len(d.update([A, B], 33)) == 2


def test_a_frame_stamped_earlier_does_not_shorten_a_presentation() -> None:
    d = ReadDebouncer(gap_ms=800, confirm_frames=1)
    d.update([A], 1000)
    d.update([A], 900)  # a clock step backwards
    assert d.update([A], 1700) == []


def test_expire_without_hits() -> None:
    d = ReadDebouncer(gap_ms=100)
    d.update([A], 0)
    d.expire(50)
    assert d.present == {A.gtin}
    d.expire(101)
    assert d.present == frozenset()


def test_gap_must_be_positive_and_default_is_sensible() -> None:
    with pytest.raises(ValueError, match="gap_ms"):
        ReadDebouncer(gap_ms=0)
    with pytest.raises(ValueError, match="confirm_frames"):
        ReadDebouncer(confirm_frames=0)
    assert 300 <= DEFAULT_GAP_MS <= 2000

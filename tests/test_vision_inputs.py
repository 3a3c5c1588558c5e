"""The inputs vision hands the core: camera reads tied to a track, identity scores, evidence."""

import math

import pytest

from kiosk.core.inputs import (
    BarcodeRead,
    InputFormatError,
    ItemTrack,
    input_from_dict,
    input_to_dict,
)


def test_camera_read_keeps_its_track_through_the_codec() -> None:
    read = BarcodeRead(1500, "05012345678900", "ean13", "camera", track_id=7)
    assert input_from_dict(input_to_dict(read)) == read


def test_track_identity_and_snapshot_round_trip() -> None:
    track = ItemTrack(2000, 3, "item", "scan", 0.9, "5012345678900", False, 0.25, "snap-1")
    record = input_to_dict(track)
    assert record["identity_score"] == 0.25 and record["snapshot_id"] == "snap-1"
    assert input_from_dict(record) == track


def test_older_logs_keep_their_shape() -> None:
    # A read with no track and a track with no identity write the fields they always did.
    assert "track_id" not in input_to_dict(BarcodeRead(0, "123"))
    record = input_to_dict(ItemTrack(0, 1, "item", "scan"))
    assert "identity_score" not in record and "snapshot_id" not in record


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, "0.5", True])
def test_identity_score_outside_unit_range_is_refused(bad: object) -> None:
    record = {"t": 0, "type": "track", "track_id": 1, "label": "item", "zone": "scan"}
    with pytest.raises(InputFormatError):
        input_from_dict({**record, "identity_score": bad})


def test_camera_reads_add_items_only_where_the_camera_does_the_scanning(
    example_catalog: object,
) -> None:
    from kiosk.core.session import Checkout
    from kiosk.core.settings import CoreSettings

    code = next(p.gtins[0] for p in example_catalog if p.gtins)  # type: ignore[attr-defined]
    for camera_scans, expected in ((True, 1), (False, 0)):
        checkout = Checkout(example_catalog, CoreSettings(camera_scans=camera_scans))  # type: ignore[arg-type]
        checkout.apply(BarcodeRead(1000, code, "ean13", "camera", track_id=4))
        assert len(checkout.lines) == expected
        checkout.apply(BarcodeRead(5000, code, "ean13", "scanner"))
        assert len(checkout.lines) == expected + 1

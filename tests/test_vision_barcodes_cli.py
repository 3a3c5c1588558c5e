"""``sco decode``: one line per image, path echoed exactly, unreadable files reported."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cv2
import pytest

from kiosk.cli import main
from tests.barcode_render import Code, compose, random_code

UPCA = random_code("upca", random.Random(4)).content


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    rng = random.Random(3)
    one = compose([Code("ean13", "5901234123457", None)], rng, size=(640, 480)).image
    two = compose(
        [Code("upca", UPCA, None), Code("databar", "(01)09501101530003", None)],
        rng,
        size=(1000, 480),
        ppm=2.5,
    ).image
    paths = {
        "one": tmp_path / "one.png",
        "two": tmp_path / "two codes.jpg",
        "blank": tmp_path / "blank.png",
        "broken": tmp_path / "broken.png",
    }
    cv2.imwrite(str(paths["one"]), one)
    cv2.imwrite(str(paths["two"]), two, [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(paths["blank"]), one[:40, :40] * 0 + 255)
    paths["broken"].write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return paths


def _lines(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.splitlines()]


def test_json_lines_with_paths_echoed_exactly(
    images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    sub = tmp_path / "sub"
    sub.mkdir()
    odd = f".//sub/..{os.sep}one.png"
    (tmp_path / "Müsli 1 €.png").write_bytes(images["one"].read_bytes())
    args = [odd, str(images["two"]), "blank.png", "broken.png", "missing.png", "Müsli 1 €.png"]
    status = main(["decode", "--json", *args])
    out = _lines(capsys.readouterr().out)
    assert status == 1
    assert [line["path"] for line in out] == args
    assert out[0]["codes"] == [
        {"text": "5901234123457", "symbology": "ean13", "gtin": "05901234123457"}
    ]
    assert "error" not in out[0]
    two = sorted((c["symbology"], c["gtin"]) for c in out[1]["codes"])
    assert two == [("databar", "09501101530003"), ("upca", UPCA.zfill(14))]
    assert out[2] == {"path": "blank.png", "codes": []}
    assert out[3]["codes"] == [] and "decode" in out[3]["error"]
    assert out[4]["codes"] == [] and "no such file" in out[4]["error"]
    assert out[5]["codes"] == out[0]["codes"]


def test_all_readable_exits_zero(images: dict[str, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["decode", "--json", str(images["one"]), str(images["blank"])]) == 0
    assert len(_lines(capsys.readouterr().out)) == 2


def test_human_output_one_line_per_image(images: dict[str, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    status = main(["decode", str(images["one"]), str(images["blank"]), str(images["broken"])])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1 and len(lines) == 3
    assert lines[0] == f"{images['one']}: ean13 5901234123457 GTIN 05901234123457"
    assert lines[1] == f"{images['blank']}: no code"
    assert lines[2].startswith(f"{images['broken']}: ERROR: ")


def test_directory_is_an_error_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["decode", "--json", str(tmp_path)]) == 1
    (line,) = _lines(capsys.readouterr().out)
    assert line == {"path": str(tmp_path), "codes": [], "error": "is a directory"}


def test_pyzbar_bundled_scans_read(capsys) -> None:  # type: ignore[no-untyped-def]
    """pyzbar ships two real-world-ish test images: a scan of two Code128s and a QR code."""
    pyzbar_tests = Path(__import__("pyzbar").__file__).parent / "tests"
    files = [pyzbar_tests / "code128.png", pyzbar_tests / "qrcode.png"]
    if not all(f.exists() for f in files):
        pytest.skip("pyzbar's test images are not installed")
    assert main(["decode", "--json", *map(str, files)]) == 0
    out = _lines(capsys.readouterr().out)
    assert sorted(c["text"] for c in out[0]["codes"]) == ["Foramenifera", "Rana temporaria"]
    assert [c["text"] for c in out[1]["codes"]] == ["Thalassiodracon"]

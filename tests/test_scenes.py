"""The scene renderer: data set layout and determinism, exact labels, real barcodes, videos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
import zxingcpp

from kiosk.core.barcodes import normalize_gtin
from kiosk.errors import KioskError
from models.render_cli import register
from models.scenes import photos
from models.scenes.background import render_background
from models.scenes.catalog import load_products, product_by_code
from models.scenes.compose import Layer, Scene, place
from models.scenes.dataset import Kit, render_detection_dataset, render_image
from models.scenes.layout import load_layout
from models.scenes.packaging import Sprite, render_package
from models.scenes.script import parse_script
from models.scenes.video import LIFT, gtin14, iter_scenario_frames, render_scenario_video


@pytest.fixture
def no_photos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The grocery photo folder is absent: everything must fall back to procedural items."""
    monkeypatch.setattr(photos, "GROCERY_ROOT", tmp_path / "no-such-folder")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "data.yaml"  # data.yaml holds the absolute path
    }


def test_dataset_layout_and_yaml(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    data = render_detection_dataset(out, n_train=4, n_val=2, n_test=1, seed=5)
    doc = yaml.safe_load(data.read_text(encoding="utf-8"))
    assert doc["names"] == {0: "item", 1: "hand", 2: "bag"}
    assert Path(doc["path"]) == out.resolve() and Path(doc["path"]).is_absolute()
    for split, n in (("train", 4), ("val", 2), ("test", 1)):
        images = sorted((out / doc[split]).glob("*.jpg"))
        labels = sorted((out / "labels" / split).glob("*.txt"))
        assert len(images) == n and [p.stem for p in images] == [p.stem for p in labels]
        for img_path in images:
            assert cv2.imread(str(img_path)).shape == (480, 640, 3)
    n_labels = 0
    for lab in (out / "labels").rglob("*.txt"):
        for line in lab.read_text().splitlines():
            cls, cx, cy, w, h = line.split()
            assert cls in {"0", "1", "2"}
            cx, cy, w, h = map(float, (cx, cy, w, h))
            assert 0 < w <= 1 and 0 < h <= 1
            assert cx - w / 2 >= -1e-6 and cx + w / 2 <= 1 + 1e-6
            assert cy - h / 2 >= -1e-6 and cy + h / 2 <= 1 + 1e-6
            n_labels += 1
    assert n_labels >= 7  # scenes are never all empty


def test_dataset_is_deterministic_per_seed_and_worker_count(tmp_path: Path) -> None:
    a = render_detection_dataset(tmp_path / "a", n_train=3, n_val=1, n_test=1, seed=11)
    b = render_detection_dataset(tmp_path / "b", n_train=3, n_val=1, n_test=1, seed=11,
                                 workers=2)  # fmt: skip
    c = render_detection_dataset(tmp_path / "c", n_train=3, n_val=1, n_test=1, seed=12)
    assert _files(a.parent) == _files(b.parent)
    fa, fc = _files(a.parent), _files(c.parent)
    assert any(fa[k] != fc[k] for k in fa if k.endswith(".jpg"))


def test_dataset_without_grocery_photos(tmp_path: Path, no_photos: None) -> None:
    assert photos.photo_library() is None
    data = render_detection_dataset(tmp_path / "p", n_train=3, n_val=1, n_test=1, seed=2)
    meta = json.loads((data.parent / "render.json").read_text())
    assert meta["with_photos"] is False
    assert len(list((data.parent / "images" / "train").glob("*.jpg"))) == 3


def test_dataset_rejects_bad_counts(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render_detection_dataset(tmp_path, n_train=-1, n_val=0, n_test=0)


def _solid(w: int, h: int, colour: tuple[int, int, int]) -> Sprite:
    return Sprite(np.full((h, w, 3), colour, np.uint8), np.full((h, w), 255, np.uint8))


def test_label_box_is_the_visible_pixels_of_the_item() -> None:
    scene = Scene(np.full((480, 640, 3), 90, np.uint8))
    item = scene.new_object("item")
    scene.paste(place(_solid(120, 80, (0, 0, 250)), (300, 200)), item)
    (lab,) = scene.labels()
    red = np.argwhere(scene.image[..., 2] > 200)
    y1, x1 = red.min(0)
    y2, x2 = red.max(0) + 1
    assert lab.box == (x1, y1, x2, y2)
    assert lab.visible == pytest.approx(1.0)
    # A hand-sized occluder over the left 40% of the item: the box shrinks to what shows.
    cover = Layer(np.full((200, 48, 3), 30, np.uint8), np.full((200, 48), 255, np.uint8),
                  240, 100)  # fmt: skip
    scene.paste(cover, scene.new_object(None))
    (lab,) = scene.labels()
    assert lab.box[0] == 288 and lab.box[2] == x2
    assert lab.visible == pytest.approx(0.6, abs=0.02)
    # Hidden past the threshold: no longer labelled.
    cover = Layer(np.full((200, 50, 3), 30, np.uint8), np.full((200, 50), 255, np.uint8),
                  288, 100)  # fmt: skip
    scene.paste(cover, scene.new_object(None))
    assert scene.labels() == []


def test_random_scene_labels_cover_their_objects_pixels() -> None:
    kit = Kit.load(True)
    seen = set()
    for i in range(6):
        rng = np.random.default_rng([3, i])
        from models.scenes.dataset import render_scene

        _image, labels = render_scene(rng, kit)
        for lab in labels:
            seen.add(lab.cls)
            x1, y1, x2, y2 = lab.box
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
            assert lab.visible >= (0.25 if lab.cls != "hand" else 0.0)
    assert {"item", "hand"} <= seen


@pytest.mark.parametrize("sku", ["DRK-003", "SNK-007", "SNK-006", "SNK-009", "CHL-001"])
def test_printed_barcode_decodes_to_the_catalog_gtin(sku: str) -> None:
    product = product_by_code(sku)
    layout = load_layout()
    rng = np.random.default_rng(4)
    scene = Scene(render_background(rng, layout))
    sprite = render_package(product, rng, back=True, scale=LIFT)
    assert sprite.code == product.gtins[0]
    scene.paste(place(sprite, (200, 240), 8.0), scene.new_object("item"))
    texts = [r.text for r in zxingcpp.read_barcodes(scene.image) if r.valid]
    assert texts, f"{sku}: nothing decoded"
    symbology = "UPC-E" if len(product.gtins[0]) == 8 and sku == "SNK-009" else ""
    assert gtin14(product.gtins[0]) == normalize_gtin(product.gtins[0], symbology)
    assert {normalize_gtin(t) for t in texts} == {gtin14(product.gtins[0])}


def test_every_packaged_product_prints_a_valid_symbol() -> None:
    rng = np.random.default_rng(0)
    for product in load_products():
        if product.barcode() is None:
            assert product.is_produce
            continue
        sprite = render_package(product, rng, back=True, scale=LIFT)
        assert sprite.barcode_quad is not None and sprite.code == product.barcode()[0]


def test_photos_library_when_present() -> None:
    lib = photos.photo_library()
    if lib is None:
        pytest.skip("grocery photos not on this machine")
    assert len(lib.cutouts) > 20
    cut = lib.cutout_for("Banana")
    assert cut is not None and 0.05 < (cut.alpha > 127).mean() < 0.99


def test_script_parsing() -> None:
    actions = parse_script("scan(DRK-001); switch(DRK-010, SNK-009);bag_down")
    assert [str(a) for a in actions] == ["scan(DRK-001)", "switch(DRK-010, SNK-009)", "bag_down"]
    assert len(parse_script("basket")) >= 3
    for bad in ("scan()", "fly(DRK-001)", "scan(NOPE-1)", "bag_down(DRK-001)", ""):
        with pytest.raises(KioskError):
            parse_script(bad)


def _decoded(image: np.ndarray) -> set[str]:
    return {normalize_gtin(r.text) for r in zxingcpp.read_barcodes(image) if r.valid}


def test_video_truth_marks_the_frames_where_the_barcode_reads() -> None:
    frames = list(iter_scenario_frames("scan(DRK-003); skip_scan(SNK-005)", seed=3))
    want = gtin14(product_by_code("DRK-003").gtins[0])
    other = gtin14(product_by_code("SNK-005").gtins[0])
    marked = [i for i, (_, t) in enumerate(frames) if t.decodable_codes]
    assert len(marked) >= 3
    agree = 0
    for i in marked:
        image, truth = frames[i]
        assert truth.action == 0
        assert {gtin14(c) for c in truth.decodable_codes} == {want}
        # An independent plain read of the item's truth box (what a pipeline decodes first)
        # mostly agrees; truth also counts reads that need the code turned upright.
        (item,) = [o for o in truth.objects if o.decodable]
        x1, y1, x2, y2 = item.box
        agree += want in _decoded(image[max(0, y1 - 10) : y2 + 10, max(0, x1 - 10) : x2 + 10])
    assert agree >= len(marked) / 2
    # The skipped item never shows its code; nothing decodes in frames marked unreadable
    # without a visible code.
    for image, truth in frames:
        assert other not in {gtin14(c) for c in truth.decodable_codes}
        if not any(o.barcode_visible for o in truth.objects):
            assert want not in _decoded(image)
    zones = {o.zone for _, t in frames for o in t.objects if o.cls == "item"}
    assert {"scan", "bagging"} <= zones
    assert any(o.cls == "hand" for _, t in frames for o in t.objects)


def test_video_switch_prints_the_other_products_code() -> None:
    frames = iter_scenario_frames("switch(DRK-010, SNK-006)", seed=1)
    codes = {c for _, t in frames for c in t.decodable_codes}
    skus = set()
    for _, t in iter_scenario_frames("switch(DRK-010, SNK-006)", seed=1, check_decode=False):
        skus |= {o.sku for o in t.objects if o.cls == "item"}
    assert codes == {product_by_code("SNK-006").gtins[0]}
    assert skus == {"DRK-010"}


@pytest.mark.slow
def test_render_video_file_and_truth_json(tmp_path: Path, no_photos: None) -> None:
    out = tmp_path / "v" / "basket.avi"
    truth = render_scenario_video("bag_down; scan(SNK-010); place_produce(4011)", out, seed=2)
    assert truth.path is not None and truth.path.exists()
    doc = json.loads(truth.path.read_text())
    assert doc["classes"] == ["item", "hand", "bag"] and doc["fps"] == 30
    assert [a["kind"] for a in doc["actions"]] == ["bag_down", "scan", "place_produce"]
    (code,) = [b for b in doc["barcodes"] if b["sku"] == "SNK-010"]
    assert code["decodable_frames"] and set(code["decodable_frames"]) <= set(code["visible_frames"])
    cap = cv2.VideoCapture(str(out))
    n = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        assert image.shape == (480, 640, 3)
        n += 1
    cap.release()
    assert n == len(doc["frames"]) == len(truth.frames)
    produce = {
        o["sku"] for f in doc["frames"] for o in f["objects"] if o["zone"] == "produce_scale"
    }
    assert "PRD-001" in produce


def test_render_cli_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        ["render", "dataset", str(tmp_path / "d"), "--train", "2", "--val", "1", "--test", "1"]
    )
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("data.yaml")
    assert "images/s" in captured.err
    assert len(list((tmp_path / "d" / "images" / "train").glob("*.jpg"))) == 2


def test_image_render_is_pure(tmp_path: Path) -> None:
    kit = Kit.load(False)
    a, la, qa = render_image(1, 0, 7, kit)
    b, lb, qb = render_image(1, 0, 7, kit)
    assert np.array_equal(a, b) and qa == qb and [x.box for x in la] == [x.box for x in lb]


@pytest.mark.slow
@pytest.mark.parametrize("script", ["basket", "switch"])
def test_every_scanned_item_is_readable_at_the_scanner(script: str) -> None:
    """A scan action shows its code readably over the scanner; a skip never shows it."""
    frames = list(iter_scenario_frames(script, seed=0))
    actions = parse_script(script)
    for index, action in enumerate(actions):
        codes = {
            o.code
            for _, t in frames
            if t.action == index
            for o in t.objects
            if o.decodable and o.zone in ("scan", "produce_scale")
        }
        if action.kind == "scan":
            assert codes == {product_by_code(action.sku or "").gtins[0]}, action
        elif action.kind == "switch":
            assert codes == {product_by_code(action.barcode_sku or "").gtins[0]}, action
        else:
            assert not codes, action


def test_render_cli_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "clip.avi"
    args = parser.parse_args(["render", "video", str(out), "--script", "hand_only", "--seed", "4"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out), str(tmp_path / "clip.truth.json")]
    doc = json.loads((tmp_path / "clip.truth.json").read_text())
    assert doc["script"] == ["hand_only"] and len(doc["frames"]) > 10
    hands = [o for f in doc["frames"] for o in f["objects"] if o["cls"] == "hand"]
    assert hands and all(o["zone"] in ("scan", "produce_scale", None) for o in hands)
    bad = parser.parse_args(["render", "video", str(tmp_path / "x.gif"), "--script", "idle"])
    with pytest.raises(KioskError):
        bad.func(bad)


def test_rerender_into_the_same_folder_drops_stale_images(tmp_path: Path) -> None:
    render_detection_dataset(tmp_path, n_train=4, n_val=1, n_test=0, seed=1, with_photos=False)
    (tmp_path / "labels" / "train.cache").write_text("stale")
    render_detection_dataset(tmp_path, n_train=2, n_val=1, n_test=0, seed=1, with_photos=False)
    assert len(list((tmp_path / "images" / "train").iterdir())) == 2
    assert len(list((tmp_path / "labels" / "train").iterdir())) == 2
    assert not (tmp_path / "labels" / "train.cache").exists()

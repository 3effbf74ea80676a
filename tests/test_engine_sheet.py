"""`engine sheet`: one tile per library painting, each titled, boxes that map a click to its painting; bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
from PIL import Image
from support import STYLES

from engine.anystyle.sheet import LABEL_PX, library_styles, make_sheet
from engine.imageio.images import read_rgb, read_settings


def test_sheet_command_has_one_titled_tile_per_library_painting(tmp_path, content_png, capsys):
    from engine.cli import main

    output = tmp_path / "sheet.png"
    assert main(["sheet", "--content", str(content_png), "--output", str(output), "--size", "64", "--device", "cpu",
                 "--no-cache", "--json"]) == 0
    library = json.loads((STYLES / "library.json").read_text())["styles"]
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    tiles = printed["tiles"]
    assert [t["name"] for t in tiles] == [s["name"] for s in library]
    assert [t["style_id"] for t in tiles] == [s["id"] for s in library]
    assert read_settings(output)["tiles"] == tiles
    sheet = read_rgb(output)
    content = read_rgb(content_png)
    x, y, w, h = printed["original"]
    assert (w, h) == (64, round(64 * content.shape[0] / content.shape[1]))
    crops = []
    for tile in tiles:
        crop = sheet[tile["y"]:tile["y"] + tile["height"], tile["x"]:tile["x"] + tile["width"]]
        label = sheet[tile["y"] + tile["height"]:tile["y"] + tile["height"] + LABEL_PX, tile["x"]:tile["x"] + w]
        assert (label < 0.3).mean() > 0.01, f"no title under {tile['name']}"  # dark text on the white strip
        assert np.abs(crop - sheet[y:y + h, x:x + w]).mean() > 0.05  # painted, not the original
        crops.append((crop, label))
    for (one, one_label), (two, two_label) in zip(crops, crops[1:]):
        assert np.abs(one - two).mean() > 0.02 and np.abs(one_label - two_label).mean() > 0.005


def test_a_point_on_the_sheet_picks_its_painting(tmp_path, content):
    styles = library_styles()[:2]
    sheet = make_sheet(content, styles, size_px=48, columns=3, device="cpu", cache_dir=None)
    assert sheet.image.shape[1] > 3 * 48
    for tile, style in zip(sheet.tiles, styles):
        assert sheet.pick(tile.x + tile.width / 2, tile.y + tile.height + 2).style_id == style.id  # on its title
    x, y, w, h = sheet.original
    assert sheet.pick(x + w / 2, y + h / 2) is None and sheet.pick(0, 0) is None


def test_a_folder_without_library_uses_file_names(tmp_path):
    shutil.copy(STYLES / "shipwreck.jpg", tmp_path / "sea_storm.jpg")
    (tmp_path / "notes.txt").write_text("not a painting")
    assert [(s.id, s.name) for s in library_styles(tmp_path)] == [("sea_storm", "Sea storm")]


def test_bad_input_writes_nothing(tmp_path, content_png, capsys):
    from engine.cli import main

    base = ["sheet", "--content", str(content_png), "--size", "48", "--device", "cpu", "--no-cache"]
    before = content_png.read_bytes()
    assert main([*base, "--output", str(content_png)]) == 2
    assert "would destroy that input" in capsys.readouterr().err and content_png.read_bytes() == before
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "broken.png").write_bytes(b"not an image")
    Image.new("RGB", (40, 40), "red").save(styles / "red.png")
    assert main([*base, "--style-dir", str(styles), "--output", str(tmp_path / "sheet.png")]) == 2
    assert "broken.png" in capsys.readouterr().err
    assert main([*base, "--style-dir", str(tmp_path / "missing"), "--output", str(tmp_path / "sheet.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "sheet.png").exists()

"""Flat texture stylization: seamless results tile, texels outside the UV islands stay untouched, and textures that
are data (normal maps) or inputs that do not fit are refused with one clear line."""

from __future__ import annotations

import numpy as np
import pytest
from support import STYLES
from support_texture import save_png, tileable_texture

from engine.cli import main
from engine.imageio.images import read_rgb
from engine.textures.texture import TextureStylizer, tile_seam_ratio

MAX_SEAM_RATIO = 1.5

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tile() -> np.ndarray:
    return tileable_texture(64)


def test_seamless_stylization_tiles_and_plain_does_not(engine, starry, tile):
    """Tiled 2 x 2, the seams of a seamless result are no stronger than its inside; a plain result's are."""
    stylizer = TextureStylizer(engine)
    assert tile_seam_ratio(tile) < 1.2
    seamless = stylizer.stylize_flat(tile, [starry], seamless=True, iterations=15, scales=1).image
    plain = stylizer.stylize_flat(tile, [starry], seamless=False, iterations=15, scales=1).image
    assert np.abs(seamless - tile).mean() > 0.03  # it did stylize
    assert tile_seam_ratio(seamless) <= MAX_SEAM_RATIO
    assert tile_seam_ratio(plain) > tile_seam_ratio(seamless) + 0.15


def test_only_uv_islands_change_with_padding(tmp_path, tile):
    """Through the command line: texels beyond island + padding are bit-identical, islands and their padding change,
    and the padding repeats island colours (what filtering at the island border will read)."""
    islands = np.zeros((64, 64), bool)
    islands[8:30, 6:40] = True
    islands[40:58, 30:60] = True
    texture, mask, output = tmp_path / "texture.png", tmp_path / "islands.png", tmp_path / "out.png"
    save_png(tile, texture)
    save_png(np.repeat(islands[..., None], 3, -1).astype(np.float32), mask)
    assert main(["texture", "--texture", str(texture), "--style", str(STYLES / "starry_night.jpg"), "--output",
                 str(output), "--uv-mask", str(mask), "--island-padding", "3", "--iterations", "8", "--scales", "1",
                 "--no-cache", "--quiet"]) == 0
    before, after = read_rgb(texture), read_rgb(output)
    grown = islands.copy()
    for _ in range(3):  # the 8-neighbour dilation pad_islands does, three times
        grown = grown | np.pad(grown, 1)[:-2, 1:-1] | np.pad(grown, 1)[2:, 1:-1]
        grown = grown | np.pad(grown, 1)[1:-1, :-2] | np.pad(grown, 1)[1:-1, 2:]
    np.testing.assert_array_equal(after[~grown], before[~grown])
    assert np.abs(after[islands] - before[islands]).mean() > 0.03
    ring = grown & ~islands
    assert np.abs(after[ring] - before[ring]).mean() > 0.02
    # a padding texel right of the first island carries (about) the island's border colour
    np.testing.assert_allclose(after[15, 40], after[15, 39], atol=0.05)


def test_normal_map_is_refused(tmp_path, capsys):
    normal = np.zeros((32, 32, 3), np.float32)
    normal[..., 0], normal[..., 1], normal[..., 2] = 0.5, 0.5, 1.0
    normal[8:16, :, 0] = 0.5 + 0.5 * np.sin(0.3)
    normal[8:16, :, 2] = 0.5 + 0.5 * np.cos(0.3)
    texture, output = save_png(normal, tmp_path / "normal.png"), tmp_path / "out.png"
    assert main(["texture", "--texture", str(texture), "--style", str(STYLES / "starry_night.jpg"),
                 "--output", str(output), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "normal map" in error and "Non-Color" in error and "\n" not in error
    assert not output.exists()


def test_island_mask_of_another_size_is_refused(tmp_path, capsys, tile):
    texture, mask, output = tmp_path / "texture.png", tmp_path / "islands.png", tmp_path / "out.png"
    save_png(tile, texture)
    save_png(np.ones((32, 32, 3), np.float32), mask)
    assert main(["texture", "--texture", str(texture), "--style", str(STYLES / "starry_night.jpg"), "--output",
                 str(output), "--uv-mask", str(mask), "--quiet"]) == 2
    assert "UV island mask is 32x32 px but the texture is 64x64 px" in capsys.readouterr().err
    assert not output.exists()


def test_the_textures_alpha_passes_through(tmp_path, tile):
    """Cut-outs (leaves, decals) keep their alpha: only the colour is stylized."""
    from PIL import Image

    from engine.imageio.images import read_image

    alpha = np.tile(np.linspace(0, 1, 64, dtype=np.float32)[None, :], (64, 1))
    rgba = np.concatenate([tile, alpha[..., None]], -1)
    texture, output = tmp_path / "leaf.png", tmp_path / "out.png"
    Image.fromarray(np.rint(rgba * 255).astype(np.uint8), "RGBA").save(texture)
    assert main(["texture", "--texture", str(texture), "--style", str(STYLES / "starry_night.jpg"), "--output",
                 str(output), "--iterations", "1", "--scales", "1", "--no-cache", "--quiet"]) == 0
    np.testing.assert_array_equal(read_image(output)[1], read_image(texture)[1])

"""The alpha layer of the engine: transparent pixels filled from the covered colours, premultiplied EXRs written and
read straight, overlap chunks joined with their alpha, and opaque content left as it is. Real transparent renders
through the engine: tests/blender/test_alpha_engine.py.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.imageio.alpha import fill, prepare
from engine.imageio.images import read_content, read_exr_channels, read_image, write_image


def test_fill_keeps_covered_colours_and_spreads_the_nearest_ones():
    """Push-pull: covered pixels keep their colour; transparent ones take their neighbours', never black."""
    rgb = np.zeros((40, 60, 3), np.float32)
    alpha = np.zeros((40, 60), np.float32)
    rgb[10:30, 5:20], alpha[10:30, 5:20] = (1.0, 0.2, 0.1), 1.0  # red square on the left
    rgb[10:30, 40:55], alpha[10:30, 40:55] = (0.1, 0.3, 1.0), 1.0  # blue square on the right
    alpha[10:30, 20] = 0.5  # an anti-aliased edge keeps its straight colour
    rgb[10:30, 20] = (1.0, 0.2, 0.1)
    filled = fill(rgb, alpha)
    np.testing.assert_allclose(filled[alpha >= 0.25], rgb[alpha >= 0.25], atol=1e-6)
    assert filled.max(-1).min() > 0.4, "no black left anywhere"
    assert filled[20, 0, 0] > filled[20, 0, 2] and filled[20, 59, 2] > filled[20, 59, 0], "nearest colour wins"
    assert prepare(rgb, np.ones((40, 60), np.float32)).alpha is None, "an opaque alpha is no alpha"


def test_exr_is_written_premultiplied_and_read_straight(tmp_path):
    rgb = np.full((20, 24, 3), 0.8, np.float32)
    alpha = np.tile(np.linspace(0, 1, 24, dtype=np.float32), (20, 1))
    write_image(tmp_path / "out.exr", rgb, alpha=alpha)
    raw = read_exr_channels(tmp_path / "out.exr")
    linear = ((0.8 + 0.055) / 1.055) ** 2.4
    np.testing.assert_allclose(raw["R"], linear * alpha, atol=2e-3)  # premultiplied, as EXR and compositors expect
    back, back_alpha = read_image(tmp_path / "out.exr")
    np.testing.assert_allclose(back_alpha, alpha, atol=1e-3)
    np.testing.assert_allclose(back[:, 3:], rgb[:, 3:], atol=4e-3)  # straight again where there is coverage
    assert (back[:, 0] == 0).all()


def test_joining_overlap_chunks_keeps_alpha(tmp_path):
    """Farm overlap chunks: the crossfaded frames keep the frames' alpha."""
    from engine.shots.chunks import join_overlaps

    rng = np.random.default_rng(0)
    alpha = np.zeros((24, 32), np.float32)
    alpha[4:20, 6:26] = 1.0
    alpha[4:20, 5] = 0.5
    for folder, frames in (("0-2", range(0, 3)), ("3-5", range(1, 6))):  # the second starts 2 frames early
        (tmp_path / "chunks" / folder).mkdir(parents=True)
        for frame in frames:
            write_image(tmp_path / "chunks" / folder / f"frame_{frame:04d}.png", rng.random((24, 32, 3)), alpha=alpha)
    written, _ = join_overlaps(tmp_path)
    assert len(written) == 6
    for path in written:
        rgb, kept = read_image(path)
        assert kept is not None and np.abs(kept - alpha).max() <= 1 / 255, path.name


def test_opaque_content_is_unchanged_by_the_alpha_layer(content_png):
    content = read_content(content_png)
    assert content.alpha is None and content.coverage is None
    assert content.finish(content.rgb)[1] is None
    np.testing.assert_array_equal(content.rgb, np.asarray(Image.open(content_png), np.float32) / 255)

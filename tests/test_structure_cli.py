"""--structure and --passes on the command line and in the worker: refusals in one line, the map reaches the optimizer,
and `metrics` reports legibility and the flicker mask's share."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest
from support import STYLES, write_synthetic_sequence

from engine.cli import main
from engine.imageio.images import read_rgb, read_settings

STARRY = str(STYLES / "starry_night.jpg")
QUICK = ["--size", "48", "--iterations", "3", "--scales", "1", "--quiet", "--no-cache"]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot")
    pairs = write_synthetic_sequence(folder, frames=3, height=48, width=64)
    no_depth = folder / "no_depth.exr"
    OpenEXR.File({"type": OpenEXR.scanlineimage},
                 {"ViewLayer.Object Index.X": np.zeros((48, 64), np.float32)}).write(str(no_depth))
    small = folder / "small.exr"
    OpenEXR.File({"type": OpenEXR.scanlineimage},
                 {"ViewLayer.Depth.Z": np.ones((24, 32), np.float32)}).write(str(small))
    return folder, pairs, no_depth, small


def _refused(args, capsys, expected, folder) -> None:
    before = sorted(p.name for p in folder.iterdir())
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in folder.iterdir()) == before


def test_structure_is_refused_without_passes_or_with_bad_ones(shot, tmp_path, capsys):
    folder, pairs, no_depth, small = shot
    base = ["stylize", "--content", str(pairs[0][0]), "--style", STARRY, "--output", str(tmp_path / "o.png"), *QUICK]
    _refused([*base, "--structure", "0.5"], capsys, "--structure needs the render's passes: give --passes", tmp_path)
    _refused([*base, "--structure", "0.5", "--passes", str(no_depth)], capsys, "has no Depth pass", tmp_path)
    _refused([*base, "--structure", "0.5", "--passes", str(small)], capsys, "32x24 px but the picture is 64x48",
             tmp_path)
    _refused([*base, "--structure", "2", "--passes", str(pairs[0][1])], capsys, "between 0 and 1", tmp_path)
    out = tmp_path / "seq"
    out.mkdir()
    _refused(["sequence", "--frames", str(folder / "frame_*.png"), "--style", STARRY, "--output-dir", str(out),
              "--structure", "0.5", *QUICK], capsys, "--structure needs the render's passes", out)


def test_stylize_with_passes_records_its_structure(shot, tmp_path, capsys):
    _, pairs, _, _ = shot
    output = tmp_path / "o.png"
    assert main(["stylize", "--content", str(pairs[0][0]), "--style", STARRY, "--output", str(output), *QUICK,
                 "--passes", str(pairs[0][1]), "--structure", "0.5"]) == 0, capsys.readouterr().err
    settings = read_settings(output)
    assert settings["structure"] == 0.5 and settings["passes"] == str(pairs[0][1])


def test_any_style_takes_structure_as_a_guide_and_keeps_more_contrast(shot, tmp_path, capsys):
    """`--model any --passes --structure`: the fast result gets the render's outlines back (engine/shapes/guide.py)."""
    from engine.measures.metrics import contrast_kept
    from engine.shapes.structure import read_structure_passes

    _, pairs, _, _ = shot
    render = read_rgb(pairs[0][0])
    passes = read_structure_passes(pairs[0][1], render.shape[:2])
    kept = []
    for strength in ("0", "0.5"):
        output = tmp_path / f"any_{strength}.png"
        assert main(["stylize", "--content", str(pairs[0][0]), "--model", "any", "--style", STARRY, "--output",
                     str(output), "--passes", str(pairs[0][1]), "--structure", strength, "--quiet",
                     "--no-cache"]) == 0, capsys.readouterr().err
        kept.append(contrast_kept(read_rgb(output), render, passes))
    assert read_settings(output)["structure"] == 0.5
    assert kept[1] > 1.3 * kept[0]
    _refused(["stylize", "--content", str(pairs[0][0]), "--model", "any", "--style", STARRY, "--output",
              str(tmp_path / "no.png"), "--structure", "0.5", "--quiet"], capsys, "needs the render's passes",
             tmp_path)


def test_a_trained_fast_model_takes_structure_as_a_guide_too(shot, tmp_path, capsys):
    from support import REPO

    from engine.measures.metrics import contrast_kept
    from engine.shapes.structure import read_structure_passes

    _, pairs, _, _ = shot
    render = read_rgb(pairs[0][0])
    passes = read_structure_passes(pairs[0][1], render.shape[:2])
    kept = []
    for strength in ("0", "0.5"):
        output = tmp_path / f"fast_{strength}.png"
        model = str(REPO / "models" / "starry_night.safetensors")
        assert main(["stylize", "--content", str(pairs[0][0]), "--model", model, "--output", str(output),
                     "--passes", str(pairs[0][1]), "--structure", strength, "--quiet"]) == 0, capsys.readouterr().err
        kept.append(contrast_kept(read_rgb(output), render, passes))
    assert read_settings(output)["structure"] == 0.5 and kept[1] > 1.3 * kept[0]


def test_worker_structure_map_takes_per_object_overrides_and_needs_passes(shot):
    from engine.runtime.errors import EngineError
    from engine.worker import Worker

    _, pairs, _, _ = shot
    request = {"structure": 0.25, "passes": str(pairs[0][1]), "regions": {"1": {"structure": 1.0}}}
    weights = Worker.structure_map(request, (48, 64))
    assert weights.max() == pytest.approx(1.0) and np.isclose(weights, 0.25).any()
    assert Worker.structure_map({"structure": 0.0}, (48, 64)) is None
    with pytest.raises(EngineError, match="give 'passes'"):
        Worker.structure_map({"structure": 0.5}, (48, 64))


def test_metrics_reports_the_mask_its_share_and_legibility(shot, capsys):
    folder, _, _, _ = shot
    frames = str(folder / "frame_*.png")
    assert main(["metrics", "--passes", str(folder / "frame_*.exr"), "--sequence", f"render={frames}",
                 "--render", frames]) == 0
    out = capsys.readouterr().out
    assert "'standard' mask" in out
    row = next(line for line in out.splitlines() if line.startswith("| render |")).split("|")
    assert row[6].strip() == "1.000"  # the render keeps all its own contrast
    assert 50 < float(row[4].strip().rstrip("%")) <= 100
    assert main(["metrics", "--passes", str(folder / "frame_*.exr"), "--sequence", f"render={frames}",
                 "--mask", "engine"]) == 0
    engine_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| render |"))
    assert float(engine_row.split("|")[4].strip().rstrip("%")) <= float(row[4].strip().rstrip("%"))


def test_sequence_takes_structure_from_each_frames_passes(shot, tmp_path, capsys):
    folder, _, _, _ = shot
    out = tmp_path / "seq"
    out.mkdir()
    assert main(["sequence", "--frames", str(folder / "frame_*.png"), "--passes", str(folder / "frame_*.exr"),
                 "--style", STARRY, "--output-dir", str(out), "--structure", "0.5", *QUICK]) == 0, \
        capsys.readouterr().err
    written = sorted(out.glob("*.png"))
    assert len(written) == 3 and all(read_settings(p)["structure"] == 0.5 for p in written)
    assert read_rgb(written[0]).shape == (36, 48, 3)


@pytest.fixture(scope="module")
def textured_view(tmp_path_factory):
    """A texture seen head-on by one view (its UV pass maps each pixel to its texel) with a near disc in the Depth
    pass, and the same view without Depth."""
    from support_texture import painted_texture, save_png

    folder = tmp_path_factory.mktemp("texture_view")
    height, width = 48, 64
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    disc = (x - 32) ** 2 + (y - 24) ** 2 < 14 ** 2
    texture = painted_texture(width, height) * np.where(disc, 0.6, 1.0)[..., None].astype(np.float32)
    uv = {"ViewLayer.UV.U": (x + 0.5) / width, "ViewLayer.UV.V": 1 - (y + 0.5) / height,
          "ViewLayer.UV.A": np.ones((height, width), np.float32)}
    views = {}
    for name, channels in (("with_depth", {**uv, "ViewLayer.Depth.Z": np.where(disc, 1.0, 3.0).astype(np.float32)}),
                           ("no_depth", uv)):
        views[name] = folder / name
        views[name].mkdir()
        OpenEXR.File({"type": OpenEXR.scanlineimage}, channels).write(str(views[name] / "view.exr"))
        save_png(texture, views[name] / "view.png")
    return save_png(texture, folder / "texture.png"), views


def test_texture_from_views_keeps_the_views_shapes_with_structure(textured_view, tmp_path, capsys):
    from engine.measures.metrics import contrast_kept
    from engine.shapes.structure import read_structure_passes

    texture, views = textured_view
    base = ["texture", "--texture", str(texture), "--style", STARRY, "--iterations", "10", "--quiet", "--no-cache"]
    picture = read_rgb(texture)
    passes = read_structure_passes(views["with_depth"] / "view.exr", picture.shape[:2])
    kept = []
    for strength in ("0", "0.5"):
        output = tmp_path / f"texture_{strength}.png"
        assert main([*base, "--views", str(views["with_depth"]), "--structure", strength, "--output",
                     str(output)]) == 0, capsys.readouterr().err
        kept.append(contrast_kept(read_rgb(output), picture, passes))  # the view shows each texel at its pixel
    assert read_settings(output)["structure"] == 0.5 and kept[1] > 1.2 * kept[0], kept
    _refused([*base, "--views", str(views["no_depth"]), "--structure", "0.5", "--output", str(tmp_path / "no.png")],
             capsys, "has no Depth pass", tmp_path)
    _refused([*base, "--structure", "0.5", "--output", str(tmp_path / "flat.png")], capsys,
             "--structure needs the object's rendered views", tmp_path)

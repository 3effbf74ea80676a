"""The engine keeps a transparent render's alpha through quality, fast, sequences and the worker, with clean edges.

The renders are real: Cycles through the bpy module with Film > Transparent, an emissive ball on nothing, written
as Blender writes them (PNG: straight alpha; multilayer EXR: premultiplied).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from blender_kit import render_transparent
from PIL import Image
from support import REPO, STYLES

from engine.cli import main
from engine.imageio.images import read_exr_channels, read_image

STARRY = str(STYLES / "starry_night.jpg")
QUICK = ["--size", "64", "--iterations", "12", "--scales", "1", "--device", "cpu", "--no-cache", "--quiet"]
BALL_RGB = (0.9, 0.55, 0.15)  # emission colour, scene-linear


@pytest.fixture(scope="module")
def render(tmp_path_factory) -> list[tuple[Path, Path]]:
    return render_transparent(tmp_path_factory.mktemp("transparent"), BALL_RGB)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def edge_report(rgb: np.ndarray, alpha: np.ndarray) -> dict:
    """Mean luminance of the object's interior, of a 2 px band inside its edge, and of its anti-aliased edge pixels
    (straight colour), and the band composited over black: a dark fringe shows as band or edge below interior."""
    opaque = (alpha >= 254.5 / 255).astype(np.uint8)
    interior = cv2.erode(opaque, np.ones((7, 7), np.uint8)).astype(bool)
    band = opaque.astype(bool) & ~cv2.erode(opaque, np.ones((5, 5), np.uint8)).astype(bool)
    edge = (alpha > 0.1) & (alpha < 0.9)
    lum = luminance(rgb)
    return {"interior": float(lum[interior].mean()), "band": float(lum[band].mean()), "edge": float(lum[edge].mean()),
            "edge_pixels": int(edge.sum())}


def assert_clean_edges(report: dict, band_too: bool = True) -> None:
    """No rim: the anti-aliased edge has the colour of the stylized object beside it, and (`band_too`) the band
    inside the edge is not darker than the interior (any-style's strokes vary too much for that at 64 px)."""
    assert 0.9 < report["edge"] / report["band"] < 1.1, f"a rim along the edge: {report}"
    if band_too:
        assert report["band"] > 0.9 * report["interior"], f"dark fringe inside the edge: {report}"


def stylize_cli(content: Path, output: Path, *extra: str) -> tuple[np.ndarray, np.ndarray]:
    assert main(["stylize", "--content", str(content), "--output", str(output), *extra]) == 0
    rgb, alpha = read_image(output)
    assert alpha is not None, f"{output} lost its alpha"
    return rgb, alpha


def assert_alpha_kept(alpha: np.ndarray, source_alpha: np.ndarray, rgb: np.ndarray) -> None:
    assert alpha.shape == source_alpha.shape
    assert np.abs(alpha - source_alpha).max() <= 1 / 255 + 1e-6, "alpha must be the render's to within 1/255"
    transparent = source_alpha == 0
    assert transparent.sum() > 500 and (alpha[transparent] == 0).all(), "transparent pixels must stay transparent"
    assert (rgb[transparent] == 0).all(), "fully transparent pixels carry no (stylized) colour"


def test_blenders_premultiplied_exr_reads_as_its_straight_png(render):
    png_rgb, png_alpha = read_image(render[0][0])
    exr_rgb, exr_alpha = read_image(render[0][1])
    assert ((png_alpha > 0.05) & (png_alpha < 0.95)).sum() > 20, "the render has anti-aliased edges"
    assert np.abs(exr_alpha - png_alpha).max() <= 1 / 255
    covered = png_alpha > 0.05
    assert np.abs(exr_rgb - png_rgb)[covered].max() < 3 / 255, "edge pixels keep the object's colour, not darker"


@pytest.mark.parametrize("source, output", [(0, "out.png"), (1, "out.exr")], ids=["straight-png", "premultiplied-exr"])
def test_quality_keeps_the_renders_alpha_with_clean_edges(render, tmp_path, one_torch_thread, source, output):
    content = render[0][source]
    rgb, alpha = stylize_cli(content, tmp_path / output, "--style", STARRY, *QUICK)
    source_rgb, source_alpha = read_image(render[0][0])
    assert_alpha_kept(alpha, source_alpha, rgb)
    assert np.abs(rgb - source_rgb)[source_alpha > 0.99].mean() > 0.05, "the ball is stylized"
    assert_clean_edges(edge_report(rgb, source_alpha))


def test_quality_ignores_what_is_under_the_transparent_area(render, tmp_path, one_torch_thread):
    """The render as Blender wrote it (black under alpha 0) and with white there: the optimizer sees the same
    picture (transparent areas filled from the covered colours, statistics over covered pixels), so the result is."""
    rgb, alpha = read_image(render[0][0])
    white = tmp_path / "white_under.png"
    straight = np.where(alpha[..., None] > 0, rgb, 1.0)
    Image.fromarray(np.rint(np.dstack([straight, alpha]) * 255).astype(np.uint8)).save(white)
    results = [stylize_cli(content, tmp_path / f"{name}.png", "--style", STARRY, *QUICK)[0]
               for name, content in (("black", render[0][0]), ("white", white))]
    assert np.abs(results[0] - results[1])[alpha > 0].max() <= 1 / 255


@pytest.mark.parametrize("model", ["starry_night", "any"], ids=["trained", "any-style"])
def test_fast_models_keep_the_renders_alpha(render, tmp_path, model):
    style = ["--style", STARRY, "--no-cache"] if model == "any" else []
    rgb, alpha = stylize_cli(render[0][0], tmp_path / "fast.png", "--model", model, *style, "--device", "cpu",
                             "--quiet")
    source_rgb, source_alpha = read_image(render[0][0])
    assert_alpha_kept(alpha, source_alpha, rgb)
    assert_clean_edges(edge_report(rgb, source_alpha), band_too=model != "any")


def test_sequence_keeps_every_frames_alpha(render, tmp_path, one_torch_thread):
    frames = tmp_path / "frames"
    frames.mkdir()
    for png, exr in render:
        (frames / png.name).write_bytes(png.read_bytes())
        (frames / exr.name).write_bytes(exr.read_bytes())
    out = tmp_path / "stylized"
    out.mkdir()
    assert main(["sequence", "--frames", str(frames / "*.png"), "--passes", str(frames), "--output-dir", str(out),
                 "--style", STARRY, *QUICK]) == 0
    for png, _ in render:
        rgb, alpha = read_image(out / png.name)
        assert_alpha_kept(alpha, read_image(png)[1], rgb)


def test_worker_keeps_the_renders_alpha(render, tmp_path):
    output = tmp_path / "worker.exr"
    request = {"v": 1, "type": "stylize", "job": "a", "content": str(render[1][1]), "styles": [STARRY],
               "output": str(output), "options": {"size_px": 64, "iterations": 4, "scales": 1}, "cache_dir": None,
               "device": "cpu"}
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        event = {}
        while event.get("job") != "a" or event["type"] not in ("result", "error"):
            event = json.loads(worker.stdout.readline())
        worker.stdin.write(json.dumps({"v": 1, "type": "shutdown"}) + "\n")
        worker.stdin.close()
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()
    assert event["type"] == "result", event
    rgb, alpha = read_image(output)
    assert_alpha_kept(alpha, read_image(render[1][0])[1], rgb)
    raw = read_exr_channels(output)
    assert (raw["R"][alpha == 0] == 0).all(), "premultiplied EXR: zero colour where transparent"

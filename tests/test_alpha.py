"""Transparent renders keep their alpha through quality, fast, sequences and the worker, with clean edges.

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
from PIL import Image

from engine.alpha import fill, prepare, read_content
from engine.cli import main
from engine.imageio import read_exr_channels, read_image, write_image
from support import REPO, STYLES

STARRY = str(STYLES / "starry_night.jpg")
QUICK = ["--size", "64", "--iterations", "12", "--scales", "1", "--device", "cpu", "--no-cache", "--quiet"]
BALL_RGB = (0.9, 0.55, 0.15)  # emission colour, scene-linear


def render_transparent(folder: Path, frames: int = 2, width: int = 64, height: int = 48) -> list[tuple[Path, Path]]:
    """An emissive ball moving right over nothing, Film > Transparent; (display PNG, multilayer EXR) per frame."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.film_transparent = True
    scene.view_settings.view_transform = "Standard"
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location, camera.data.type, camera.data.ortho_scale = (0, 0, 10), "ORTHO", width / 10
    scene.camera = camera
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.6, location=(-0.6, 0, 0))
    ball = bpy.context.object
    material = bpy.data.materials.new("ball")
    nodes = material.node_tree.nodes
    nodes.clear()
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (*BALL_RGB, 1.0)
    material.node_tree.links.new(emission.outputs["Emission"], nodes.new("ShaderNodeOutputMaterial").inputs["Surface"])
    ball.data.materials.append(material)
    for frame in (1, frames):
        ball.location.x = -0.6 + 0.4 * (frame - 1)
        ball.keyframe_insert("location", frame=frame)
    layer = scene.view_layers[0]
    layer.use_pass_vector = layer.use_pass_z = True
    settings = scene.render.image_settings
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for frame in range(1, frames + 1):
        scene.frame_set(frame)
        bpy.ops.render.render()
        png, exr = folder / f"frame_{frame:04d}.png", folder / f"frame_{frame:04d}.exr"
        settings.media_type, settings.file_format = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"
        settings.color_depth = "32"
        bpy.data.images["Render Result"].save_render(str(exr), scene=scene)
        settings.media_type, settings.file_format = "IMAGE", "PNG"
        settings.color_mode, settings.color_depth = "RGBA", "8"
        bpy.data.images["Render Result"].save_render(str(png), scene=scene)
        pairs.append((png, exr))
    return pairs


@pytest.fixture(scope="module")
def render(tmp_path_factory) -> list[tuple[Path, Path]]:
    pytest.importorskip("bpy")
    return render_transparent(tmp_path_factory.mktemp("transparent"))


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


def test_joining_overlap_chunks_keeps_alpha(tmp_path):
    """Farm overlap chunks: the crossfaded frames keep the frames' alpha."""
    from engine.chunks import join_overlaps

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

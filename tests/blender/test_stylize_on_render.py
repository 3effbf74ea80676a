"""Stylize on Render in the real Blender: the render operator F12 and Ctrl+F12 run (bpy.ops.render.render) writes
stylized frames at the scene's output path with the raw ones kept in raw/, a rerun skips finished frames, a failing
style keeps the raw frames with one status line, and the main thread's timer never waits on the worker.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from blender_kit import ADDON, object_index
from PIL import Image

import bpy

pytestmark = pytest.mark.blender
NAMES = ["shot_0001.png", "shot_0002.png", "shot_0003.png"]


def _module():
    return sys.modules[f"{ADDON}.nst_addon.stylize_on_render"]


@pytest.fixture
def on_render(tiny_scene, tmp_path):
    """The tiny scene with Stylize on Render on, writing PNGs to tmp_path/out/shot_####.png."""
    scene = tiny_scene
    scene.render.filepath = str(tmp_path / "out" / "shot_")
    scene.render.image_settings.file_format = "PNG"
    scene.nst.stylize_on_render = True
    yield scene
    scene.nst.stylize_on_render = False


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255


def _mtimes(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.png")}


def test_an_animation_render_writes_stylized_frames_keeps_the_raw_ones_and_resumes(on_render, tmp_path):
    scene, out = on_render, tmp_path / "out"
    scene.frame_end = 3
    assert "Object Index" in scene.nst.render_changes, "turning the toggle on turns on the passes it needs"
    bpy.ops.render.render(animation=True)
    assert sorted(_mtimes(out)) == NAMES and sorted(_mtimes(out / "raw")) == NAMES
    for name in NAMES:
        stylized, raw = _rgb(out / name), _rgb(out / "raw" / name)
        assert stylized.shape == raw.shape and np.abs(stylized - raw).mean() > 0.02, name
    assert scene.nst.status.startswith("Stylize on Render: 3 frame(s) stylized"), scene.nst.status
    assert scene.render.use_overwrite, "Blender's Overwrite is back as it was"

    stylized, raw = _mtimes(out), _mtimes(out / "raw")
    bpy.ops.render.render(animation=True)
    assert _mtimes(out) == stylized and _mtimes(out / "raw") == raw, "a rerun renders and stylizes nothing"
    assert "every frame is stylized already" in scene.nst.status

    (out / NAMES[1]).unlink()
    bpy.ops.render.render(animation=True)
    again = _mtimes(out)
    assert sorted(again) == NAMES and again[NAMES[0]] == stylized[NAMES[0]] and again[NAMES[2]] == stylized[NAMES[2]]
    assert scene.nst.status.startswith("Stylize on Render: 1 frame(s) stylized"), scene.nst.status


def test_f12_writes_the_stylized_frame_at_the_output_path_and_keeps_the_raw_one(on_render, tmp_path):
    scene, out = on_render, tmp_path / "out"
    scene.frame_set(2)
    bpy.ops.render.render()  # F12: Blender itself writes nothing
    assert sorted(_mtimes(out)) == [NAMES[1]] and sorted(_mtimes(out / "raw")) == [NAMES[1]]
    assert np.abs(_rgb(out / NAMES[1]) - _rgb(out / "raw" / NAMES[1])).mean() > 0.02


def test_a_style_that_fails_keeps_the_raw_frames_and_says_so_in_one_line(on_render, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a painting" * 8)
    on_render.nst.styles[0].filepath = str(broken)
    on_render.frame_end = 2
    bpy.ops.render.render(animation=True)
    out = tmp_path / "out"
    assert sorted(_mtimes(out / "raw")) == NAMES[:2], "the raw renders are kept"
    assert not _mtimes(out), "no stylized frame, and no raw frame posing as one"
    status = on_render.nst.status
    assert "\n" not in status and "failed" in status and "broken.png" in status and "raw" in status, status


def test_an_unwritable_output_folder_is_one_line_and_the_render_stays(on_render, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    on_render.render.filepath = str(tmp_path / "a_file" / "shot_")
    bpy.ops.render.render()
    assert "cannot write in the output folder" in on_render.nst.status
    kept = tmp_path / "kept.png"
    bpy.data.images["Render Result"].save_render(str(kept), scene=on_render)
    assert _rgb(kept).shape == (48, 64, 3), "the render is still in Render Result"


def test_the_timer_never_waits_on_the_worker(on_render, tmp_path, monkeypatch):
    """In the UI the timer drives the jobs: each tick returns at once while the worker stylizes."""
    module = _module()
    monkeypatch.setattr(module, "_drains_in_place", lambda: False)
    on_render.nst.preview_iterations = 30
    bpy.ops.render.render()
    stylized, ticks, deadline = tmp_path / "out" / "shot_0001.png", [], time.monotonic() + 180
    while time.monotonic() < deadline:
        began = time.monotonic()
        module._tick()
        ticks.append(time.monotonic() - began)
        if "frame(s) stylized" in on_render.nst.status:
            break
        time.sleep(module.TICK_S)
    assert stylized.is_file(), on_render.nst.status
    assert len(ticks) > 5 and max(ticks) < 0.1, f"longest tick {max(ticks):.3f} s over {len(ticks)} ticks"


def _composite(scene, path: Path) -> np.ndarray:
    scene.render.use_compositing = True
    bpy.ops.render.render()
    bpy.data.images["Render Result"].save_render(str(path), scene=scene)
    return _rgb(path)


def test_compositor_layers_open_in_blender_and_nst_mix_blends_raw_and_stylized(on_render, tmp_path):
    scene, out = on_render, tmp_path / "out"
    scene.view_settings.view_transform = "Standard"  # the Stylized layer shows as the stylized frame under it
    scene.nst.compositor_layers = True
    bpy.ops.render.render()
    layers = out / "layers" / "shot_0001.exr"
    image = bpy.data.images.load(str(layers))
    probe = bpy.data.node_groups.new("probe", "CompositorNodeTree").nodes.new("CompositorNodeImage")
    probe.image = image
    probe.layer = "Stylized"
    assert image.type == "MULTILAYER" and {"Combined", "Cube", "Sphere"} <= {o.name for o in probe.outputs if o.enabled}
    stylized, raw = _rgb(out / "shot_0001.png"), _rgb(out / "raw" / "shot_0001.png")

    scene.nst.stylize_on_render = False  # from here on, plain renders through the compositor
    mix = _module_compositor().mix_layers(scene, layers, scene.view_layers[0].name)
    mix.inputs["Factor"].default_value = 0.0
    assert np.abs(_composite(scene, tmp_path / "f0.png") - raw).max() <= 1.01 / 255
    mix.inputs["Factor"].default_value = 1.0
    assert np.abs(_composite(scene, tmp_path / "f1.png") - stylized).max() <= 1.01 / 255

    tree, cube = scene.compositing_node_group, bpy.data.objects["Cube"]
    source = next(n for n in tree.nodes if n.bl_idname == "CompositorNodeImage" and n.layer != "Stylized")
    matte = tree.nodes.new("CompositorNodeIDMask")
    matte.inputs["Index"].default_value = cube.pass_index
    tree.links.new(source.outputs["Object Index"], matte.inputs["ID value"])
    tree.links.new(matte.outputs[0], mix.inputs["Mask"])
    masked = _composite(scene, tmp_path / "cube.png")
    on_cube = np.flipud(object_index(out / "raw" / "nst" / "render" / "frame_0001.exr")) == cube.pass_index
    assert on_cube.sum() > 50
    assert np.abs(masked[on_cube] - stylized[on_cube]).mean() < 2 / 255, "the cube is stylized"
    assert np.abs(masked[~on_cube] - raw[~on_cube]).mean() < 2 / 255, "everything else is raw"


def _module_compositor():
    return sys.modules[f"{ADDON}.nst_addon.compositor"]


@pytest.mark.parametrize("break_it, message", [
    (lambda scene, tmp: setattr(scene.nst.styles[0], "filepath", str(tmp / "gone.jpg")), "gone.jpg does not exist"),
    (lambda scene, tmp: setattr(scene, "camera", None), "no active camera"),
])
def test_a_missing_style_or_camera_is_one_line_and_nothing_is_written(on_render, tmp_path, break_it, message):
    break_it(on_render, tmp_path)
    try:
        bpy.ops.render.render()
    except RuntimeError:
        pass  # Blender's own refusal without a camera
    status = on_render.nst.status
    assert status.startswith("Stylize on Render: not stylized:") and message in status and "\n" not in status, status
    assert not _mtimes(tmp_path / "out"), "no stylized frame"

"""Integration tests of the add-on in the real Blender: install, stylize a render per object, stylize a texture,
and the clear errors (no camera, missing style, engine Python without torch, a worker that dies).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from blender_kit import ADDON, SIZE, STYLES, blender_ext, build_tiny_scene, object_index, pixels

import addon_utils
import bpy

pytestmark = pytest.mark.blender
RESULT = "NST Stylized Render"


def test_manifest_passes_blenders_validator():
    done = subprocess.run([*blender_ext(), "validate", str(Path(__file__).resolve().parents[2])],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_extension_installs_enables_and_registers_twice(addon):
    assert ADDON in bpy.context.preferences.addons
    for _ in range(2):
        addon_utils.disable(ADDON, handle_error=_raise)
        assert not hasattr(bpy.ops.nst, "stylize_render") or "stylize_render" not in dir(bpy.ops.nst)
        addon_utils.enable(ADDON, default_set=True, handle_error=_raise)
    for name in ("stylize_render", "stylize_animation", "stylize_texture", "check_engine", "install_engine"):
        assert name in dir(bpy.ops.nst)
    assert hasattr(bpy.types.Scene, "nst") and hasattr(bpy.types.Object, "nst")


def _raise(exc):
    raise exc


@pytest.mark.parametrize("method", ["QUALITY", "FAST"])
def test_stylize_render_styles_objects_and_keeps_the_kept_one(tiny_scene, method):
    tiny_scene.nst.method = method  # Fast: the bundled models named like the styles (starry_night, shipwreck)
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}
    result = bpy.data.images[RESULT]
    assert tuple(result.size) == SIZE
    content_path = Path(result["nst_content"])
    render = bpy.data.images.load(str(content_path))
    before, after = pixels(render)[..., :3], pixels(result)[..., :3]
    ids = object_index(content_path.with_suffix(".exr"))
    cube, sphere = bpy.data.objects["Cube"], bpy.data.objects["Sphere"]
    on_cube, on_sphere = ids == cube.pass_index, ids == sphere.pass_index
    assert on_cube.sum() > 50 and on_sphere.sum() > 50, "both objects should be in shot"
    assert np.abs(after[on_sphere] - before[on_sphere]).max() <= 1.5 / 255, "the kept object must be unchanged"
    assert np.abs(after[on_cube] - before[on_cube]).mean() > 0.02, "the styled object must change"
    changes = tiny_scene.nst.render_changes
    assert "Object Index" in changes and "'Cube'" in changes, changes


def test_stylize_texture_makes_a_new_image_and_leaves_the_original(tiny_scene):
    original = bpy.data.images.new("Bricks", 48, 32, alpha=True)
    rows = np.linspace(0, 1, 32, dtype=np.float32)[:, None, None]
    cols = np.linspace(0, 1, 48, dtype=np.float32)[None, :, None]
    texture = np.concatenate([np.broadcast_to(rows, (32, 48, 1)), np.broadcast_to(cols, (32, 48, 1)),
                              np.full((32, 48, 1), 0.5, np.float32), np.ones((32, 48, 1), np.float32)], -1)
    original.pixels.foreach_set(texture.ravel())
    untouched = pixels(original).copy()
    sphere = bpy.data.objects["Sphere"]
    bpy.context.view_layer.objects.active = sphere
    material = sphere.active_material
    node = material.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = original
    material.node_tree.nodes.active = node

    assert bpy.ops.nst.stylize_texture() == {"FINISHED"}
    stylized = bpy.data.images["Bricks (stylized)"]
    assert tuple(stylized.size) == (48, 32)
    assert np.array_equal(pixels(original), untouched), "the original texture's pixels must not change"
    assert np.abs(pixels(stylized)[..., :3] - untouched[..., :3]).mean() > 0.02
    assert node.image == original, "relinking is off by default"

    tiny_scene.nst.relink_texture = True
    assert bpy.ops.nst.stylize_texture() == {"FINISHED"}
    assert node.image.name == "Bricks (stylized)"


def test_stylize_texture_refuses_non_color_data(tiny_scene):
    normal_map = bpy.data.images.new("Normals", 32, 32)
    normal_map.colorspace_settings.name = "Non-Color"
    sphere = bpy.data.objects["Sphere"]
    bpy.context.view_layer.objects.active = sphere
    node = sphere.active_material.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = normal_map
    sphere.active_material.node_tree.nodes.active = node
    with pytest.raises(RuntimeError, match="Non-Color"):
        bpy.ops.nst.stylize_texture()
    assert "Normals (stylized)" not in bpy.data.images


def test_no_camera_is_a_clear_error_with_no_output(tiny_scene, tmp_path):
    tiny_scene.camera = None
    tiny_scene.nst.output_folder = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.nst.stylize_render()
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.nst.stylize_animation()
    assert RESULT not in bpy.data.images and not (tmp_path / "out").exists()


def test_missing_style_file_is_a_clear_error_with_no_output(tiny_scene, tmp_path):
    tiny_scene.nst.styles[0].filepath = str(tmp_path / "no-such-painting.jpg")
    tiny_scene.nst.output_folder = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match="no-such-painting.jpg does not exist"):
        bpy.ops.nst.stylize_render()
    bpy.data.objects["Cube"].nst.style_path = str(tmp_path / "gone.png")
    tiny_scene.nst.styles[0].filepath = str(STYLES / "starry_night.jpg")
    with pytest.raises(RuntimeError, match="object 'Cube'.*gone.png does not exist"):
        bpy.ops.nst.stylize_animation()
    assert RESULT not in bpy.data.images and not (tmp_path / "out").exists()


def test_engine_python_without_torch_says_how_to_fix_it(tiny_scene, prefs, python_without_torch, tmp_path):
    prefs.engine_python_mode, prefs.engine_python = "CUSTOM", str(python_without_torch)
    tiny_scene.nst.output_folder = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match="has no PyTorch; use Install engine"):
        bpy.ops.nst.stylize_animation()
    with pytest.raises(RuntimeError, match="has no PyTorch. Fix: press Install engine"):
        bpy.ops.nst.check_engine()
    assert "Problem:" in prefs.engine_report
    assert RESULT not in bpy.data.images and not (tmp_path / "out").exists()


def test_a_worker_that_dies_is_reported_and_the_next_job_works(tiny_scene, prefs, dying_python):
    prefs.engine_python_mode, prefs.engine_python = "CUSTOM", str(dying_python)
    tiny_scene.nst.preview_iterations = 2000  # longer than the 4 s the dying worker lives
    with pytest.raises(RuntimeError, match="engine worker stopped unexpectedly: it was killed by signal 9"):
        bpy.ops.nst.stylize_render()
    assert RESULT not in bpy.data.images

    prefs.engine_python_mode = "AUTO"
    tiny_scene.nst.preview_iterations = 5
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}
    assert RESULT in bpy.data.images


def test_check_engine_reports_torch_and_device(prefs):
    build_tiny_scene()
    assert bpy.ops.nst.check_engine() == {"FINISHED"}
    assert "torch 2." in prefs.engine_report and "device cpu" in prefs.engine_report


def test_stylize_animation_frame_by_frame_writes_each_frame(tiny_scene, tmp_path):
    tiny_scene.frame_end = 2
    tiny_scene.nst.temporal = False
    tiny_scene.nst.preview_iterations = 4
    tiny_scene.nst.output_folder = str(tmp_path / "shot")
    assert bpy.ops.nst.stylize_animation() == {"FINISHED"}
    assert sorted(p.name for p in (tmp_path / "shot" / "stylized").iterdir()) == ["frame_0001.png", "frame_0002.png"]
    assert "2 frame(s) stylized, 0 already done" in tiny_scene.nst.status
    assert bpy.ops.nst.stylize_animation() == {"FINISHED"}
    assert "0 frame(s) stylized, 2 already done" in tiny_scene.nst.status


def test_fast_method_with_a_painting_that_has_no_trained_model_uses_the_any_style_network(tiny_scene, tmp_path):
    style = tmp_path / "untrained_painting.jpg"
    style.write_bytes((STYLES / "starry_night.jpg").read_bytes())
    tiny_scene.nst.styles[0].filepath = str(style)
    tiny_scene.nst.method = "FAST"
    rendering = _module("rendering")
    assert rendering.fast_model(tiny_scene) == "any"
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}  # the Cube's own painting and the kept Sphere too
    result = bpy.data.images[RESULT]
    content_path = Path(result["nst_content"])
    before, after = pixels(bpy.data.images.load(str(content_path)))[..., :3], pixels(result)[..., :3]
    ids = object_index(content_path.with_suffix(".exr"))
    on_sphere = ids == bpy.data.objects["Sphere"].pass_index
    assert np.abs(after[on_sphere] - before[on_sphere]).max() <= 1.5 / 255
    assert np.abs(after[~on_sphere] - before[~on_sphere]).mean() > 0.05
    tiny_scene.nst.styles[0].filepath = str(STYLES / "starry_night.jpg")  # it and the Cube's have trained models
    assert rendering.fast_model(tiny_scene) == "starry_night"


def _module(name: str):
    return sys.modules[f"{ADDON}.nst_addon.{name}"]


@pytest.mark.parametrize("view_transform, matches_plain_srgb", [("Standard", True), ("AgX", False)])
def test_what_is_stylized_is_the_render_with_its_view_transform(tiny_scene, tmp_path, view_transform,
                                                                matches_plain_srgb):
    import OpenEXR

    tiny_scene.view_settings.view_transform = view_transform
    rendering = _module("rendering")
    files = rendering.FrameFiles.in_folder(tmp_path, 1)
    rendering.render_frame(tiny_scene, files)
    display = pixels(bpy.data.images.load(str(files.display)))[::-1, :, :3]
    with OpenEXR.File(str(files.passes)) as exr:
        linear = next(p.channels["ViewLayer.Combined"].pixels for p in exr.parts
                      if "ViewLayer.Combined" in p.channels)[..., :3]
    linear = np.clip(linear, 0, 1)
    plain_srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    difference = np.abs(display - plain_srgb).mean()
    assert (difference < 2 / 255) == matches_plain_srgb, difference


def test_style_library_lists_shipped_licences_and_flags_unlicensed_styles(addon):
    library = _module("library")
    shipped_folder = _module("extension").EXTENSION_ROOT / "styles"
    shipped = [s for s in library.library_styles() if s.path.parent == shipped_folder]
    assert {s.id for s in shipped} >= {"starry_night", "shipwreck", "reservoir_poitiers", "woman_with_hat"}
    assert all(s.licence_known for s in shipped)
    mine = _module("preferences").user_folder("styles") / "my_scan.png"
    bpy.data.images.new("scan", 32, 32).save(filepath=str(mine))
    try:
        (unlicensed,) = [s for s in library.library_styles() if s.path == mine]
        assert not unlicensed.licence_known and unlicensed.name == "my_scan"
    finally:
        mine.unlink()


def test_install_engine_respects_offline_mode(addon):
    if bpy.app.online_access:
        pytest.skip("Blender is allowed online here; installing would download PyTorch")
    with pytest.raises(RuntimeError, match="set to work offline"):
        bpy.ops.nst.install_engine()


def test_disabling_the_add_on_stops_its_worker(prefs):
    build_tiny_scene()
    assert bpy.ops.nst.check_engine() == {"FINISHED"}
    worker = _module("worker_client")._shared.process
    assert worker is not None and worker.poll() is None
    addon_utils.disable(ADDON, handle_error=_raise)
    try:
        assert worker.poll() is not None, "the worker must stop with the add-on"
    finally:
        addon_utils.enable(ADDON, default_set=True, handle_error=_raise)


def test_use_last_render_stylizes_the_last_render_without_rendering_again(tiny_scene):
    tiny_scene.nst.preview_iterations = 3
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}
    first = pixels(bpy.data.images.load(bpy.data.images[RESULT]["nst_content"])).copy()
    tiny_scene.world.color = (1.0, 0.0, 1.0)  # a new render would look very different
    tiny_scene.nst.use_last_render = True
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}
    again = pixels(bpy.data.images.load(bpy.data.images[RESULT]["nst_content"]))
    assert np.array_equal(first, again)


def test_a_blender_image_can_be_the_style(tiny_scene):
    painting = bpy.data.images.load(str(STYLES / "woman_with_hat.jpg"))
    untouched = pixels(painting).copy()
    item = tiny_scene.nst.styles[0]
    item.filepath, item.image = "", painting
    tiny_scene.nst.preview_iterations = 3
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}
    assert tuple(bpy.data.images[RESULT].size) == SIZE
    assert np.array_equal(pixels(painting), untouched), "the style image itself must not change"

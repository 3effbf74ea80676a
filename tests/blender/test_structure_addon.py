"""Keep Shapes in the real Blender: the scene slider and the per-object override reach the engine with the passes the
add-on turns on (and lists), a stronger setting keeps more of the silhouettes, and the batch entry takes --structure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bpy
import pytest
from blender_kit import ADDON, REPO, STYLES, build_tiny_scene

pytestmark = pytest.mark.blender


def _stylized(scene, keep_shapes: float) -> tuple[Path, Path, Path]:
    """Stylize Render with this Keep Shapes; (render PNG, passes EXR, stylized PNG)."""
    scene.nst.keep_shapes = keep_shapes
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}
    display = Path(bpy.data.images["NST Stylized Render"]["nst_content"])
    return display, display.with_suffix(".exr"), display.parents[1] / "stylized" / display.name


def test_keep_shapes_turns_on_its_passes_and_keeps_more_of_the_silhouettes(addon):
    from engine.imageio.images import read_rgb, read_settings
    from engine.measures.metrics import contrast_kept
    from engine.shapes.structure import read_structure_passes

    scene = build_tiny_scene()
    for ob in scene.objects:
        ob.nst.mode = "INHERIT"  # one style everywhere: the objects' edges are what differs
    scene.nst.preview_iterations = 20
    layer = scene.view_layers[0]
    assert scene.nst.keep_shapes == pytest.approx(0.5)  # the default
    assert not layer.use_pass_z and not layer.use_pass_normal
    kept = {}
    for value in (1.0, 0.0):  # 1 first: it turns the passes on, and the render of 0 keeps them to measure with
        display, passes, stylized = _stylized(scene, value)
        settings = read_settings(stylized)
        assert settings["structure"] == value
        render = read_rgb(display)
        kept[value] = contrast_kept(read_rgb(stylized), render, read_structure_passes(passes, render.shape[:2]))
    assert layer.use_pass_z and layer.use_pass_normal
    changes = scene.nst.render_changes
    assert "Depth" in changes and "Normal" in changes, changes
    assert kept[1.0] > 1.2 * kept[0.0], kept


def test_an_object_override_goes_to_the_engine_as_its_region(addon):
    import importlib

    rendering = importlib.import_module(f"{ADDON}.nst_addon.rendering")
    scene = build_tiny_scene()
    cube = bpy.data.objects["Cube"]
    floor = next(ob for ob in scene.objects if ob.type == "MESH" and ob.name not in ("Cube", "Sphere"))
    floor.nst.own_keep_shapes, floor.nst.keep_shapes = True, 0.0
    cube.nst.own_keep_shapes, cube.nst.keep_shapes = True, 1.0
    changes = rendering.prepare_passes(scene, with_motion=False)
    regions = rendering.region_settings(scene)
    assert regions[str(cube.pass_index)]["structure"] == 1.0 and "styles" in regions[str(cube.pass_index)]
    assert regions[str(floor.pass_index)] == {"structure": 0.0}
    assert floor.pass_index not in (0, cube.pass_index) and any("Floor" in c or "Plane" in c for c in changes)
    files = rendering.FrameFiles.in_folder(Path("/tmp/x"), 1)
    request = rendering.stylize_request(scene, _engine(), files, [str(STYLES / "starry_night.jpg")], [1.0], regions)
    assert request["structure"] == 0.5 and request["passes"] == str(files.passes)
    scene.nst.method = "FAST"  # fast networks do not take the structure term: nothing is sent
    assert "structure" not in rendering.stylize_request(scene, _engine(), files, [], [], {})


def _engine():
    import importlib

    preferences = importlib.import_module(f"{ADDON}.nst_addon.preferences")
    return preferences.EngineSettings(python="", device="cpu", cache_folder="/tmp")


def test_batch_takes_structure_and_refuses_a_bad_one(addon, tmp_path):
    build_tiny_scene()
    path = tmp_path / "tiny.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "nst_addon.batch", str(path), "--style",
                           str(STYLES / "starry_night.jpg"), "--output", str(out), "--structure", "2"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "--structure takes a value from 0 to 1, got 2" in done.stderr, done.stderr
    assert not out.exists()

"""Texture optimization from views rendered by the real Blender with the UV pass: the UV convention, lower style
distance in every re-rendered view, unseen texels untouched, and a UV pass that does not fit the texture refused."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
import torch
from support import STYLES
from support_texture import painted_texture, save_png

from bench.scenes import render_orbit, textured_object
from engine.cli import main
from engine.imageio.tensors import to_numpy, to_tensor
from engine.measures.metrics import style_distance
from engine.runtime.errors import EngineError
from engine.textures.texture import TextureStylizer
from engine.textures.texture_views import TextureView, read_views, sample_texture, uv_grid

pytestmark = pytest.mark.usefixtures("one_torch_thread")
VIEW_PX = 64
VIEWS = 3


@pytest.fixture(scope="module")
def sphere(tmp_path_factory):
    """A UV sphere emitting a painted texture, rendered from an orbit of three views."""
    folder = tmp_path_factory.mktemp("sphere")
    texture = painted_texture(128, 64)
    scene, ob, node = textured_object(save_png(texture, folder / "texture.png"), "sphere")
    exrs, pass_index = render_orbit(scene, ob, folder / "before", VIEWS, VIEW_PX)
    return dict(folder=folder, texture=texture, scene=scene, ob=ob, node=node, views=read_views(exrs, pass_index),
                pass_index=pass_index)


def test_texture_sampled_at_the_uv_pass_reproduces_the_render(sphere):
    """The UV pass convention (v up, texel centres, repeat): sampling the texture there gives the rendered view."""
    for view in sphere["views"]:
        sampled = to_numpy(sample_texture(to_tensor(sphere["texture"], torch.device("cpu")), uv_grid(view.uv, "cpu")))
        inside = view.mask > 0.5
        assert inside.sum() > 0.3 * VIEW_PX ** 2
        assert np.median(np.abs(sampled - view.image)[inside]) < 0.02


def test_views_carry_the_style_after_optimization_and_unseen_texels_stay(sphere, engine, starry, tmp_path):
    result = TextureStylizer(engine).stylize_from_views(sphere["texture"], sphere["views"], [starry], iterations=8)
    np.testing.assert_array_equal(result.image[~result.changed], sphere["texture"][~result.changed])
    assert 0.3 < result.changed.mean() < 0.97  # the poles are seen by no view of the orbit
    sphere["node"].image = bpy.data.images.load(str(save_png(result.image, tmp_path / "stylized.png")))
    after = read_views(render_orbit(sphere["scene"], sphere["ob"], tmp_path / "after", VIEWS, VIEW_PX)[0],
                       sphere["pass_index"])
    for old, new in zip(sphere["views"], after):
        before_distance = style_distance(old.image, starry, VIEW_PX, old.mask)
        after_distance = style_distance(new.image, starry, VIEW_PX, new.mask)
        assert after_distance < 0.5 * before_distance, old.name


def test_uv_pass_of_another_texture_is_refused(sphere, tmp_path, capsys):
    """Through the command line: one line naming the problem, exit status 2, no output."""
    other = save_png(painted_texture(128, 64)[:, ::-1], tmp_path / "mirrored.png")  # not what the views show
    output = tmp_path / "out.png"
    assert main(["texture", "--texture", str(other), "--style", str(STYLES / "starry_night.jpg"), "--output",
                 str(output), "--views", str(sphere["folder"] / "before"), "--object-index", str(sphere["pass_index"]),
                 "--no-cache", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: view_00: the UV pass does not match the texture") and "\n" not in error
    assert not output.exists()


def test_uv_pass_of_another_size_is_refused(sphere, engine, starry):
    view = sphere["views"][0]
    cropped = TextureView(view.image, view.uv[:-8], view.mask, view.name)
    with pytest.raises(EngineError, match="UV pass .* must have the view's size"):
        TextureStylizer(engine).stylize_from_views(sphere["texture"], [cropped], [starry], iterations=1)


def test_uv_island_mask_covers_every_uv_of_the_mesh(tmp_path):
    """The add-on's island mask (rows top-down, as the engine reads it): every loop's UV lands inside, gutters not."""
    import bmesh

    from engine.imageio.images import read_rgb
    from nst_addon.texture_views import write_island_mask

    bm = bmesh.new()
    bm.loops.layers.uv.new("UVMap")
    bmesh.ops.create_monkey(bm, calc_uvs=True)
    mesh = bpy.data.meshes.new("MonkeyMask")
    bm.to_mesh(mesh)
    bm.free()
    ob = bpy.data.objects.new("MonkeyMask", mesh)  # never linked to a scene: nothing renders it
    try:
        mask = read_rgb(write_island_mask(ob, 96, 64, tmp_path / "islands.png")).mean(-1) > 0.5
        uvs = np.array([loop.uv[:] for loop in mesh.uv_layers.active.data])
        cols = np.clip((uvs[:, 0] * 96).astype(int), 0, 95)
        rows = np.clip(((1 - uvs[:, 1]) * 64).astype(int), 0, 63)
        assert mask[rows, cols].all()
        assert 0.2 < mask.mean() < 0.95
    finally:
        bpy.data.objects.remove(ob)
        bpy.data.meshes.remove(mesh)

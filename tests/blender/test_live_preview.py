"""Live Preview in the real Blender: a round stylizes a small Workbench render of the camera (per-object settings
kept), moving an object makes a new one, a burst of changes stylizes only the last, a dying worker turns it off.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest
from blender_kit import ADDON, STYLES, pixels
from PIL import Image

import bpy

pytestmark = pytest.mark.blender
IMAGE = "NST Live Preview"
SIZE = (160, 90)
CUBE, SPHERE = 1, 2  # region ids of the styled objects, in name order: the Cube's own painting, the kept Sphere
DIED = ("Live Preview turned off: its engine worker stopped (killed by signal 9); turn Live Preview on to start a "
        "new one")


def _module(name: str):
    return sys.modules[f"{ADDON}.nst_addon.{name}"]


@pytest.fixture
def live(tiny_scene):
    settings = tiny_scene.nst_live
    settings.width_px, settings.height_px = SIZE
    settings.engine = "BLENDER_WORKBENCH"
    yield settings
    settings.enabled = False


def _shown() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The preview's stylized pixels, the plain render it came from, and its region ids (rows bottom to top)."""
    image = bpy.data.images[IMAGE]
    rendered = pixels(bpy.data.images.load(image["nst_content"], check_existing=False))[..., :3]
    return pixels(image)[..., :3].copy(), rendered, np.load(image["nst_ids"])[::-1]


def _detail(rgb: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels (brush strokes), inside `where`."""
    dx = np.abs(np.diff(rgb, axis=1)).sum(-1)[where[:, 1:] & where[:, :-1]]
    return float(dx.mean())


def test_live_preview_is_off_by_default_and_shows_the_scene_stylized_then_follows_a_moved_object(tiny_scene, live):
    assert not live.enabled
    with pytest.raises(RuntimeError, match="Live Preview is off; turn it on"):
        bpy.ops.nst.live_preview_step()
    live.enabled = True
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}
    assert tuple(bpy.data.images[IMAGE].size) == SIZE
    stylized, rendered, ids = _shown()
    assert rendered.shape[:2] == stylized.shape[:2] == ids.shape == SIZE[::-1]
    cube, sphere, rest = ids == CUBE, ids == SPHERE, ids == 0
    assert cube.sum() > 500 and sphere.sum() > 500, "both objects should be in shot"
    assert np.abs(stylized[sphere] - rendered[sphere]).max() <= 1.5 / 255, "the kept object must be unchanged"
    # style: Workbench's flat shading gains the painting's brush strokes and moves to its colours
    assert _detail(stylized, rest) > 3 * _detail(rendered, rest)
    painting = np.asarray(Image.open(STYLES / "starry_night.jpg").convert("RGB"), np.float32).reshape(-1, 3) / 255
    assert (np.linalg.norm(stylized[rest].mean(0) - painting.mean(0))
            < 0.5 * np.linalg.norm(rendered[rest].mean(0) - painting.mean(0)))
    assert np.abs(stylized[cube] - rendered[cube]).mean() > 0.05, "the Cube takes its own painting"
    render = tiny_scene.render  # the preview's render settings are put back
    assert (render.engine, render.resolution_x, render.resolution_y) == ("CYCLES", 64, 48)

    bpy.data.objects["Cube"].location.x += 0.8
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}
    moved, _, moved_ids = _shown()
    assert tuple(bpy.data.images[IMAGE].size) == SIZE
    swept = (ids == CUBE) != (moved_ids == CUBE)  # pixels the Cube entered or left
    kept = (ids == SPHERE) & (moved_ids == SPHERE)
    assert swept.sum() > 200
    change = np.abs(moved - stylized).mean(-1)
    assert change[swept].mean() > 0.1 and change[kept].max() <= 1.5 / 255


def test_a_cycles_preview_renders_few_samples_at_its_size_and_puts_the_render_settings_back(tiny_scene, live):
    live.engine, live.samples = "CYCLES", 1
    render = tiny_scene.render
    render.resolution_percentage, render.use_border = 50, True
    seen = []

    def note(scene, *args):
        seen.append((scene.render.engine, scene.cycles.samples, scene.render.resolution_x,
                     scene.render.resolution_percentage, scene.render.use_border))

    live.enabled = True
    bpy.app.handlers.render_pre.append(note)
    try:
        assert bpy.ops.nst.live_preview_step() == {"FINISHED"}
    finally:
        bpy.app.handlers.render_pre.remove(note)
    assert ("CYCLES", 1, SIZE[0], 100, False) in seen
    assert tuple(bpy.data.images[IMAGE].size) == SIZE
    assert (render.engine, tiny_scene.cycles.samples, render.resolution_x, render.resolution_y,
            render.resolution_percentage, render.use_border) == ("CYCLES", 2, 64, 48, 50, True)


def test_a_burst_of_changes_stylizes_only_the_last(tiny_scene, live):
    preview = _module("preview")
    live.enabled = True
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}  # the worker is up
    state = preview.state()
    bpy.context.view_layer.update()
    assert not state.dirty, "the preview's own render settings and figures must not count as a change"
    renders, stylized, shown = state.renders, state.stylized, state.shown
    cube = bpy.data.objects["Cube"]
    for _ in range(5):  # changes closer together than the debounce: noted, nothing rendered yet
        cube.location.x += 0.2
        bpy.context.view_layer.update()  # what Blender's main loop does after a change: the handler sees it
        assert preview._tick() == preview.TICK_S
    assert state.dirty and state.renders == renders
    time.sleep(preview.DEBOUNCE_S)
    deadline = time.monotonic() + 300
    while state.shown == shown or state.rounds:
        assert time.monotonic() < deadline, "no preview after the burst"
        preview._tick()
        time.sleep(preview.TICK_S)
    assert (state.renders, state.stylized) == (renders + 1, stylized + 1)
    after_burst, content, _ = _shown()
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}  # the final state, rendered and stylized afresh
    again, content_again, _ = _shown()
    assert np.array_equal(content, content_again), "the burst's preview must show the last state"
    assert np.abs(after_burst - again).max() <= 2 / 255

    # rounds sent faster than the worker stylizes: the one running finishes, the queued stale ones are dropped
    renders, stylized, superseded = state.renders, state.stylized, state.superseded
    for _ in range(4):
        cube.location.x -= 0.2
        assert bpy.ops.nst.live_preview_step(wait=False) == {"FINISHED"}
    cube.location.x -= 0.2
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}
    assert state.renders == renders + 5
    # how many get dropped depends on how fast the worker is against the renders (the worker-level test below drops
    # a known number); here every round is either stylized or dropped, and the newest is the one shown
    assert (state.stylized - stylized) + (state.superseded - superseded) == 5
    assert state.stylized > stylized
    assert state.shown == state.sequence == bpy.data.images[IMAGE]["nst_sequence"]


def test_a_worker_that_dies_turns_the_preview_off_with_a_message(tiny_scene, live):
    preview = _module("preview")
    live.enabled = True
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}
    process = preview.state().process
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert preview._tick() is None, "the timer stops"
    assert not live.enabled
    assert live.status == DIED
    assert preview._on_depsgraph_update not in bpy.app.handlers.depsgraph_update_post
    with pytest.raises(RuntimeError, match="Live Preview is off"):
        bpy.ops.nst.live_preview_step()


def test_the_worker_drops_queued_previews_that_a_newer_one_replaced(addon, tmp_path):
    client = _module("worker_client").WorkerClient(sys.executable)
    content = tmp_path / "content.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)).save(content)
    client.start()
    try:
        busy = client.submit({"type": "check"})  # imports torch and loads VGG-19: the previews queue behind it
        previews = [client.submit({"type": "stylize", "preview": True, "model": "any", "content": str(content),
                                   "output": str(tmp_path / f"preview_{i}.png"), "device": "cpu",
                                   "styles": [str(STYLES / "starry_night.jpg")]}) for i in range(4)]
        deadline = time.monotonic() + 300
        while not all(job.done for job in (busy, *previews)):
            assert time.monotonic() < deadline
            client.pump(timeout_s=0.5)
    finally:
        client.shutdown()
    assert busy.result is not None
    assert [job.cancelled for job in previews] == [True, True, True, False]
    assert previews[-1].result is not None
    assert sorted(p.name for p in tmp_path.glob("preview_*.png")) == ["preview_3.png"]

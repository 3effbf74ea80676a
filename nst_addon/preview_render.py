"""Live Preview's renders: the active camera at the preview's size and engine into a PNG, and the flat-colour ID
render that tells the per-object settings apart; every setting changed for them is put back."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

import bpy
import numpy as np

from .images import image_pixels, remove_quietly
from .property_groups.live_preview import NST_LivePreviewSettings
from .rendering import save_render
from .worker_client import refuse_writing

RENDER_SLOT = "NST Live Preview"  # the Render Result slot previews render into, so the user's render is kept


@contextlib.contextmanager
def changed(owner: Any, **values: Any) -> Iterator[None]:
    """Set attributes of `owner` for the duration of the block, then put back what was there."""
    saved = {name: getattr(owner, name) for name in values}
    saved = {name: value[:] if hasattr(value, "__getitem__") and not isinstance(value, str) else value
             for name, value in saved.items()}
    try:
        for name, value in values.items():
            setattr(owner, name, value)
        yield
    finally:
        for name, value in reversed(saved.items()):
            setattr(owner, name, value)


@contextlib.contextmanager
def _render_slot() -> Iterator[None]:
    """Render into a Render Result slot of the preview's own, so the user's last render stays where it was."""
    result = bpy.data.images.get("Render Result")
    if result is None or result.type != "RENDER_RESULT":
        yield
        return
    slots = result.render_slots
    active = slots.active_index
    index = next((i for i, slot in enumerate(slots) if slot.name == RENDER_SLOT), None)
    if index is None:
        slots.new(name=RENDER_SLOT)
        index = len(slots) - 1
    slots.active_index = index
    try:
        yield
    finally:
        slots.active_index = active


def render_preview(scene: bpy.types.Scene, live: NST_LivePreviewSettings, folder: Path,
                   labels: dict[str, int]) -> tuple[Path, Path | None]:
    """Render the active camera at the preview's size and engine into a PNG (and the ID map, when objects have
    their own settings); every render setting changed is put back. The caller runs it as the preview's own change
    (preview.own_changes), so the scene handler does not take it for the user's."""
    content = folder / "render.png"
    mask = folder / "ids.npy" if labels else None
    with _render_slot(), contextlib.ExitStack() as stack:
        stack.enter_context(changed(scene.render, engine=live.engine, resolution_x=live.width_px,
                                    resolution_y=live.height_px, resolution_percentage=100, use_border=False))
        if live.engine == "CYCLES":
            stack.enter_context(changed(scene.cycles, samples=live.samples))
        elif live.engine == "BLENDER_EEVEE":
            stack.enter_context(changed(scene.eevee, taa_render_samples=live.samples))
        bpy.ops.render.render(scene=scene.name)
        save_render(scene, content, multilayer=False)
        if mask is not None:
            render_ids(scene, labels, mask)
    return content, mask


def render_ids(scene: bpy.types.Scene, labels: dict[str, int], path: Path) -> None:
    """A flat-colour Workbench render with each styled object in its label's colour (bit 0 red, 1 green, 2 blue),
    everything else black, saved as region ids (H x W, rows top to bottom) in a .npy file."""
    png = path.with_suffix(".png")
    shading = scene.display.shading
    with contextlib.ExitStack() as stack:
        stack.enter_context(changed(scene.render, engine="BLENDER_WORKBENCH", film_transparent=True,
                                    use_compositing=False, use_sequencer=False))
        stack.enter_context(changed(scene.display, render_aa="OFF"))
        stack.enter_context(changed(shading, light="FLAT", color_type="OBJECT", show_object_outline=False,
                                    show_cavity=False, show_shadows=False, show_xray=False, use_dof=False))
        stack.enter_context(changed(scene.view_settings, view_transform="Standard", look="None", exposure=0.0,
                                    gamma=1.0, use_curve_mapping=False))
        for ob in scene.objects:
            label = labels.get(ob.name, 0)
            stack.enter_context(changed(ob, color=(label & 1, (label >> 1) & 1, (label >> 2) & 1, 1.0)))
        bpy.ops.render.render(scene=scene.name)
        save_render(scene, png, multilayer=False)
    image = bpy.data.images.load(str(png), check_existing=False)
    try:
        rgba = image_pixels(image)[::-1]
    finally:
        bpy.data.images.remove(image)
        remove_quietly(png)
    ids = ((rgba[..., :3] > 0.5) * np.array([1, 2, 4])).sum(axis=-1) * (rgba[..., 3] > 0.5)
    temp = path.with_name(f".{path.stem}.part.npy")
    refuse_writing(path, "a preview file")
    refuse_writing(temp, "a temporary preview file")
    np.save(temp, ids.astype(np.uint8))
    os.replace(temp, path)


"""Moving pixels between Blender images and files: exporting textures and styles, bringing results back.

Results come back as sRGB byte images; an exported image keeps its look (float images are encoded to sRGB).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy
import numpy as np

NON_COLOR_SPACES = {"Non-Color", "Raw", "Generic Data", "Linear Data"}


def is_data_image(image: bpy.types.Image) -> bool:
    """True for images that hold data (normals, roughness), not pictures."""
    return image.colorspace_settings.is_data or image.colorspace_settings.name in NON_COLOR_SPACES


def image_pixels(image: bpy.types.Image) -> np.ndarray:
    """RGBA float pixels, rows bottom to top, as Blender stores them."""
    width, height = image.size
    pixels = np.empty(width * height * image.channels, dtype=np.float32)
    pixel_buffer(image).foreach_get(pixels)
    pixels = pixels.reshape(height, width, image.channels)
    if image.channels == 4:
        return pixels
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., :min(3, image.channels)] = pixels[..., :3]
    if image.channels < 3:
        rgba[..., 1:3] = pixels[..., :1]
    return rgba


def pixel_buffer(image: bpy.types.Image) -> Any:
    """`image.pixels` as the buffer it is (typed as a float sequence in the stubs)."""
    return image.pixels


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, None)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def export_png(image: bpy.types.Image, path: Path) -> Path:
    """Write `image` as an 8-bit sRGB PNG through a temporary copy; `image` itself is never changed."""
    width, height = image.size
    if width == 0 or height == 0:
        raise ValueError(f"the image '{image.name}' has no pixels (is its file missing?)")
    rgba = image_pixels(image)
    if image.is_float:
        rgba = rgba.copy()
        rgba[..., :3] = linear_to_srgb(rgba[..., :3])
    return write_png(rgba, path)


def write_png(rgba: np.ndarray, path: Path) -> Path:
    """Save RGBA pixels (H x W x 4, rows bottom to top as Blender stores them) as a PNG via a temporary image."""
    from .worker_client import refuse_writing

    refuse_writing(path, "an image the job writes")
    height, width = rgba.shape[:2]
    image = bpy.data.images.new(".nst-export", width, height, alpha=True)
    try:
        pixel_buffer(image).foreach_set(np.clip(rgba, 0.0, 1.0).ravel())
        image.filepath_raw = str(path)
        image.file_format = "PNG"
        image.save()
    finally:
        bpy.data.images.remove(image)
    return path


def load_result(path: Path, name: str, size: tuple[int, int] | None = None) -> bpy.types.Image:
    """The engine's output as the image datablock `name` (made or replaced), scaled to `size`, packed in the file."""
    loaded = bpy.data.images.load(str(path), check_existing=False)
    try:
        loaded.colorspace_settings.name = "sRGB"
        width, height = size or tuple(loaded.size)
        if tuple(loaded.size) != (width, height):
            loaded.scale(width, height)
        pixels = image_pixels(loaded)
    finally:
        bpy.data.images.remove(loaded)
    image = bpy.data.images.get(name)
    if image is None or tuple(image.size) != (width, height) or image.is_float:
        if image is not None:
            image.name = name + ".old"
        fresh = bpy.data.images.new(name, width, height, alpha=True)
        if image is not None:
            image.user_remap(fresh)
            bpy.data.images.remove(image)
        image = fresh
    image.colorspace_settings.name = "sRGB"
    pixel_buffer(image).foreach_set(pixels.ravel())
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.pack()
    image.update()
    return image


def show_in_image_editor(context: bpy.types.Context, image: bpy.types.Image) -> bool:
    """Put `image` in the first Image Editor of the current screen; False if there is none."""
    screen = getattr(context, "screen", None)
    for area in (screen.areas if screen is not None else ()):
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = image
            area.tag_redraw()
            return True
    return False


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

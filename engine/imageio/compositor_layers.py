"""The compositor's multilayer EXR of a stylized frame: the render's own layers and passes as Blender wrote them,
plus a `Stylized` layer with Combined (the stylized frame) and, where objects have their own settings, one pass per
object: its stylized colour over its Object Index mask, with the mask as alpha.

Blender names a multilayer EXR's channels `<layer>.<pass>.<channel>`, so Blender's Image node offers `Stylized` as
a layer beside the view layer. The stylized colour is stored scene-linear and premultiplied, as Combined is: the
inverse of the sRGB display curve, so under the Standard view transform it shows as the stylized picture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR

from ..runtime.errors import EngineError
from .color import srgb_to_linear
from .images import SETTINGS_KEY, atomic_path, read_exr_channels, read_image
from .passes import index_pass

STYLIZED_LAYER = "Stylized"
STRUCTURAL_HEADER = {"channels", "chunkCount", "dataWindow", "displayWindow", "compression", "type", "lineOrder",
                     "name", "tiles"}  # set by the writer from the channels written


def _render_header(passes: Path) -> dict:
    """The render's header attributes: Blender's own (BlenderMultiChannel marks a multilayer file), the camera,
    frame and render statistics."""
    return dict(OpenEXR.File(str(passes), header_only=True).parts[0].header)


def _object_index(channels: dict[str, np.ndarray], passes: Path) -> np.ndarray:
    index = index_pass(channels, passes)
    if index is None:
        raise EngineError(f"{passes} has no Object Index pass, which the objects' layers need; turn on View Layer > "
                          "Passes > Object Index and render again")
    return index


def write_compositor_layers(passes: Path, stylized: Path, output: Path,
                            objects: dict[str, int] | None = None) -> Path:
    """`output`: the render's multilayer EXR `passes` with the `Stylized` layer added; `objects` (name: pass index)
    each get a pass of their own in it."""
    passes, stylized, output = Path(passes), Path(stylized), Path(output)
    if output.suffix.lower() != ".exr":
        raise EngineError(f"the compositor layers {output} must be an .exr file; name it .exr")
    channels = read_exr_channels(passes, "render passes")
    rgb, alpha = read_image(stylized, "stylized frame")
    height, width = next(iter(channels.values())).shape
    if rgb.shape[:2] != (height, width):
        raise EngineError(f"the stylized frame {stylized} is {rgb.shape[1]}x{rgb.shape[0]} but the render {passes} "
                          f"is {width}x{height}; stylize at the render's own size (full resolution)")
    coverage = np.ones((height, width), np.float32) if alpha is None else alpha.astype(np.float32)
    linear = srgb_to_linear(np.clip(rgb, 0.0, 1.0)).astype(np.float32) * coverage[..., None]
    layers = {"Combined": (linear, coverage)}
    if objects:
        index = _object_index(channels, passes)
        for name, pass_index in objects.items():
            mask = (index == pass_index).astype(np.float32) * coverage
            layers[name] = (linear * mask[..., None], mask)
    for pass_name, (colour, mask) in layers.items():
        prefix = f"{STYLIZED_LAYER}.{pass_name.replace('.', '_')}."
        for i, channel in enumerate("RGB"):
            channels[prefix + channel] = colour[..., i]
        channels[prefix + "A"] = mask
    header = {key: value for key, value in _render_header(passes).items() if key not in STRUCTURAL_HEADER}
    header.update({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
                   SETTINGS_KEY: '{"kind": "compositor layers"}'})
    with atomic_path(output) as temp:
        OpenEXR.File(header, {name: np.ascontiguousarray(array, dtype=np.float32)
                              for name, array in channels.items()}).write(str(temp))
    return output

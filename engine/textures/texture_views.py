"""Rendered views of a textured object: reading them (multilayer EXR with the UV pass), checking that a view's UV
pass matches the texture, sampling the texture where a view sees it, and which texels the views see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..imageio.images import MIN_SIDE_PX, read_rgb
from ..imageio.passes import read_passes
from ..imageio.tensors import to_tensor
from ..optimizer.options import DEFAULT_CONTENT_LAYERS
from ..runtime.errors import EngineError
from ..shapes.structure import read_structure_passes, structure_map

if TYPE_CHECKING:
    from ..stylize import StyleTransfer

VIEW_MATCH_MIN_CORRELATION = 0.5  # sampling the texture at the UV pass must look like the render


@dataclass
class TextureView:
    """One rendered view of the textured object."""

    image: np.ndarray  # H x W x 3 sRGB, the view as rendered
    uv: np.ndarray  # H x W x 2 texture coordinates from the UV pass (u right, v up, as in Blender)
    mask: np.ndarray  # H x W in [0, 1]: pixels that show the object
    name: str = "view"
    structure: np.ndarray | None = None  # H x W: the structure term's map from the view's passes, or None (off)


def prepare_view(engine: StyleTransfer, view: TextureView, original: torch.Tensor) -> dict:
    """Sampling grid, object mask, background and content targets of one view; checks the UV pass fits."""
    if view.uv.shape[:2] != view.image.shape[:2] or view.mask.shape[:2] != view.image.shape[:2]:
        raise EngineError(f"{view.name}: the UV pass ({view.uv.shape[1]}x{view.uv.shape[0]}) and the object mask "
                          f"must have the view's size ({view.image.shape[1]}x{view.image.shape[0]}); render them "
                          "together")
    if min(view.image.shape[:2]) < MIN_SIDE_PX:
        raise EngineError(f"{view.name} is {view.image.shape[1]}x{view.image.shape[0]} px; views need at least "
                          f"{MIN_SIDE_PX} px on each side")
    mask = torch.from_numpy(np.ascontiguousarray(view.mask, dtype=np.float32)).to(engine.device)[None, None]
    if float(mask.sum()) < 16:
        raise EngineError(f"{view.name}: the object covers {int(mask.sum())} pixels of this view; aim the camera at "
                          "the object (or check its pass index)")
    grid = uv_grid(view.uv, engine.device)
    picture = to_tensor(view.image, engine.device)
    sampled = sample_texture(original, grid)
    correlation = _masked_correlation(sampled, picture, mask)
    if correlation < VIEW_MATCH_MIN_CORRELATION:
        raise EngineError(f"{view.name}: the UV pass does not match the texture (sampling the texture at the view's "
                          f"UVs looks unlike the render: correlation {correlation:.2f}, needs "
                          f"{VIEW_MATCH_MIN_CORRELATION}); render the view with this texture on the object, "
                          "using the UV map the texture is painted on")
    with torch.no_grad():  # the content target is the view as rendered
        content = {k: v.detach().float() for k, v in engine.features(picture, DEFAULT_CONTENT_LAYERS).items()}
    structure = None if view.structure is None else torch.from_numpy(
        np.ascontiguousarray(view.structure, dtype=np.float32)).to(engine.device)
    return dict(grid=grid, mask=mask, background=picture * (1 - mask), content=content, picture=picture,
                structure=structure)


def seen_texels(prepared: list[dict], height: int, width: int, device: torch.device) -> np.ndarray:
    """Texels some view samples, with gaps between samples (texels finer than the views' pixels) closed."""
    ones = torch.ones(1, 1, height, width, device=device, requires_grad=True)
    total = sum((sample_texture(ones, view["grid"]) * view["mask"]).sum() for view in prepared)
    total.backward()
    footprint = (ones.grad > 0).float()
    radius = max(_texels_per_pixel(view["grid"], view["mask"], height, width) for view in prepared)
    radius = max(1, math.ceil(radius))
    kernel = 2 * radius + 1
    padded = F.pad(footprint, (radius,) * 4, mode="circular")
    grown = F.max_pool2d(padded, kernel, stride=1)
    closed = -F.max_pool2d(F.pad(-grown, (radius,) * 4, mode="circular"), kernel, stride=1)
    return (torch.maximum(closed, footprint)[0, 0] > 0.5).cpu().numpy()


def uv_grid(uv: np.ndarray, device: torch.device) -> torch.Tensor:
    """grid_sample coordinates of a UV pass: u, v repeat every 1 (Blender's Repeat extension); v points up."""
    u = uv[..., 0] - np.floor(uv[..., 0])
    v = uv[..., 1] - np.floor(uv[..., 1])
    grid = np.stack([u * 2 - 1, (1 - v) * 2 - 1], axis=-1).astype(np.float32)
    return torch.from_numpy(grid)[None].to(device)


def sample_texture(texture: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear texture lookup, the texel centres where Blender has them (align_corners=False)."""
    return F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _masked_correlation(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    weights = mask[0, 0].flatten() > 0.5
    x, y = a[0].mean(0).flatten()[weights], b[0].mean(0).flatten()[weights]
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-8))


def _texels_per_pixel(grid: torch.Tensor, mask: torch.Tensor, height: int, width: int) -> float:
    """Median texel distance between neighbouring object pixels of a view (ignoring UV seams)."""
    texels = (grid[0] + 1) / 2 * torch.tensor([width, height], device=grid.device)
    inside = mask[0, 0] > 0.5
    steps = []
    for shifted, both in ((texels[:, 1:] - texels[:, :-1], inside[:, 1:] & inside[:, :-1]),
                          (texels[1:] - texels[:-1], inside[1:] & inside[:-1])):
        distance = shifted.norm(dim=-1)[both]
        steps.append(distance[distance < 0.25 * max(height, width)])
    distances = torch.cat(steps)
    return float(distances.median()) if distances.numel() else 1.0


def read_views(paths: Sequence[Path], object_index: int | None = None, structure: float = 0.0) -> list[TextureView]:
    """Views from Blender multilayer EXRs with the UV pass (and Object Index): the display PNG beside each EXR is
    the view's picture when present, else its Combined pass. Without `object_index`, every UV'd pixel counts.
    With `structure` above 0, each view's shapes come from its Depth (Object Index, Normal) passes: refused in one
    line when a view has no Depth."""
    views = []
    for path in paths:
        path = Path(path)
        passes = read_passes(path)
        uv = passes.require_uv()
        picture_path = path.with_suffix(".png")
        image = read_rgb(picture_path if picture_path.is_file() else path, "view")
        if image.shape[:2] != uv.shape[:2]:
            raise EngineError(f"{picture_path} is {image.shape[1]}x{image.shape[0]} px but its passes {path} are "
                              f"{uv.shape[1]}x{uv.shape[0]}; render them together")
        mask = uv[..., 2] > 0.5
        if object_index is not None:
            if passes.object_index is None:
                raise EngineError(f"{path} has no Object Index pass; enable View Layer > Passes > Object Index")
            mask &= passes.object_index == object_index
        shapes = structure_map(read_structure_passes(path, uv.shape[:2]), structure) if structure > 0 else None
        views.append(TextureView(image, uv[..., :2], mask.astype(np.float32), path.stem, shapes))
    return views

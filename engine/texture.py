"""Texture stylization: flat textures (seamless by wrap-around, or only inside the mesh's UV islands) and textures
optimized through rendered views of the object (differentiable sampling at each view's UV pass).

Both reuse `StyleTransfer`'s loss network and style-target cache; pixels are H x W x 3 sRGB in [0, 1], rows top-down.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .errors import EngineError
from .imageio import MIN_SIDE_PX, read_rgb
from .losses import content_distance, gram_matrix, mix_statistics, resize_weight_map, style_distance
from .passes import read_passes
from .stylize import (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, Progress, StyleTransfer, normalised_weights, resize_image,
                      to_numpy, to_tensor, fit_longest_side, scale_sizes, strength_to_weight)
from .vgg import VGG19Features

ISLAND_PADDING_PX = 4
VIEW_MATCH_MIN_CORRELATION = 0.5  # sampling the texture at the UV pass must look like the render
TEXTURE_LEVELS = 4  # the texture is optimized as a Laplacian pyramid: coarse levels fill texels views skip over
SEAMLESS_MULTIPLE_PX = 16  # VGG-19 pools four times before relu5_1: sizes that divide evenly keep pooling periodic


@dataclass
class TextureView:
    """One rendered view of the textured object."""

    image: np.ndarray  # H x W x 3 sRGB, the view as rendered
    uv: np.ndarray  # H x W x 2 texture coordinates from the UV pass (u right, v up, as in Blender)
    mask: np.ndarray  # H x W in [0, 1]: pixels that show the object
    name: str = "view"


@dataclass
class TextureResult:
    image: np.ndarray  # the new texture, H x W x 3
    changed: np.ndarray  # H x W bool: texels that may differ from the original
    settings: dict
    losses: dict
    elapsed_s: float


# -- seams ---------------------------------------------------------------------------------------------------


def wrap_around_model(model: VGG19Features) -> VGG19Features:
    """A copy of the loss network whose convolutions pad circularly: the image is treated as a torus."""
    wrapped = copy.deepcopy(model)
    for layer in wrapped.layers:
        if isinstance(layer, torch.nn.Conv2d):
            layer.padding_mode = "circular"
    return wrapped


def _resize_wrapped(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a tileable image so it stays tileable: filter a 3 x 3 tiling, keep the middle tile."""
    if image.shape[-2:] == (height, width):
        return image
    tiled = image.repeat(1, 1, 3, 3)
    big = F.interpolate(tiled, size=(3 * height, 3 * width), mode="bicubic", antialias=True, align_corners=False)
    return big[..., height:2 * height, width:2 * width].clamp(0, 1)


def _total_variation(image: torch.Tensor, wrap: bool, weight_map: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared neighbour difference; with `wrap`, across the tile border too."""
    if wrap:
        dx, dy = image - image.roll(1, -1), image - image.roll(1, -2)
    else:
        dx, dy = image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]
    if weight_map is None:
        return dx.pow(2).mean() + dy.pow(2).mean()
    wx = weight_map[..., :, 1:] * weight_map[..., :, :-1] if not wrap else weight_map
    wy = weight_map[..., 1:, :] * weight_map[..., :-1, :] if not wrap else weight_map
    return (dx.pow(2) * wx).sum() / (3 * wx.sum()).clamp_min(1) + (dy.pow(2) * wy).sum() / (3 * wy.sum()).clamp_min(1)


def tile_seam_ratio(image: np.ndarray) -> float:
    """Mean gradient across the tile borders of a 2 x 2 tiling divided by the mean gradient inside the tiles.

    About 1 for a texture that tiles invisibly; well above 1 when the borders show as seams.
    """
    height, width = image.shape[:2]
    tiled = np.tile(image.astype(np.float64), (2, 2, 1))
    dx = np.abs(np.diff(tiled, axis=1)).sum(-1)  # between columns c and c + 1
    dy = np.abs(np.diff(tiled, axis=0)).sum(-1)
    seam = np.concatenate([dx[:, width - 1], dy[height - 1, :]]).mean()
    inside = np.concatenate([np.delete(dx, width - 1, axis=1).ravel(), np.delete(dy, height - 1, axis=0).ravel()])
    return float(seam / max(inside.mean(), 1e-12))


def pad_islands(image: np.ndarray, islands: np.ndarray, padding_px: int, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Bleed island texels `padding_px` texels outward (each new texel: the mean of its filled neighbours).

    Returns the padded image and the mask of texels it now covers; texture filtering then finds island colours,
    not the gutter's, at island borders.
    """
    filled = islands.astype(bool).copy()
    result = image.copy()
    mode = "wrap" if wrap else "edge"
    for _ in range(padding_px):
        values = np.pad(result * filled[..., None], ((1, 1), (1, 1), (0, 0)), mode=mode)
        counts = np.pad(filled.astype(np.float32), 1, mode=mode)
        total, count = np.zeros_like(result), np.zeros(filled.shape, np.float32)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                if dy == dx == 1:
                    continue
                total += values[dy:dy + filled.shape[0], dx:dx + filled.shape[1]]
                count += counts[dy:dy + filled.shape[0], dx:dx + filled.shape[1]]
        ring = ~filled & (count > 0)
        result[ring] = total[ring] / count[ring, None]
        filled |= ring
    return result, filled


# -- the optimization both modes share --------------------------------------------------------------------------


@dataclass(frozen=True)
class TextureObjective:
    """Weights of the loss terms (relative losses, as in `StyleTransfer.stylize`)."""

    content_weight: float = 1.0
    style_weight: float = 30.0
    tv_weight: float = 10.0
    style_strength: float = 1.0


def _check_common(styles, style_blend, iterations: int, objective: TextureObjective) -> list[float]:
    if not styles:
        raise EngineError("no style image given; give at least one")
    if iterations < 1:
        raise EngineError(f"iterations must be at least 1, got {iterations}")
    if not 0.0 <= objective.style_strength <= 1.0:
        raise EngineError(f"style strength must be between 0 and 1, got {objective.style_strength}")
    return normalised_weights(style_blend, len(styles), "style blend")


def _lbfgs(parameters: list[torch.Tensor], loss_and_gradients: Callable, iterations: int, report: Callable) -> dict:
    """Run L-BFGS on `parameters`; `loss_and_gradients()` accumulates the gradients and returns the floats (total,
    content, style, tv). Returns the last losses."""
    optimizer = torch.optim.LBFGS(parameters, lr=1.0, max_iter=1, history_size=100, tolerance_grad=0.0,
                                  tolerance_change=0.0)
    last: dict = {}
    for iteration in range(1, iterations + 1):
        terms: dict = {}

        def closure():
            optimizer.zero_grad()
            terms["values"] = loss_and_gradients()
            return torch.tensor(terms["values"][0])

        optimizer.step(closure)
        last = dict(zip(("loss", "content", "style", "tv"), terms["values"]))
        report(iteration, terms["values"])
    return last


def _backward(terms) -> list[float]:
    """Back-propagate the total (the first term); the terms as floats."""
    terms[0].backward()
    return [float(term.detach()) for term in terms]


class TextureStylizer:
    """Texture jobs on top of a `StyleTransfer` (its loss network, device and style-target cache)."""

    def __init__(self, engine: StyleTransfer):
        self.engine = engine
        self.device = engine.device
        self._wrapped: VGG19Features | None = None

    def _model(self, wrap: bool) -> VGG19Features:
        if not wrap:
            return self.engine.model
        if self._wrapped is None:
            self._wrapped = wrap_around_model(self.engine.model)
        return self._wrapped

    def _style_targets(self, styles, blend, longest_px: int) -> dict:
        targets = [self.engine._style_targets(s, longest_px, DEFAULT_STYLE_LAYERS, "gram") for s in styles]
        return {layer: mix_statistics([t[layer] for t in targets], blend) for layer in DEFAULT_STYLE_LAYERS}

    def _losses(self, model, image, content_targets, style_targets, weight_map, objective, wrap):
        """Content, style (guided by `weight_map`), TV of one image against its targets."""
        features = model(image, [*DEFAULT_CONTENT_LAYERS, *DEFAULT_STYLE_LAYERS])
        c_loss = sum(content_distance(features[layer], content_targets[layer],
                                      None if weight_map is None else
                                      resize_weight_map(weight_map, *features[layer].shape[-2:]))
                     for layer in DEFAULT_CONTENT_LAYERS) / len(DEFAULT_CONTENT_LAYERS)
        s_loss = sum(style_distance("gram", {"gram": gram_matrix(features[layer], None if weight_map is None else
                                                                 resize_weight_map(weight_map, *features[layer].shape[-2:]))},
                                    style_targets[layer]) for layer in DEFAULT_STYLE_LAYERS) / len(DEFAULT_STYLE_LAYERS)
        tv = _total_variation(image, wrap, weight_map)
        total = (objective.content_weight * c_loss + objective.style_weight * strength_to_weight(
            objective.style_strength) * s_loss + objective.tv_weight * tv)
        return total, c_loss, s_loss, tv

    # -- flat ---------------------------------------------------------------------------------------------------

    def stylize_flat(self, texture: np.ndarray, styles: Sequence[np.ndarray], *, seamless: bool = False,
                     uv_mask: np.ndarray | None = None, size_px: int | None = None, iterations: int = 200,
                     scales: int | None = None, island_padding_px: int = ISLAND_PADDING_PX,
                     style_blend: Sequence[float] | None = None, objective: TextureObjective = TextureObjective(),
                     seed: int = 0, callback: Callable[[Progress], None] | None = None) -> TextureResult:
        """Stylize a texture as a picture. `seamless` keeps a tileable texture tileable; with `uv_mask` (H x W,
        texels inside the UV islands) only the islands, plus `island_padding_px` of bleed, change."""
        started = time.perf_counter()
        blend = _check_common(styles, style_blend, iterations, objective)
        height, width = texture.shape[:2] if size_px is None else fit_longest_side(*texture.shape[:2], size_px)
        if min(height, width) < MIN_SIDE_PX:
            raise EngineError(f"the texture would be {width}x{height} px; each side needs at least {MIN_SIDE_PX} px")
        islands = None
        if uv_mask is not None:
            if uv_mask.shape[:2] != texture.shape[:2]:
                raise EngineError(f"the UV island mask is {uv_mask.shape[1]}x{uv_mask.shape[0]} px but the texture is "
                                  f"{texture.shape[1]}x{texture.shape[0]} px; make the mask at the texture's size")
            islands = resize_image(torch.from_numpy(uv_mask.astype(np.float32))[None, None], height, width)[0, 0] > 0.5
            if not islands.any():
                raise EngineError("the UV island mask is empty: no texel is inside a UV island")
        torch.manual_seed(seed)
        resize = _resize_wrapped if seamless else resize_image
        model = self._model(seamless)
        original = resize(to_tensor(texture, self.device), height, width)
        image = None
        sizes = scale_sizes(max(height, width), scales)
        losses: dict = {}
        for scale_index, longest in enumerate(sizes, start=1):
            scale_h, scale_w = _work_shape(height, width, longest, seamless)
            content = resize(original, scale_h, scale_w)
            image = content.clone() if image is None else resize(image, scale_h, scale_w)
            weight_map = None if islands is None else resize_weight_map(islands.float().to(self.device), scale_h, scale_w)
            with torch.no_grad():
                content_targets = {k: v.detach() for k, v in model(content, DEFAULT_CONTENT_LAYERS).items()}
            style_targets = self._style_targets(styles, blend, max(scale_h, scale_w))
            variable = image.detach().clone().requires_grad_(True)

            def report(iteration, terms):  # runs within this scale's loop, so the loop's names are current
                if callback is not None:
                    callback(Progress(iteration, iterations, scale_index, len(sizes), scale_w, scale_h, *terms,
                                      time.perf_counter() - started, _image=variable.detach()))

            losses = _lbfgs([variable], lambda: _backward(self._losses(model, variable, content_targets, style_targets,
                                                                       weight_map, objective, seamless)),
                            iterations, report)
            image = variable.detach().clamp(0, 1)
        result = to_numpy(resize(image, height, width))
        base = to_numpy(original) if (height, width) != texture.shape[:2] else texture.astype(np.float32)
        changed = np.ones((height, width), bool)
        if islands is not None:
            result, changed = pad_islands(result, islands.cpu().numpy(), island_padding_px, seamless)
            result = np.where(changed[..., None], result, base)
        settings = dict(mode="flat", seamless=seamless, uv_mask=uv_mask is not None, island_padding_px=island_padding_px,
                        iterations=iterations, scale_sizes_px=sizes, width_px=width, height_px=height, seed=seed,
                        style_blend=blend, **objective.__dict__, weights=self.engine.model.info.source)
        return TextureResult(result.astype(np.float32), changed, settings, losses, time.perf_counter() - started)

    # -- from views ---------------------------------------------------------------------------------------------

    def stylize_from_views(self, texture: np.ndarray, views: Sequence[TextureView], styles: Sequence[np.ndarray], *,
                           iterations: int = 100, style_blend: Sequence[float] | None = None,
                           objective: TextureObjective = TextureObjective(), seed: int = 0,
                           callback: Callable[[Progress], None] | None = None) -> TextureResult:
        """Optimize the texture itself so that every view of the object carries the style.

        Each view is predicted by sampling the texture at the view's UV pass (bilinear, repeating like Blender's
        default image extension) over the render's background; its content stays near the view as rendered (unlit:
        the add-on renders the texture as emission) and its object pixels take the style.
        Texels that no view sees keep their original value.
        """
        started = time.perf_counter()
        blend = _check_common(styles, style_blend, iterations, objective)
        if not views:
            raise EngineError("no views given; render at least one view of the object with the UV pass")
        torch.manual_seed(seed)
        height, width = texture.shape[:2]
        original = to_tensor(texture, self.device)
        prepared = [self._prepare_view(view, original) for view in views]
        seen = self._seen_texels(prepared, height, width)
        levels = [torch.zeros(1, 3, max(1, height >> k), max(1, width >> k), device=self.device, requires_grad=True)
                  for k in range(TEXTURE_LEVELS) if min(height >> k, width >> k) >= 4]

        def current_texture() -> torch.Tensor:
            change = sum(F.interpolate(level, size=(height, width), mode="bilinear", align_corners=False)
                         if level.shape[-2:] != (height, width) else level for level in levels)
            return (original + change).clamp(0, 1)

        model = self.engine.model
        style_targets = self._style_targets(styles, blend, max(views[0].image.shape[:2]))

        def loss_and_gradients() -> list[float]:
            """The mean over the views; each view's graph is freed after its backward pass, so memory stays that
            of one view however many there are."""
            totals = [0.0] * 4
            for view in prepared:
                picture = _sample(current_texture(), view["grid"]) * view["mask"] + view["background"]
                terms = self._losses(model, picture, view["content"], style_targets, view["mask"][0, 0], objective,
                                     wrap=False)
                values = _backward([term / len(prepared) for term in terms])
                totals = [t + v for t, v in zip(totals, values)]
            return totals

        def report(iteration, terms):
            if callback is not None:
                callback(Progress(iteration, iterations, 1, 1, width, height, *terms, time.perf_counter() - started,
                                  _image=current_texture().detach()))

        losses = _lbfgs(levels, loss_and_gradients, iterations, report)
        with torch.no_grad():
            result = to_numpy(current_texture())
        result = np.where(seen[..., None], result, texture.astype(np.float32))
        settings = dict(mode="views", views=[v.name for v in views], iterations=iterations, width_px=width,
                        height_px=height, seed=seed, style_blend=blend, texture_levels=len(levels),
                        seen_fraction=float(seen.mean()), **objective.__dict__, weights=model.info.source)
        return TextureResult(result.astype(np.float32), seen, settings, losses, time.perf_counter() - started)

    def _prepare_view(self, view: TextureView, original: torch.Tensor) -> dict:
        """Sampling grid, object mask, background and content targets of one view; checks the UV pass fits."""
        if view.uv.shape[:2] != view.image.shape[:2] or view.mask.shape[:2] != view.image.shape[:2]:
            raise EngineError(f"{view.name}: the UV pass ({view.uv.shape[1]}x{view.uv.shape[0]}) and the object mask "
                              f"must have the view's size ({view.image.shape[1]}x{view.image.shape[0]}); render them "
                              "together")
        if min(view.image.shape[:2]) < MIN_SIDE_PX:
            raise EngineError(f"{view.name} is {view.image.shape[1]}x{view.image.shape[0]} px; views need at least "
                              f"{MIN_SIDE_PX} px on each side")
        mask = torch.from_numpy(np.ascontiguousarray(view.mask, dtype=np.float32)).to(self.device)[None, None]
        if float(mask.sum()) < 16:
            raise EngineError(f"{view.name}: the object covers {int(mask.sum())} pixels of this view; aim the camera at "
                              "the object (or check its pass index)")
        grid = _grid(view.uv, self.device)
        picture = to_tensor(view.image, self.device)
        sampled = _sample(original, grid)
        correlation = _masked_correlation(sampled, picture, mask)
        if correlation < VIEW_MATCH_MIN_CORRELATION:
            raise EngineError(f"{view.name}: the UV pass does not match the texture (sampling the texture at the view's "
                              f"UVs looks unlike the render: correlation {correlation:.2f}, needs "
                              f"{VIEW_MATCH_MIN_CORRELATION}); render the view with this texture on the object, "
                              "using the UV map the texture is painted on")
        with torch.no_grad():  # the content target is the view as rendered
            content = {k: v.detach() for k, v in self.engine.model(picture, DEFAULT_CONTENT_LAYERS).items()}
        return dict(grid=grid, mask=mask, background=picture * (1 - mask), content=content)

    def _seen_texels(self, prepared: list[dict], height: int, width: int) -> np.ndarray:
        """Texels some view samples, with gaps between samples (texels finer than the views' pixels) closed."""
        ones = torch.ones(1, 1, height, width, device=self.device, requires_grad=True)
        total = sum((_sample(ones, view["grid"]) * view["mask"]).sum() for view in prepared)
        total.backward()
        footprint = (ones.grad > 0).float()
        radius = max(_texels_per_pixel(view["grid"], view["mask"], height, width) for view in prepared)
        radius = max(1, math.ceil(radius))
        kernel = 2 * radius + 1
        padded = F.pad(footprint, (radius,) * 4, mode="circular")
        grown = F.max_pool2d(padded, kernel, stride=1)
        closed = -F.max_pool2d(F.pad(-grown, (radius,) * 4, mode="circular"), kernel, stride=1)
        return (torch.maximum(closed, footprint)[0, 0] > 0.5).cpu().numpy()


def _work_shape(height: int, width: int, longest_px: int, seamless: bool) -> tuple[int, int]:
    """A scale's size; seamless sizes are multiples of 16 so VGG-19's pooling never straddles the tile border."""
    scale_h, scale_w = fit_longest_side(height, width, longest_px)
    scale_h, scale_w = max(scale_h, MIN_SIDE_PX), max(scale_w, MIN_SIDE_PX)
    if seamless:
        scale_h, scale_w = (max(SEAMLESS_MULTIPLE_PX, round(s / SEAMLESS_MULTIPLE_PX) * SEAMLESS_MULTIPLE_PX)
                            for s in (scale_h, scale_w))
    return scale_h, scale_w


def _grid(uv: np.ndarray, device: torch.device) -> torch.Tensor:
    """grid_sample coordinates of a UV pass: u, v repeat every 1 (Blender's Repeat extension); v points up."""
    u = uv[..., 0] - np.floor(uv[..., 0])
    v = uv[..., 1] - np.floor(uv[..., 1])
    grid = np.stack([u * 2 - 1, (1 - v) * 2 - 1], axis=-1).astype(np.float32)
    return torch.from_numpy(grid)[None].to(device)


def _sample(texture: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
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


def read_views(paths: Sequence[Path], object_index: int | None = None) -> list[TextureView]:
    """Views from Blender multilayer EXRs with the UV pass (and Object Index): the display PNG beside each EXR is
    the view's picture when present, else its Combined pass. Without `object_index`, every UV'd pixel counts."""
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
        views.append(TextureView(image, uv[..., :2], mask.astype(np.float32), path.stem))
    return views


def check_colour_texture(texture: np.ndarray, what: str) -> None:
    """Refuse what looks like a tangent-space normal map (unit vectors around +Z): data, not a picture."""
    vectors = texture.astype(np.float32) * 2 - 1
    unit = np.abs(np.linalg.norm(vectors, axis=-1) - 1) < 0.1
    mean = texture.reshape(-1, 3).mean(0)
    if unit.mean() > 0.9 and mean[2] > 0.7 and abs(mean[0] - 0.5) < 0.1 and abs(mean[1] - 0.5) < 0.1:
        raise EngineError(f"{what} looks like a normal map (Non-Color data, not a picture); only colour textures can "
                          "be stylized")


def stylize_texture_files(engine: StyleTransfer, texture_path, style_paths: Sequence, output, *,
                          views: Sequence[Path] = (), object_index: int | None = None, uv_mask_path=None,
                          seamless: bool = False, size_px: int | None = None, iterations: int = 200,
                          scales: int | None = None, island_padding_px: int = ISLAND_PADDING_PX,
                          style_blend: Sequence[float] | None = None, objective: TextureObjective = TextureObjective(),
                          seed: int = 0, callback: Callable[[Progress], None] | None = None) -> TextureResult:
    """One texture job from files to file, for the command line and the worker: flat without `views`, else from
    the views. The texture's alpha (cut-outs) passes through; the output carries its settings; nothing is written
    on a bad input."""
    from protocol import OverwritesInput, refuse_overwrite

    from .imageio import check_output_path, read_image, write_image

    try:  # never over an input, the views' display pictures included
        refuse_overwrite(output, {"the texture": [texture_path], "a style": list(style_paths),
                                  "the UV mask": [uv_mask_path], "a view": [*views, *(Path(v).with_suffix(".png")
                                                                                      for v in views)]})
    except OverwritesInput as exc:
        raise EngineError(str(exc)) from None
    output = check_output_path(output)
    texture, alpha = read_image(texture_path, "texture")
    check_colour_texture(texture, f"the texture {texture_path}")
    styles = [read_rgb(path, "style image") for path in style_paths]
    stylizer = TextureStylizer(engine)
    if views:
        if seamless or uv_mask_path is not None or size_px is not None:
            raise EngineError("--seamless, --uv-mask and --size belong to flat mode; from views, the texture keeps its "
                              "size and only the texels the views see change")
        result = stylizer.stylize_from_views(texture, read_views(views, object_index), styles, iterations=iterations,
                                             style_blend=style_blend, objective=objective, seed=seed, callback=callback)
    else:
        uv_mask = None
        if uv_mask_path is not None:
            mask_rgb, mask_alpha = read_image(uv_mask_path, "UV island mask")
            uv_mask = (mask_rgb.mean(-1) > 0.5) if mask_alpha is None else (mask_alpha > 0.5) & (mask_rgb.mean(-1) > 0.5)
        result = stylizer.stylize_flat(texture, styles, seamless=seamless, uv_mask=uv_mask, size_px=size_px,
                                       iterations=iterations, scales=scales, island_padding_px=island_padding_px,
                                       style_blend=style_blend, objective=objective, seed=seed, callback=callback)
    result.settings.update(texture=str(Path(texture_path).resolve()), styles=[str(Path(s).resolve()) for s in style_paths],
                           views=[str(Path(v).resolve()) for v in views], object_index=object_index,
                           uv_mask_file=None if uv_mask_path is None else str(Path(uv_mask_path).resolve()))
    if alpha is not None and alpha.shape != result.image.shape[:2]:
        alpha = cv2.resize(alpha, result.image.shape[1::-1], interpolation=cv2.INTER_AREA)
    write_image(output, result.image, result.settings, alpha=alpha)
    return result

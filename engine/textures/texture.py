"""Texture stylization: flat textures (seamless by wrap-around, or only inside the mesh's UV islands) and textures
optimized through rendered views of the object (differentiable sampling at each view's UV pass).

Both run on the engine core: `StyleTransfer`'s loss network (its precision, channels-last on CUDA) and style-target
cache, the shared objective (engine/optimizer/objective.py), the optimizer loop (engine/optimizer/optimize.py: L-BFGS without read-back)
and the out-of-memory chain (engine/optimizer/degrade.py). Pixels are H x W x 3 sRGB in [0, 1], rows top-down.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..imageio.images import MIN_SIDE_PX, read_rgb
from ..imageio.tensors import fit_longest_side, resize_image, scale_sizes, to_numpy, to_tensor
from ..optimizer.degrade import run_whole_degrading
from ..optimizer.losses import mix_statistics, resize_weight_map
from ..optimizer.objective import Objective, PassLoss, StyleTerm, strength_to_weight
from ..optimizer.optimize import minimise
from ..optimizer.options import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    StylizeOptions,
    option_defaults,
    precision_name,
)
from ..optimizer.results import Progress, StylizeResult
from ..optimizer.vgg import VGG19Features
from ..runtime.device import describe_device
from ..runtime.errors import EngineError, OutOfMemory
from ..runtime.faults import raise_simulated_oom
from ..stylize import StyleTransfer
from .texture_views import TextureView, prepare_view, read_views, sample_texture, seen_texels

ISLAND_PADDING_PX = 4
TEXTURE_LEVELS = 4  # the texture is optimized as a Laplacian pyramid: coarse levels fill texels views skip over
STYLIZE_DEFAULTS = option_defaults(StylizeOptions)
SEAMLESS_MULTIPLE_PX = 16  # VGG-19 pools four times before relu5_1: sizes that divide evenly keep pooling periodic


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
    """Weights of the loss terms (relative losses, as in `StyleTransfer.stylize`, with its defaults)."""

    content_weight: float = STYLIZE_DEFAULTS["content_weight"]
    style_weight: float = STYLIZE_DEFAULTS["style_weight"]
    tv_weight: float = STYLIZE_DEFAULTS["tv_weight"]
    style_strength: float = STYLIZE_DEFAULTS["style_strength"]
    structure: float = 0.0  # from views only: keep shapes legible at the views' discontinuities (engine/shapes/structure.py)

    def checked(self, styles: Sequence[np.ndarray], style_blend: Sequence[float] | None,
                iterations: int) -> tuple[list[float], Objective]:
        """The normalised style blend and the core objective of a texture job (the default layers, Gram style
        loss, L-BFGS); bad settings are refused as `StyleTransfer.stylize` refuses them."""
        options = StylizeOptions(style_blend=style_blend, iterations=iterations, content_weight=self.content_weight,
                                 style_weight=self.style_weight, tv_weight=self.tv_weight,
                                 style_strength=self.style_strength)
        return options.blend_for(len(styles)), Objective.from_options(options)


class TextureStylizer:
    """Texture jobs on top of a `StyleTransfer` (its loss network, device, precision and style-target cache).

    Each job runs on the engine's device and, out of memory there, on its CPU fallback (engine/optimizer/degrade.py);
    settings["degraded"] says what happened.
    """

    def __init__(self, engine: StyleTransfer):
        self.engine = engine
        self.wrapped: dict[str, VGG19Features] = {}  # by device: the loss network padding circularly

    def _network(self, engine: StyleTransfer, wrap: bool) -> VGG19Features:
        if not wrap:
            return engine.model
        if str(engine.device) not in self.wrapped:
            self.wrapped[str(engine.device)] = wrap_around_model(engine.model)
        return self.wrapped[str(engine.device)]

    @staticmethod
    def _style_term(engine: StyleTransfer, styles, blend, longest_px: int, mask: torch.Tensor | None,
                    strength: float) -> StyleTerm:
        targets = [engine.style_targets(s, longest_px, DEFAULT_STYLE_LAYERS, "gram") for s in styles]
        mixed = {layer: mix_statistics([t[layer] for t in targets], blend) for layer in DEFAULT_STYLE_LAYERS}
        return StyleTerm(mixed, mask, strength_to_weight(strength))

    def _degrading(self, pass_px: int, run: Callable[[StyleTransfer, int | None], tuple]) -> tuple[tuple, dict]:
        """`run(engine, oom_limit_px)` through the out-of-memory chain; its result and the settings it adds."""
        notices: list[str] = []
        ran = run_whole_degrading(self.engine, notices, pass_px, run)
        if ran is None:
            raise OutOfMemory("out of memory on every device (" + "; ".join(notices) + "); give a smaller --size or "
                              "fewer or smaller views, or free the GPU")
        engine = self.engine if not notices else self.engine.cpu_fallback()
        return ran, dict(device=describe_device(engine.device), precision=precision_name(engine.autocast_dtype),
                         degraded=notices)

    # -- flat ---------------------------------------------------------------------------------------------------

    def stylize_flat(self, texture: np.ndarray, styles: Sequence[np.ndarray], *, seamless: bool = False,
                     uv_mask: np.ndarray | None = None, size_px: int | None = None, iterations: int = 200,
                     scales: int | None = None, island_padding_px: int = ISLAND_PADDING_PX,
                     style_blend: Sequence[float] | None = None, objective: TextureObjective = TextureObjective(),
                     seed: int = 0, callback: Callable[[Progress], None] | None = None) -> StylizeResult:
        """Stylize a texture as a picture. `seamless` keeps a tileable texture tileable; with `uv_mask` (H x W,
        texels inside the UV islands) only the islands, plus `island_padding_px` of bleed, change."""
        started = time.perf_counter()
        blend, core = objective.checked(styles, style_blend, iterations)
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
        resize = _resize_wrapped if seamless else resize_image
        sizes = scale_sizes(max(height, width), scales)

        def run(engine: StyleTransfer, oom_limit_px: int | None) -> tuple:
            torch.manual_seed(seed)
            device, network = engine.device, self._network(engine, seamless)
            original = resize(to_tensor(texture, device), height, width)
            image, losses = None, {}
            for scale_index, longest in enumerate(sizes, start=1):
                scale_h, scale_w = _work_shape(height, width, longest, seamless)
                raise_simulated_oom(oom_limit_px, scale_h, scale_w)
                content = resize(original, scale_h, scale_w)
                image = content.clone() if image is None else resize(image, scale_h, scale_w)
                weight_map = None if islands is None else resize_weight_map(islands.float().to(device), scale_h,
                                                                            scale_w)
                with torch.no_grad():
                    content_targets = {k: v.detach().float() for k, v in
                                       engine.features(content, DEFAULT_CONTENT_LAYERS, network).items()}
                style = self._style_term(engine, styles, blend, max(scale_h, scale_w), weight_map,
                                         objective.style_strength)
                loss = PassLoss(core, content_targets, [style], content_map=weight_map, tv_map=weight_map,
                                wrap=seamless)
                variable = image.detach().clone().requires_grad_(True)

                def evaluate() -> list[torch.Tensor]:
                    variable.grad = None
                    values = loss(variable, engine.features(variable, core.layers, network))
                    values[0].backward()
                    return [v.detach() for v in values]

                def report(iteration, terms, scale=scale_index, shape=(scale_h, scale_w), current=variable):
                    if callback is not None:
                        callback(Progress(iteration, iterations, scale, len(sizes), shape[1], shape[0], *terms,
                                          time.perf_counter() - started, current=current.detach()))

                _, losses = minimise(variable, evaluate, core, device, report)
                image = variable.detach().clamp(0, 1)
            return to_numpy(resize(image, height, width)), to_numpy(original), losses

        (result, resized_original, losses), ran = self._degrading(max(height, width), run)
        base = resized_original if (height, width) != texture.shape[:2] else texture.astype(np.float32)
        changed = np.ones((height, width), bool)
        if islands is not None:
            result, changed = pad_islands(result, islands.cpu().numpy(), island_padding_px, seamless)
            result = np.where(changed[..., None], result, base)
        settings = dict(mode="flat", seamless=seamless, uv_mask=uv_mask is not None,
                        island_padding_px=island_padding_px, iterations=iterations, scale_sizes_px=sizes,
                        width_px=width, height_px=height, seed=seed, style_blend=blend, **objective.__dict__,
                        weights=self.engine.model.info.source, **ran)
        return StylizeResult(result.astype(np.float32), settings, time.perf_counter() - started, losses,
                             changed=changed)

    # -- from views ---------------------------------------------------------------------------------------------

    def stylize_from_views(self, texture: np.ndarray, views: Sequence[TextureView], styles: Sequence[np.ndarray], *,
                           iterations: int = 100, style_blend: Sequence[float] | None = None,
                           objective: TextureObjective = TextureObjective(), seed: int = 0,
                           callback: Callable[[Progress], None] | None = None) -> StylizeResult:
        """Optimize the texture itself so that every view of the object carries the style.

        Each view is predicted by sampling the texture at the view's UV pass (bilinear, repeating like Blender's
        default image extension) over the render's background; its content stays near the view as rendered (unlit:
        the add-on renders the texture as emission) and its object pixels take the style.
        Texels that no view sees keep their original value. A view with a structure map (read_views with a structure)
        also holds its colour steps across the render's boundaries (the structure term, as for stylized renders).
        """
        started = time.perf_counter()
        blend, core = objective.checked(styles, style_blend, iterations)
        if not views:
            raise EngineError("no views given; render at least one view of the object with the UV pass")
        height, width = texture.shape[:2]

        def run(engine: StyleTransfer, oom_limit_px: int | None) -> tuple:
            torch.manual_seed(seed)
            device = engine.device
            original = to_tensor(texture, device)
            prepared = [prepare_view(engine, view, original) for view in views]
            for view in views:
                raise_simulated_oom(oom_limit_px, *view.image.shape[:2])
            seen = seen_texels(prepared, height, width, device)
            levels = [torch.zeros(1, 3, max(1, height >> k), max(1, width >> k), device=device, requires_grad=True)
                      for k in range(TEXTURE_LEVELS) if min(height >> k, width >> k) >= 4]

            def current_texture() -> torch.Tensor:
                change = sum(F.interpolate(level, size=(height, width), mode="bilinear", align_corners=False)
                             if level.shape[-2:] != (height, width) else level for level in levels)
                return (original + change).clamp(0, 1)

            style = self._style_term(engine, styles, blend, max(views[0].image.shape[:2]), None,
                                     objective.style_strength)
            losses = [PassLoss(core, view["content"], [StyleTerm(style.targets, view["mask"][0, 0], style.weight)],
                               content_map=view["mask"][0, 0], tv_map=view["mask"][0, 0], content=view["picture"],
                               structure=view["structure"]) for view in prepared]

            def evaluate() -> list[torch.Tensor]:
                """The mean over the views; each view's graph is freed after its backward pass, so memory stays that
                of one view however many there are."""
                for level in levels:
                    level.grad = None
                totals = None
                for view, loss in zip(prepared, losses):
                    picture = sample_texture(current_texture(), view["grid"]) * view["mask"] + view["background"]
                    terms = [term / len(prepared) for term in loss(picture, engine.features(picture, core.layers))]
                    terms[0].backward()
                    values = [term.detach() for term in terms]
                    totals = values if totals is None else [a + b for a, b in zip(totals, values)]
                return totals

            def report(iteration, terms):
                if callback is not None:
                    callback(Progress(iteration, iterations, 1, 1, width, height, *terms, time.perf_counter() - started,
                                      current=current_texture().detach()))

            _, last = minimise(levels, evaluate, core, device, report)
            with torch.no_grad():
                return to_numpy(current_texture()), seen, len(levels), last

        (result, seen, level_count, losses), ran = self._degrading(max(height, width), run)
        result = np.where(seen[..., None], result, texture.astype(np.float32))
        settings = dict(mode="views", views=[v.name for v in views], iterations=iterations, width_px=width,
                        height_px=height, seed=seed, style_blend=blend, texture_levels=level_count,
                        seen_fraction=float(seen.mean()), **objective.__dict__, weights=self.engine.model.info.source,
                        **ran)
        return StylizeResult(result.astype(np.float32), settings, time.perf_counter() - started, losses, changed=seen)


def _work_shape(height: int, width: int, longest_px: int, seamless: bool) -> tuple[int, int]:
    """A scale's size; seamless sizes are multiples of 16 so VGG-19's pooling never straddles the tile border."""
    scale_h, scale_w = fit_longest_side(height, width, longest_px)
    scale_h, scale_w = max(scale_h, MIN_SIDE_PX), max(scale_w, MIN_SIDE_PX)
    if seamless:
        scale_h, scale_w = (max(SEAMLESS_MULTIPLE_PX, round(s / SEAMLESS_MULTIPLE_PX) * SEAMLESS_MULTIPLE_PX)
                            for s in (scale_h, scale_w))
    return scale_h, scale_w


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
                          seed: int = 0, callback: Callable[[Progress], None] | None = None) -> StylizeResult:
    """One texture job from files to file, for the command line and the worker: flat without `views`, else from
    the views. The texture's alpha (cut-outs) passes through; the output carries its settings; nothing is written
    on a bad input."""
    from protocol import OverwritesInput, refuse_overwrite

    from ..imageio.images import check_output_path, read_image, write_image

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
        result = stylizer.stylize_from_views(texture, read_views(views, object_index, objective.structure), styles,
                                             iterations=iterations,
                                             style_blend=style_blend, objective=objective, seed=seed, callback=callback)
    else:
        if objective.structure > 0:
            raise EngineError("--structure needs the object's rendered views (--views, with the Depth pass); a flat "
                              "texture has no shapes to keep")
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

"""Quality stylization: Gatys-style optimization of an image against VGG-19 content and style targets.

`StyleTransfer` holds the loss network and the style-target cache between jobs; `stylize` runs one image
coarse-to-fine with L-BFGS or Adam, with blended styles, colour preservation and per-region control.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .cache import StyleTargetCache, default_cache_dir, style_key
from .color import check_preserve_color, grey_like_content, luminance, match_color_statistics, with_content_chroma
from .device import describe_device, resolve_device
from .errors import EngineError
from .losses import (STYLE_LOSSES, content_distance, mix_statistics, resize_weight_map, style_distance,
                     style_statistics, total_variation)
from .masks import RegionStyle, region_weight_maps
from .imageio import MIN_SIDE_PX
from .vgg import check_layers, load_vgg19

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
MIN_SCALE_PX = 128
ADAM_AVERAGE_DECAY = 0.95


@dataclass(frozen=True)
class Progress:
    """One optimization step, as reported to the command line, the add-on and tests."""

    iteration: int  # 1-based, within this scale
    iterations: int
    scale: int  # 1-based
    scales: int
    width_px: int
    height_px: int
    loss: float
    content_loss: float
    style_loss: float
    tv_loss: float
    elapsed_s: float
    _image: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def fraction_done(self) -> float:
        """Share of the job done, each scale counting equally (the progress bar; not a time estimate)."""
        return (self.scale - 1 + self.iteration / self.iterations) / self.scales

    def image(self) -> np.ndarray:
        """The current image (at this scale's size) as H x W x 3 sRGB in [0, 1]."""
        return _to_numpy(self._image)


@dataclass
class StylizeResult:
    image: np.ndarray
    settings: dict
    losses: dict
    elapsed_s: float
    cache_hits: int
    cache_misses: int


def _to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].contiguous().to(device)


def _to_numpy(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def fit_longest_side(height: int, width: int, longest_px: int) -> tuple[int, int]:
    scale = longest_px / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _scale_shape(height: int, width: int, longest_px: int) -> tuple[int, int]:
    """An image's size at a scale, grown where needed so the short side keeps the 16 px VGG-19 needs."""
    scale_h, scale_w = fit_longest_side(height, width, longest_px)
    if min(scale_h, scale_w) < MIN_SIDE_PX:
        grow = MIN_SIDE_PX / min(scale_h, scale_w)
        scale_h, scale_w = math.ceil(scale_h * grow), math.ceil(scale_w * grow)
    return scale_h, scale_w


def scale_sizes(longest_px: int, scales: int | None) -> list[int]:
    """Longest side of each scale, coarse to fine, halving each time (auto: down to about 128 px)."""
    if scales is None:
        scales = 1 + max(0, int(math.floor(math.log2(longest_px / MIN_SCALE_PX))))
    if scales < 1:
        raise EngineError(f"scales must be at least 1, got {scales}")
    return [max(16, round(longest_px / 2 ** (scales - 1 - i))) for i in range(scales)]


def strength_to_weight(strength: float) -> float:
    """Style strength in [0, 1] to a multiplier of the style weight, on a log scale (what the eye sees follows
    the ratio of style to content weight): 1 -> 1, 0.5 -> 0.03, 0 leaves the content untouched."""
    return 0.0 if strength <= 0 else 10.0 ** (-3.0 * (1.0 - strength))


def _normalised(weights: Sequence[float] | None, count: int, what: str) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise EngineError(f"{what}: {len(weights)} blend weights for {count} styles; give one weight per style")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise EngineError(f"{what}: blend weights must be non-negative and not all zero, got {list(weights)}")
    total = float(sum(weights))
    return [w / total for w in weights]


@dataclass
class _StyleGroup:
    """Pixels that share one style target: the whole image, or the union of regions with the same style."""

    styles: list[np.ndarray]
    blend: list[float]
    weight: float  # style-loss multiplier from strength
    mask: np.ndarray | None  # soft mask at content size, or None for the whole image


@dataclass(frozen=True)
class _Objective:
    """What one scale's optimization minimises, and how."""

    content_layers: Sequence[str]
    style_layers: Sequence[str]
    layer_weights: Sequence[float]
    style_loss: str
    content_weight: float
    style_weight: float
    tv_weight: float
    temporal_weight: float
    optimizer: str
    iterations: int
    learning_rate: float


class StyleTransfer:
    """The loss network and style-target cache, kept between jobs (one per worker process)."""

    def __init__(self, device: str = "auto", weights: str = "caffe", pooling: str = "max",
                 cache_dir: str | None = "default", mixed_precision: bool = True):
        self.device = resolve_device(device)
        self.model = load_vgg19(weights, pooling).to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.autocast_dtype = torch.bfloat16 if (mixed_precision and self.device.type == "cuda") else None
        self.cache = StyleTargetCache(default_cache_dir() if cache_dir == "default" else cache_dir)

    def _features(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        if self.device.type == "cuda":
            image = image.contiguous(memory_format=torch.channels_last)
        if self.autocast_dtype is None:
            return self.model(image, layers)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            return self.model(image, layers)

    def _style_targets(self, style: np.ndarray, longest_px: int, layers, loss_kind: str) -> dict:
        height, width = _scale_shape(*style.shape[:2], longest_px)
        pixels = _resize(_to_tensor(style, self.device), height, width)
        key = style_key(pixels, {"layers": sorted(layers), "loss": loss_kind, "weights": self.model.info.path,
                                 "pooling": self.model.pooling, "engine": __version__})
        cached = self.cache.get(key, self.device)
        if cached is not None:
            return cached
        with torch.no_grad():
            features = self._features(pixels, layers)
            targets = {layer: style_statistics(loss_kind, features[layer]) for layer in layers}
        self.cache.put(key, targets)
        return targets

    def stylize(
        self,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        *,
        style_blend: Sequence[float] | None = None,
        size_px: int = 512,
        iterations: int = 300,
        scales: int | None = None,
        optimizer: str = "lbfgs",
        init: str | np.ndarray = "content",
        seed: int = 0,
        style_strength: float = 1.0,
        preserve_color: str = "none",
        content_weight: float = 1.0,
        style_weight: float = 30.0,
        tv_weight: float = 10.0,
        content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
        style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
        style_layer_weights: Sequence[float] | None = None,
        style_loss: str = "gram",
        style_scale: float = 1.0,
        label_map: np.ndarray | None = None,
        regions: dict[int, RegionStyle] | None = None,
        learning_rate: float = 0.02,
        temporal_targets: Sequence[tuple[np.ndarray, np.ndarray]] = (),
        temporal_weight: float = 0.0,
        full_resolution: bool = False,
        callback: Callable[[Progress], None] | None = None,
    ) -> StylizeResult:
        """Stylize `content` (H x W x 3 sRGB in [0, 1]) with `styles`; returns the image at `size_px` longest side.

        Regions of `label_map` (ids, or R x H x W soft masks) can take their own style, strength, or keep
        the original pixels, as given in `regions`. `temporal_targets` are (earlier stylized frame warped onto
        this one, reliability mask) pairs at the output size; `temporal_weight` pulls reliable pixels toward them.
        With `full_resolution`, the result is scaled up to the content's own size and kept regions are exact there.
        """
        started = time.perf_counter()
        settings = dict(size_px=size_px, iterations=iterations, scales=scales, optimizer=optimizer,
                        init=init if isinstance(init, str) else "image", seed=seed, style_strength=style_strength,
                        preserve_color=preserve_color, content_weight=content_weight, style_weight=style_weight,
                        tv_weight=tv_weight, content_layers=list(content_layers), style_layers=list(style_layers),
                        style_layer_weights=None if style_layer_weights is None else list(style_layer_weights),
                        style_loss=style_loss, style_scale=style_scale, learning_rate=learning_rate,
                        temporal_weight=temporal_weight if temporal_targets else 0.0)
        blend = self._check(styles, style_blend, size_px, iterations, optimizer, init, style_strength,
                            preserve_color, content_layers, style_layers, style_layer_weights, style_loss)
        layer_weights = list(style_layer_weights) if style_layer_weights else [1.0] * len(style_layers)
        objective = _Objective(list(content_layers), list(style_layers), [w / sum(layer_weights) for w in layer_weights],
                               style_loss, content_weight, style_weight, tv_weight, temporal_weight, optimizer,
                               iterations, learning_rate)

        height, width = fit_longest_side(*content.shape[:2], size_px)
        if min(height, width) < MIN_SIDE_PX:
            raise EngineError(f"--size {size_px} makes the image {width}x{height} px; each side needs at least "
                              f"{MIN_SIDE_PX} px, so give a larger size")
        final_content = _resize(_to_tensor(content, self.device), height, width)
        groups, keep = self._groups(content, styles, blend, style_strength, label_map, regions)
        if not groups:  # strength 0 everywhere, or every region kept: the content is the answer
            answer = np.asarray(content, np.float32) if full_resolution else _to_numpy(final_content)
            settings.update(device=describe_device(self.device), width_px=answer.shape[1], height_px=answer.shape[0])
            return StylizeResult(answer, settings, {}, time.perf_counter() - started, 0, 0)
        groups = [self._prepare_colours(g, content, preserve_color) for g in groups]
        optimised_content = final_content
        if preserve_color == "luminance":
            grey = luminance(_to_numpy(final_content))
            optimised_content = _to_tensor(np.repeat(grey[..., None], 3, -1), self.device)

        temporal = [(self._temporal_pixels(target, preserve_color), torch.from_numpy(
            np.ascontiguousarray(mask, dtype=np.float32)).to(self.device)) for target, mask in temporal_targets]
        torch.manual_seed(seed)
        hits0, misses0 = self.cache.hits, self.cache.misses
        image = None
        sizes = scale_sizes(max(height, width), scales)
        losses: dict = {}
        for scale_index, longest in enumerate(sizes, start=1):
            scale_h, scale_w = _scale_shape(height, width, longest)
            scale_content = _resize(optimised_content, scale_h, scale_w)
            if image is None:
                image = self._initial_image(init, scale_content)
            else:
                image = _resize(image, scale_h, scale_w)

            def report(iteration, terms, current, scale=scale_index, shape=(scale_h, scale_w)):
                if callback is not None:
                    callback(Progress(iteration, iterations, scale, len(sizes), shape[1], shape[0], *terms,
                                      time.perf_counter() - started, current))

            image, losses = self._optimise_scale(image, scale_content, groups, keep, longest * style_scale, objective,
                                                 temporal, report)

        base = _to_numpy(final_content)
        if full_resolution and (height, width) != content.shape[:2]:
            height, width = content.shape[:2]
            image, base = _resize(image, height, width), np.asarray(content, np.float32)
        result = _to_numpy(image)
        if preserve_color == "luminance":
            result = with_content_chroma(result, base)
        if keep is not None:
            keep_alpha = resize_weight_map(torch.from_numpy(keep), height, width).numpy()[..., None]
            result = keep_alpha * base + (1 - keep_alpha) * result
        settings.update(device=describe_device(self.device), weights=self.model.info.source,
                        weights_preprocessing=self.model.info.preprocessing, pooling=self.model.pooling,
                        style_blend=blend, width_px=width, height_px=height, scale_sizes_px=sizes,
                        full_resolution=full_resolution, engine_version=__version__)
        return StylizeResult(result.astype(np.float32), settings, losses, time.perf_counter() - started,
                             self.cache.hits - hits0, self.cache.misses - misses0)

    # -- steps of stylize ------------------------------------------------------------------------

    @staticmethod
    def _check(styles, style_blend, size_px, iterations, optimizer, init, style_strength, preserve_color,
               content_layers, style_layers, style_layer_weights, style_loss) -> list[float]:
        if not styles:
            raise EngineError("no style image given; give at least one")
        if size_px < 16:
            raise EngineError(f"size must be at least 16 px, got {size_px}")
        if iterations < 1:
            raise EngineError(f"iterations must be at least 1, got {iterations}")
        if optimizer not in OPTIMIZERS:
            raise EngineError(f"unknown optimizer '{optimizer}'; use one of {', '.join(OPTIMIZERS)}")
        if isinstance(init, str) and init not in ("content", "noise"):
            raise EngineError(f"unknown init '{init}'; use 'content', 'noise' or an image")
        if not 0.0 <= style_strength <= 1.0:
            raise EngineError(f"style strength must be between 0 and 1, got {style_strength}")
        if style_loss not in STYLE_LOSSES:
            raise EngineError(f"unknown style loss '{style_loss}'; use one of {', '.join(STYLE_LOSSES)}")
        check_preserve_color(preserve_color)
        check_layers(content_layers)
        check_layers(style_layers)
        if style_layer_weights is not None and len(style_layer_weights) != len(style_layers):
            raise EngineError(f"{len(style_layer_weights)} style layer weights for {len(style_layers)} style layers; "
                              "give one weight per layer")
        return _normalised(style_blend, len(styles), "style blend")

    def _groups(self, content, styles, blend, style_strength, label_map, regions
                ) -> tuple[list[_StyleGroup], np.ndarray | None]:
        """Split the image into style groups and a keep-original mask from the label map and region settings."""
        if label_map is None:
            if regions:
                raise EngineError("region settings were given without a mask; give the label map too")
            if style_strength == 0:
                return [], None
            return [_StyleGroup(list(styles), blend, strength_to_weight(style_strength), None)], None
        maps = region_weight_maps(label_map, content.shape[:2])
        regions = regions or {}
        unknown = sorted(set(regions) - set(maps))
        if unknown:
            raise EngineError(f"regions {unknown} are not in the mask (it has ids {sorted(maps)}); check the ids")
        keep = np.zeros(content.shape[:2], np.float32)
        by_target: dict[tuple, _StyleGroup] = {}
        for region_id, weight_map in maps.items():
            setting = regions.get(region_id, RegionStyle())
            strength = style_strength if setting.strength is None else setting.strength
            if not 0.0 <= strength <= 1.0:
                raise EngineError(f"region {region_id}: strength must be between 0 and 1, got {strength}")
            if setting.keep_original or strength == 0:
                keep += weight_map
                continue
            region_styles = list(setting.styles) if setting.styles else list(styles)
            region_blend = (_normalised(setting.style_blend, len(region_styles), f"region {region_id}")
                            if setting.styles else blend)
            identity = (tuple(id(s) for s in region_styles), tuple(region_blend), strength)
            if identity in by_target:
                by_target[identity].mask = by_target[identity].mask + weight_map
            else:
                by_target[identity] = _StyleGroup(region_styles, region_blend, strength_to_weight(strength),
                                                  weight_map.copy())
        groups = [g for g in by_target.values() if g.mask.sum() > 0]
        return groups, (np.clip(keep, 0, 1) if keep.any() else None)

    @staticmethod
    def _prepare_colours(group: _StyleGroup, content: np.ndarray, preserve_color: str) -> _StyleGroup:
        if preserve_color == "luminance":
            styles = [grey_like_content(s, content) for s in group.styles]
        elif preserve_color == "histogram":
            styles = [match_color_statistics(s, content) for s in group.styles]
        else:
            return group
        return _StyleGroup(styles, group.blend, group.weight, group.mask)

    def _temporal_pixels(self, target: np.ndarray, preserve_color: str) -> torch.Tensor:
        if preserve_color == "luminance":
            target = np.repeat(luminance(target)[..., None], 3, -1)
        return _to_tensor(target, self.device)

    def _initial_image(self, init, content: torch.Tensor) -> torch.Tensor:
        if isinstance(init, np.ndarray):
            return _resize(_to_tensor(init, self.device), *content.shape[-2:])
        if init == "noise":
            return torch.rand(content.shape).to(self.device) * 0.2 + 0.4
        return content.clone()

    def _optimise_scale(self, image: torch.Tensor, content: torch.Tensor, groups: list[_StyleGroup],
                        keep: np.ndarray | None, style_px: float, objective: _Objective,
                        temporal: list[tuple[torch.Tensor, torch.Tensor]], report: Callable
                        ) -> tuple[torch.Tensor, dict]:
        """Run one scale's optimization; returns the image and the last losses."""
        o = objective
        layers = list(dict.fromkeys([*o.content_layers, *o.style_layers]))
        with torch.no_grad():
            content_features = self._features(content, o.content_layers)
            content_targets = {layer: content_features[layer].detach().float() for layer in o.content_layers}
        height, width = content.shape[-2:]
        content_map = None
        if keep is not None:  # keep-original pixels are composited at the end; the optimizer ignores them
            content_map = torch.from_numpy(1.0 - keep).to(self.device)
        group_terms = []
        for group in groups:
            targets = [self._style_targets(s, round(style_px), o.style_layers, o.style_loss) for s in group.styles]
            mixed = {layer: mix_statistics([t[layer] for t in targets], group.blend) for layer in o.style_layers}
            mask = None if group.mask is None else torch.from_numpy(group.mask).to(self.device)
            area = 1.0 if mask is None else float(resize_weight_map(mask, height, width).mean())
            group_terms.append((mixed, mask, group.weight * area))
        weight_maps: dict[tuple[int, str], torch.Tensor] = {}  # (group, layer): mask at that layer's size
        temporal_at_scale = [(_resize(target, height, width), resize_weight_map(mask, height, width)[None])
                             for target, mask in temporal]

        def weight_map(index: int, mask: torch.Tensor | None, layer: str, shape) -> torch.Tensor | None:
            if mask is None:
                return None
            if (index, layer) not in weight_maps:
                weight_maps[index, layer] = resize_weight_map(mask, *shape)
            return weight_maps[index, layer]

        def loss_terms(current):
            features = self._features(current, layers)
            c_loss = sum(content_distance(features[layer], content_targets[layer],
                                          None if content_map is None else
                                          resize_weight_map(content_map, *features[layer].shape[-2:]))
                         for layer in o.content_layers) / len(o.content_layers)
            s_loss = torch.zeros((), device=self.device)
            for index, (mixed, mask, weight) in enumerate(group_terms):
                for layer, layer_weight in zip(o.style_layers, o.layer_weights):
                    stats = style_statistics(o.style_loss, features[layer],
                                             weight_map(index, mask, layer, features[layer].shape[-2:]))
                    s_loss = s_loss + weight * layer_weight * style_distance(o.style_loss, stats, mixed[layer])
            tv = total_variation(current)
            total = o.content_weight * c_loss + o.style_weight * s_loss + o.tv_weight * tv
            for target, mask in temporal_at_scale:
                total = total + o.temporal_weight * (mask * (current - target).pow(2).sum(1)).mean()
            return total, c_loss, s_loss, tv

        image = image.detach().contiguous().clone().requires_grad_(True)
        last: dict = {}

        def record(iteration, terms):
            values = [float(t) for t in terms]
            last.update(zip(("loss", "content", "style", "tv"), values))
            report(iteration, values, image.detach())

        if o.optimizer == "lbfgs":
            lbfgs = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=100,
                                      tolerance_grad=0.0, tolerance_change=0.0)
            for iteration in range(1, o.iterations + 1):
                terms = {}

                def closure():
                    lbfgs.zero_grad()
                    values = loss_terms(image)
                    values[0].backward()
                    terms["values"] = [v.detach() for v in values]
                    return values[0]

                lbfgs.step(closure)
                record(iteration, terms["values"])
            return image.detach().clamp(0, 1), last
        adam = torch.optim.Adam([image], lr=o.learning_rate)
        average = image.detach().clone()  # the result is a moving average of the iterates: less noise
        for iteration in range(1, o.iterations + 1):
            adam.zero_grad()
            values = loss_terms(image)
            values[0].backward()
            adam.step()
            with torch.no_grad():
                image.clamp_(0, 1)
                average.mul_(ADAM_AVERAGE_DECAY).add_(image.detach(), alpha=1 - ADAM_AVERAGE_DECAY)
            record(iteration, [v.detach() for v in values])
        return average.clamp(0, 1), last

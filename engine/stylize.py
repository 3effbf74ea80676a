"""Quality stylization: Gatys-style optimization of an image against VGG-19 content and style targets.

`StyleTransfer` holds the loss network and the style-target cache between jobs; `stylize` is the one entry of a
quality job: it checks the settings (`StylizeOptions`, engine/optimizer/options.py), splits the picture into style groups
(regions, coverage), runs the scales through the degradation chain (engine/optimizer/degrade.py, engine/optimizer/optimize.py) and
finishes colours and kept regions. The network may run in bf16 on request (statistics and the image stay float32).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from . import __version__
from .imageio.color import grey_like_content, match_color_statistics, with_content_chroma
from .imageio.images import MIN_SIDE_PX
from .imageio.tensors import fit_longest_side, resize_image, scale_shape, scale_sizes, to_numpy, to_tensor
from .optimizer.degrade import run_degrading
from .optimizer.fallback import classic_filter
from .optimizer.losses import resize_weight_map, style_statistics, style_statistics_shapes
from .optimizer.masks import Region, check_regions_need_mask, region_parts
from .optimizer.objective import Objective, StyleGroup, covered_only, strength_to_weight
from .optimizer.optimize import Job
from .optimizer.options import StylizeOptions, normalised_weights, precision_name, resolve_precision
from .optimizer.results import Progress, StylizeResult
from .optimizer.tiling import GB, check_result_fits_in_memory
from .optimizer.vgg import VGG19Features, load_vgg19
from .runtime.cache import USER_CACHE, CacheDir, StyleTargetCache, style_key
from .runtime.device import describe_device, describe_kernels, resolve_device
from .runtime.errors import EngineError, OutOfMemory


class StyleTransfer:
    """The loss network and style-target cache, kept between jobs (one per worker process)."""

    def __init__(self, device: str = "auto", weights: str = "caffe", pooling: str = "max",
                 cache_dir: CacheDir = USER_CACHE, precision: str = "auto"):
        self.device = resolve_device(device)
        self.model = load_vgg19(weights, pooling, self.device)
        self.weights = weights
        self.precision = precision
        self.autocast_dtype = resolve_precision(precision, self.device)  # the running job's, between jobs the default
        self.cache = StyleTargetCache(cache_dir)
        self.saved_bytes: dict[tuple, tuple[float, float]] = {}  # the memory model's measurements (engine/optimizer/degrade.py)
        self.cpu_engine: StyleTransfer | None = None

    def features(self, image: torch.Tensor, layers, network: VGG19Features | None = None) -> dict[str, torch.Tensor]:
        """The loss network's (or `network`'s, a variant of it) activations at `layers`, at the running precision."""
        network = network or self.model
        if self.device.type == "cuda":
            image = image.contiguous(memory_format=torch.channels_last)
        if self.autocast_dtype is None:
            return network(image, layers)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            return network(image, layers)

    @contextmanager
    def running_at(self, dtype: torch.dtype | None) -> Iterator[None]:
        """Run the network at `dtype` within the block (a job's precision), then back at the engine's default."""
        default, self.autocast_dtype = self.autocast_dtype, dtype
        try:
            yield
        finally:
            self.autocast_dtype = default

    def style_targets(self, style: np.ndarray, longest_px: int, layers, loss_kind: str) -> dict:
        """A style image's statistics per layer at `longest_px`, from the cache when it has them."""
        height, width = scale_shape(*style.shape[:2], longest_px)
        pixels = resize_image(to_tensor(style, self.device), height, width)
        key = style_key(pixels, {"layers": sorted(layers), "loss": loss_kind, "weights": self.model.info.path,
                                 "pooling": self.model.pooling, "engine": __version__,
                                 "precision": precision_name(self.autocast_dtype)})
        cached = self.cache.get(key, self.device, style_statistics_shapes(loss_kind, layers))
        if cached is not None:
            return cached
        with torch.no_grad():
            features = self.features(pixels, layers)
            targets = {layer: style_statistics(loss_kind, features[layer]) for layer in layers}
        self.cache.put(key, targets)
        return targets

    def cpu_fallback(self) -> StyleTransfer:
        """The same engine on the CPU (sharing the style-target cache), made when first needed."""
        if self.cpu_engine is None:
            self.cpu_engine = StyleTransfer("cpu", self.weights, self.model.pooling, None, self.precision)
            self.cpu_engine.cache = self.cache
        return self.cpu_engine

    def stylize(self, content: np.ndarray, styles: Sequence[np.ndarray], *, options: StylizeOptions | None = None,
                label_map: np.ndarray | None = None, regions: dict[int, Region] | None = None,
                coverage: np.ndarray | None = None, temporal_targets: Sequence[tuple[np.ndarray, np.ndarray]] = (),
                structure_map: np.ndarray | None = None, callback: Callable[[Progress], None] | None = None,
                **settings) -> StylizeResult:
        """Stylize `content` (H x W x 3 sRGB in [0, 1]) with `styles`; returns the image at `size_px` longest side.

        The settings are `options`, or the same given as keyword arguments (each a `StylizeOptions` field, with its
        default there); the result records them as `result.options`.

        Regions of `label_map` (ids, or R x H x W soft masks) can take their own style, strength, or keep
        the original pixels, as given in `regions`. `coverage` (H x W in [0, 1], a transparent render's alpha)
        limits the style statistics and the content term to the covered pixels (engine/imageio/alpha.py).
        `temporal_targets` are (earlier stylized frame warped onto this one, reliability mask) pairs at the output
        size; `temporal_weight` pulls reliable pixels toward them.
        With `full_resolution`, the result is scaled up to the content's own size and kept regions are exact there.

        `precision` (auto, fp32, bf16; default: the engine's) is the loss network's arithmetic. Scales whose
        longest side exceeds `tile_px`, or that would not fit `memory_budget_gb` (default: most of the device's free
        memory), run as overlapping tiles. Out of memory, the job retries with smaller tiles, then on the CPU, then,
        with `allow_classic_fallback`, writes a classic filter; settings["degraded"] says what happened.

        `structure_map` (H x W at the content's size, in [0, 1]; engine/shapes/structure.py makes it from the render's
        passes) holds the colour steps across the render's boundaries where it is above 0: shapes stay legible.
        """
        started = time.perf_counter()
        if options is not None and settings:
            raise TypeError(f"give the settings as options or as keyword arguments, not both ({sorted(settings)})")
        options = options or StylizeOptions(**settings)
        o = options = dataclasses.replace(options, precision=options.precision or self.precision)
        record = self._settings_record(o, bool(temporal_targets), structure_map)
        if structure_map is not None and structure_map.shape != content.shape[:2]:
            raise EngineError(f"the structure map is {structure_map.shape[1]}x{structure_map.shape[0]} px but the "
                              f"content is {content.shape[1]}x{content.shape[0]} px; make it from the same render")
        blend = o.blend_for(len(styles))
        height, width = fit_longest_side(*content.shape[:2], o.size_px)
        if min(height, width) < MIN_SIDE_PX:
            raise EngineError(f"--size {o.size_px} makes the image {width}x{height} px; each side needs at least "
                              f"{MIN_SIDE_PX} px, so give a larger size")
        for warning in check_result_fits_in_memory(content.shape[:2], height, width):
            print(f"warning: {warning}", file=sys.stderr)
        groups, keep = self._groups(content, styles, blend, o.style_strength, label_map, regions)
        ignored = keep  # pixels the optimizer's content and style terms leave out
        if coverage is not None:
            if np.shape(coverage) != content.shape[:2]:
                raise EngineError(f"the coverage (alpha) is {np.shape(coverage)[::-1]} px but the content is "
                                  f"{content.shape[1::-1]} px; give the alpha of the same image")
            groups, ignored = covered_only(groups, keep, coverage)
        if not groups:  # strength 0 everywhere, or every region kept: the content is the answer
            final_content = resize_image(to_tensor(content, self.device), height, width)
            answer = np.asarray(content, np.float32) if o.full_resolution else to_numpy(final_content)
            record.update(device=describe_device(self.device), width_px=answer.shape[1], height_px=answer.shape[0],
                          degraded=[])
            return StylizeResult(answer, record, time.perf_counter() - started, options=o)
        if isinstance(o.init, str) and o.init == "any":
            o = dataclasses.replace(o, init=self.any_style_start(content, styles, blend, label_map, regions, o))
        groups = [self._prepare_colours(g, content, o.preserve_color) for g in groups]
        job = Job(content, groups, ignored, o, Objective.from_options(o), height, width,
                  scale_sizes(max(height, width), o.scales), temporal_targets, callback, started,
                  structure=structure_map)
        hits0, misses0 = self.cache.hits, self.cache.misses
        ran = run_degrading(self, job)
        if ran is not None:
            engine, outcome = ran
            image, losses = outcome.image, outcome.losses
            record.update(device=describe_device(engine.device), kernels=describe_kernels(engine.device),
                          method="optimization",
                          precision=precision_name(resolve_precision(o.precision, engine.device)),
                          tiles_px=outcome.tiles_px, peak_memory_gb=round(outcome.peak_bytes / GB, 3),
                          peak_memory_measured=outcome.peak_measured)
        elif o.allow_classic_fallback:
            losses = {}
            base = to_numpy(resize_image(to_tensor(content, torch.device("cpu")), height, width))
            palette, palette_blend = (styles, blend) if o.preserve_color == "none" else ([base], [1.0])
            image = to_tensor(classic_filter(base, palette, palette_blend, o.style_strength), torch.device("cpu"))
            job.notices.append("wrote a classic filter instead of style transfer: colour transfer toward the style "
                               "plus OpenCV edge-preserving stylization (--fallback classic)")
            record.update(device="cpu", method="classic filter")
        else:
            raise OutOfMemory("out of memory on every device even with the smallest tiles (" + "; ".join(job.notices)
                              + "); give a smaller --memory-budget or --size, free the GPU, or allow --fallback "
                              "classic")
        result = self._finish(image, content, height, width, keep, o)
        height, width = result.shape[:2]
        record.update(weights=self.model.info.source, weights_preprocessing=self.model.info.preprocessing,
                      pooling=self.model.pooling, style_blend=blend, width_px=width, height_px=height,
                      scale_sizes_px=job.sizes, full_resolution=o.full_resolution, engine_version=__version__,
                      degraded=list(job.notices))
        return StylizeResult(result.astype(np.float32), record, time.perf_counter() - started, losses,
                             self.cache.hits - hits0, self.cache.misses - misses0, o)

    def any_style_start(self, content: np.ndarray, styles: Sequence[np.ndarray], blend: Sequence[float],
                        label_map: np.ndarray | None, regions: dict[int, Region] | None,
                        o: StylizeOptions) -> np.ndarray:
        """The warm start of `init='any'`: the any-style network's result with the job's paintings, blend, regions,
        strength and colour setting, at the job's size (the optimizer scales it to each scale)."""
        from .anystyle.stylizer import get_any_stylizer

        stylizer = get_any_stylizer(self.device.type, self.cache.folder)
        return stylizer.stylize(content, list(styles), style_weights=list(blend), strength=o.style_strength,
                                preserve_color=o.preserve_color, mask=label_map, regions=regions,
                                size_px=o.size_px).image

    # -- steps of stylize ------------------------------------------------------------------------

    @staticmethod
    def _settings_record(o: StylizeOptions, temporal: bool, structure_map: np.ndarray | None) -> dict:
        """The settings written with the output (before what the run adds: device, sizes, degradation)."""
        return dict(size_px=o.size_px, iterations=o.iterations, scales=o.scales, optimizer=o.optimizer,
                    init=o.init if isinstance(o.init, str) else "image", seed=o.seed, style_strength=o.style_strength,
                    preserve_color=o.preserve_color, content_weight=o.content_weight, style_weight=o.style_weight,
                    tv_weight=o.tv_weight, content_layers=list(o.content_layers), style_layers=list(o.style_layers),
                    style_layer_weights=None if o.style_layer_weights is None else list(o.style_layer_weights),
                    style_loss=o.style_loss, style_scale=o.style_scale, learning_rate=o.learning_rate,
                    temporal_weight=o.temporal_weight if temporal else 0.0, tile_px=o.tile_px,
                    memory_budget_gb=o.memory_budget_gb, allow_classic_fallback=o.allow_classic_fallback,
                    structure=0.0 if structure_map is None else round(float(np.max(structure_map)), 4))

    @staticmethod
    def _finish(image: torch.Tensor, content: np.ndarray, height: int, width: int, keep: np.ndarray | None,
                o: StylizeOptions) -> np.ndarray:
        """The optimized image as pixels: at full resolution if asked, colours preserved, kept regions put back."""
        base = to_numpy(resize_image(to_tensor(content, image.device), height, width))
        if o.full_resolution and (height, width) != content.shape[:2]:
            height, width = content.shape[:2]
            image, base = resize_image(image, height, width), np.asarray(content, np.float32)
        result = to_numpy(image)
        if o.preserve_color == "luminance":
            result = with_content_chroma(result, base)
        if keep is not None:
            keep_alpha = resize_weight_map(torch.from_numpy(keep), height, width).numpy()[..., None]
            result = keep_alpha * base + (1 - keep_alpha) * result
        return result

    @staticmethod
    def _groups(content, styles, blend, style_strength, label_map, regions
                ) -> tuple[list[StyleGroup], np.ndarray | None]:
        """Split the image into style groups and a keep-original mask from the label map and region settings."""
        check_regions_need_mask(regions, label_map)
        if label_map is None:
            if style_strength == 0:
                return [], None
            return [StyleGroup(list(styles), blend, strength_to_weight(style_strength), None)], None
        keep = np.zeros(content.shape[:2], np.float32)
        by_target: dict[tuple, StyleGroup] = {}
        for part in region_parts(label_map, content.shape[:2], regions, style_strength):
            if part.keeps_original:
                keep += part.weight_map
                continue
            setting = part.setting
            region_styles = list(setting.styles) if setting.styles else list(styles)
            region_blend = (normalised_weights(setting.style_blend, len(region_styles), f"region {part.region_id}")
                            if setting.styles else blend)
            identity = (tuple(id(s) for s in region_styles), tuple(region_blend), part.strength)
            if identity in by_target:
                by_target[identity].mask = by_target[identity].mask + part.weight_map
            else:
                by_target[identity] = StyleGroup(region_styles, region_blend, strength_to_weight(part.strength),
                                                 part.weight_map.copy())
        groups = [g for g in by_target.values() if g.mask.sum() > 0]
        return groups, (np.clip(keep, 0, 1) if keep.any() else None)

    @staticmethod
    def _prepare_colours(group: StyleGroup, content: np.ndarray, preserve_color: str) -> StyleGroup:
        if preserve_color == "luminance":
            styles = [grey_like_content(s, content) for s in group.styles]
        elif preserve_color == "histogram":
            styles = [match_color_statistics(s, content) for s in group.styles]
        else:
            return group
        return StyleGroup(styles, group.blend, group.weight, group.mask)

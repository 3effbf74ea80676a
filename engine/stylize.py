"""Quality stylization: Gatys-style optimization of an image against VGG-19 content and style targets.

`StyleTransfer` holds the loss network and the style-target cache between jobs; `stylize` runs one image
coarse-to-fine with L-BFGS or Adam, with blended styles, colour preservation and per-region control. The network
may run in bf16 on request (statistics and the image stay float32); scales too large for the memory budget run as
feathered, overlapping tiles sharing one set of style targets; on out-of-memory the job degrades step by step
(smaller tiles, the CPU, optionally a classic filter) and records every step in its settings.
"""

from __future__ import annotations

import gc
import math
import os
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
from .errors import EngineError, OutOfMemory
from .fallback import classic_filter
from .lbfgs import LBFGS, LossReader
from .losses import (STYLE_LOSSES, content_distance, mix_statistics, resize_weight_map, structure_distance,
                     style_distance, style_statistics, total_variation)
from .masks import Region, check_regions_need_mask, region_parts
from .imageio import MIN_SIDE_PX
from .tiling import (GB, MIN_TILE_PX, OVERLAP_PX, MemoryModel, available_bytes, feather,
                     measure_saved_bytes_per_pixel, smaller_tile, tile_boxes)
from .vgg import check_layers, load_vgg19

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
MIN_SCALE_PX = 128
ADAM_AVERAGE_DECAY = 0.95
LBFGS_HISTORY = 100
PRECISIONS = ("auto", "fp32", "bf16")
STRUCTURE_WEIGHT = 30.0  # weight of the edge term at structure 1 (as strong as the style at full strength)
STRUCTURE_GAIN = 3.0  # boundary steps are held at (1 + gain x structure) x the render's: they stand out of the strokes
TILE_ANCHOR_WEIGHT = 50.0  # pull of a tile's overlap toward the finished neighbours' pixels (as the temporal term)
# Test hooks: behave as if the primary device (or the CPU fallback) ran out of memory on any pass (whole scale or
# tile) whose longest side exceeds this many pixels. Set, the primary device also counts as a GPU-like tier, so the
# fallback to the CPU is exercised on machines without a GPU.
SIMULATE_OOM_ENV = "NST_SIMULATE_OOM_ABOVE_PX"
SIMULATE_CPU_OOM_ENV = "NST_SIMULATE_CPU_OOM_ABOVE_PX"


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
    tile: int = 1  # 1-based, within this scale (scales that fit the memory budget are one tile)
    tiles: int = 1
    notices: tuple[str, ...] = ()  # what the job had to give up so far (out-of-memory retries, fallbacks)
    _image: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def fraction_done(self) -> float:
        """Share of the job done, each scale counting equally (the progress bar; not a time estimate)."""
        return (self.scale - 1 + (self.tile - 1 + self.iteration / self.iterations) / self.tiles) / self.scales

    def image(self) -> np.ndarray:
        """The current image (this scale's, or this tile's when tiled) as H x W x 3 sRGB in [0, 1]."""
        return to_numpy(self._image)


@dataclass
class StylizeResult:
    image: np.ndarray
    settings: dict
    losses: dict
    elapsed_s: float
    cache_hits: int
    cache_misses: int


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].contiguous().to(device)


def to_numpy(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
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


def normalised_weights(weights: Sequence[float] | None, count: int, what: str) -> list[float]:
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


def _covered_only(groups: list[_StyleGroup], keep: np.ndarray | None, coverage: np.ndarray
                  ) -> tuple[list[_StyleGroup], np.ndarray | None]:
    """Style groups weighted by coverage, and the pixels the terms leave out (kept or uncovered).

    A group's style weight is scaled by its share of the covered pixels (not of the whole frame), so an object
    alone in a transparent render is stylized as strongly as a full frame would be.
    """
    coverage = np.clip(np.asarray(coverage, np.float32), 0.0, 1.0)
    covered = float(coverage.mean())
    if covered <= 0:
        return [], keep
    weighted = [_StyleGroup(g.styles, g.blend, g.weight / covered, coverage if g.mask is None else g.mask * coverage)
                for g in groups]
    ignored = 1.0 - coverage if keep is None else 1.0 - (1.0 - keep) * coverage
    return [g for g in weighted if g.mask.sum() > 0], ignored


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The loss network's autocast dtype for a precision setting; None runs float32 throughout.

    'auto' is float32 on every device: bf16 autocast moves single results' style distance by more than 2% (either
    way; on average it holds, scripts/precision_check.py), so it runs only when asked for. float16 is not offered:
    its features overflow on some images (NaN).
    """
    if precision not in PRECISIONS:
        raise EngineError(f"unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}")
    return {"auto": None, "fp32": None, "bf16": torch.bfloat16}[precision]


def _precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16"}[dtype]


def _env_px(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise EngineError(f"{name}={value!r} must be a number of pixels (it is a test hook; unset it otherwise)")
    return int(value)


def _is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or the CPU allocator's RuntimeError."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class _PassOutOfMemory(Exception):
    """One pass (a whole scale or a tile) with `pass_px` on its longest side did not fit in memory."""

    def __init__(self, pass_px: int, message: str):
        super().__init__(message)
        self.pass_px = pass_px


@dataclass
class _Job:
    """One stylize call, prepared independently of the device, so that it can be retried on another one."""

    content: np.ndarray
    groups: list[_StyleGroup]
    keep: np.ndarray | None  # pixels the terms leave out: kept regions and, given a coverage, uncovered ones
    objective: _Objective
    height: int
    width: int
    sizes: list[int]
    init: str | np.ndarray
    seed: int
    preserve_color: str
    temporal_targets: Sequence[tuple[np.ndarray, np.ndarray]]
    style_scale: float
    precision: str
    tile_px: int | None
    memory_budget_gb: float | None
    callback: Callable[[Progress], None] | None
    started: float
    notices: list[str] = field(default_factory=list)
    done: dict = field(default_factory=dict)  # the last finished scale: "scale", "image" (CPU), "losses", "tiles"
    structure: np.ndarray | None = None  # per-pixel strength of the structure term at content size


@dataclass
class _Outcome:
    image: torch.Tensor
    losses: dict
    tiles_px: list[int | None]
    peak_bytes: float
    peak_measured: bool


class StyleTransfer:
    """The loss network and style-target cache, kept between jobs (one per worker process)."""

    def __init__(self, device: str = "auto", weights: str = "caffe", pooling: str = "max",
                 cache_dir: str | None = "default", precision: str = "auto"):
        self.device = resolve_device(device)
        self.model = load_vgg19(weights, pooling).to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.precision = precision
        self.autocast_dtype = resolve_precision(precision, self.device)  # the running job's, between jobs the default
        self.cache = StyleTargetCache(default_cache_dir() if cache_dir == "default" else cache_dir)
        self._weights = weights
        self._simulated_oom_px: int | None = None  # the running attempt's test hook limit
        self._saved_bytes: dict[tuple, tuple[float, float]] = {}
        self._cpu_fallback: StyleTransfer | None = None

    def _features(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        if self.device.type == "cuda":
            image = image.contiguous(memory_format=torch.channels_last)
        if self.autocast_dtype is None:
            return self.model(image, layers)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            return self.model(image, layers)

    def _style_targets(self, style: np.ndarray, longest_px: int, layers, loss_kind: str) -> dict:
        height, width = _scale_shape(*style.shape[:2], longest_px)
        pixels = resize_image(to_tensor(style, self.device), height, width)
        key = style_key(pixels, {"layers": sorted(layers), "loss": loss_kind, "weights": self.model.info.path,
                                 "pooling": self.model.pooling, "engine": __version__,
                                 "precision": _precision_name(self.autocast_dtype)})
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
        regions: dict[int, Region] | None = None,
        coverage: np.ndarray | None = None,
        learning_rate: float = 0.02,
        temporal_targets: Sequence[tuple[np.ndarray, np.ndarray]] = (),
        temporal_weight: float = 0.0,
        full_resolution: bool = False,
        precision: str | None = None,
        tile_px: int | None = None,
        memory_budget_gb: float | None = None,
        allow_classic_fallback: bool = False,
        structure_map: np.ndarray | None = None,
        callback: Callable[[Progress], None] | None = None,
    ) -> StylizeResult:
        """Stylize `content` (H x W x 3 sRGB in [0, 1]) with `styles`; returns the image at `size_px` longest side.

        Regions of `label_map` (ids, or R x H x W soft masks) can take their own style, strength, or keep
        the original pixels, as given in `regions`. `coverage` (H x W in [0, 1], a transparent render's alpha)
        limits the style statistics and the content term to the covered pixels (engine/alpha.py).
        `temporal_targets` are (earlier stylized frame warped onto this one, reliability mask) pairs at the output
        size; `temporal_weight` pulls reliable pixels toward them.
        With `full_resolution`, the result is scaled up to the content's own size and kept regions are exact there.

        `precision` (auto, fp32, bf16; default: the engine's) is the loss network's arithmetic. Scales whose
        longest side exceeds `tile_px`, or that would not fit `memory_budget_gb` (default: most of the device's free
        memory), run as overlapping tiles. Out of memory, the job retries with smaller tiles, then on the CPU, then,
        with `allow_classic_fallback`, writes a classic filter; settings["degraded"] says what happened.

        `structure_map` (H x W at the content's size, in [0, 1]; engine/structure.py makes it from the render's
        passes) holds the colour steps across the render's boundaries where it is above 0: shapes stay legible.
        """
        started = time.perf_counter()
        precision = precision or self.precision
        settings = dict(size_px=size_px, iterations=iterations, scales=scales, optimizer=optimizer,
                        init=init if isinstance(init, str) else "image", seed=seed, style_strength=style_strength,
                        preserve_color=preserve_color, content_weight=content_weight, style_weight=style_weight,
                        tv_weight=tv_weight, content_layers=list(content_layers), style_layers=list(style_layers),
                        style_layer_weights=None if style_layer_weights is None else list(style_layer_weights),
                        style_loss=style_loss, style_scale=style_scale, learning_rate=learning_rate,
                        temporal_weight=temporal_weight if temporal_targets else 0.0, tile_px=tile_px,
                        memory_budget_gb=memory_budget_gb, allow_classic_fallback=allow_classic_fallback,
                        structure=0.0 if structure_map is None else round(float(np.max(structure_map)), 4))
        if structure_map is not None and structure_map.shape != content.shape[:2]:
            raise EngineError(f"the structure map is {structure_map.shape[1]}x{structure_map.shape[0]} px but the "
                              f"content is {content.shape[1]}x{content.shape[0]} px; make it from the same render")
        blend = self._check(styles, style_blend, size_px, iterations, optimizer, init, style_strength,
                            preserve_color, content_layers, style_layers, style_layer_weights, style_loss)
        resolve_precision(precision, self.device)
        if tile_px is not None and tile_px < MIN_TILE_PX:
            raise EngineError(f"tile size must be at least {MIN_TILE_PX} px, got {tile_px}")
        if memory_budget_gb is not None and memory_budget_gb <= 0:
            raise EngineError(f"memory budget must be a positive number of GB, got {memory_budget_gb}")
        layer_weights = list(style_layer_weights) if style_layer_weights else [1.0] * len(style_layers)
        objective = _Objective(list(content_layers), list(style_layers), [w / sum(layer_weights) for w in layer_weights],
                               style_loss, content_weight, style_weight, tv_weight, temporal_weight, optimizer,
                               iterations, learning_rate)

        height, width = fit_longest_side(*content.shape[:2], size_px)
        if min(height, width) < MIN_SIDE_PX:
            raise EngineError(f"--size {size_px} makes the image {width}x{height} px; each side needs at least "
                              f"{MIN_SIDE_PX} px, so give a larger size")
        groups, keep = self._groups(content, styles, blend, style_strength, label_map, regions)
        ignored = keep  # pixels the optimizer's content and style terms leave out
        if coverage is not None:
            if np.shape(coverage) != content.shape[:2]:
                raise EngineError(f"the coverage (alpha) is {np.shape(coverage)[::-1]} px but the content is "
                                  f"{content.shape[1::-1]} px; give the alpha of the same image")
            groups, ignored = _covered_only(groups, keep, coverage)
        if not groups:  # strength 0 everywhere, or every region kept: the content is the answer
            final_content = resize_image(to_tensor(content, self.device), height, width)
            answer = np.asarray(content, np.float32) if full_resolution else to_numpy(final_content)
            settings.update(device=describe_device(self.device), width_px=answer.shape[1], height_px=answer.shape[0],
                            degraded=[])
            return StylizeResult(answer, settings, {}, time.perf_counter() - started, 0, 0)
        groups = [self._prepare_colours(g, content, preserve_color) for g in groups]
        job = _Job(content, groups, ignored, objective, height, width, scale_sizes(max(height, width), scales), init,
                   seed, preserve_color, temporal_targets, style_scale, precision, tile_px, memory_budget_gb,
                   callback, started, structure=structure_map)
        hits0, misses0 = self.cache.hits, self.cache.misses
        ran = self._run_degrading(job)
        if ran is not None:
            engine, outcome = ran
            image, losses = outcome.image, outcome.losses
            settings.update(device=describe_device(engine.device), method="optimization",
                            precision=_precision_name(resolve_precision(precision, engine.device)),
                            tiles_px=outcome.tiles_px, peak_memory_gb=round(outcome.peak_bytes / GB, 3),
                            peak_memory_measured=outcome.peak_measured)
        elif allow_classic_fallback:
            engine, losses = self, {}
            base = to_numpy(resize_image(to_tensor(content, torch.device("cpu")), height, width))
            palette, palette_blend = (styles, blend) if preserve_color == "none" else ([base], [1.0])
            image = to_tensor(classic_filter(base, palette, palette_blend, style_strength), torch.device("cpu"))
            job.notices.append("wrote a classic filter instead of style transfer: colour transfer toward the style "
                               "plus OpenCV edge-preserving stylization (--fallback classic)")
            settings.update(device="cpu", method="classic filter")
        else:
            raise OutOfMemory("out of memory on every device even with the smallest tiles (" + "; ".join(job.notices)
                              + "); give a smaller --memory-budget or --size, free the GPU, or allow --fallback "
                              "classic")

        final_content = resize_image(to_tensor(content, image.device), height, width)
        base = to_numpy(final_content)
        if full_resolution and (height, width) != content.shape[:2]:
            height, width = content.shape[:2]
            image, base = resize_image(image, height, width), np.asarray(content, np.float32)
        result = to_numpy(image)
        if preserve_color == "luminance":
            result = with_content_chroma(result, base)
        if keep is not None:
            keep_alpha = resize_weight_map(torch.from_numpy(keep), height, width).numpy()[..., None]
            result = keep_alpha * base + (1 - keep_alpha) * result
        settings.update(weights=self.model.info.source,
                        weights_preprocessing=self.model.info.preprocessing, pooling=self.model.pooling,
                        style_blend=blend, width_px=width, height_px=height, scale_sizes_px=job.sizes,
                        full_resolution=full_resolution, engine_version=__version__, degraded=list(job.notices))
        return StylizeResult(result.astype(np.float32), settings, losses, time.perf_counter() - started,
                             self.cache.hits - hits0, self.cache.misses - misses0)

    # -- memory and degradation ------------------------------------------------------------------

    def _run_degrading(self, job: _Job) -> tuple[StyleTransfer, _Outcome] | None:
        """Run on this device, retrying out-of-memory passes with smaller tiles, then on the CPU; None if all failed.

        A retry resumes after the last finished scale. Each step is recorded in `job.notices`.
        """
        tiers: list[tuple[StyleTransfer | None, int | None]] = [(self, _env_px(SIMULATE_OOM_ENV))]
        if self.device.type != "cpu" or tiers[0][1] is not None:
            tiers.append((None, _env_px(SIMULATE_CPU_OOM_ENV)))  # the CPU, loaded when first needed
        for engine, simulated_oom_px in tiers:
            if engine is None:
                engine = self._cpu_engine()
                job.notices.append("falling back to the CPU (much slower) with tiles sized for its memory")
            tile_px = job.tile_px
            while True:
                try:
                    return engine, engine._attempt(job, tile_px, simulated_oom_px, engine is self)
                except _PassOutOfMemory as exc:
                    failed_px, reason = exc.pass_px, str(exc).splitlines()[0][:200]
                engine._release_memory()
                where = describe_device(engine.device)
                tile_px = smaller_tile(failed_px)
                if tile_px is None:
                    job.notices.append(f"out of memory on {where} even with a {failed_px} px pass ({reason})")
                    break
                job.notices.append(f"out of memory on {where} with a {failed_px} px pass ({reason}); retrying with "
                                   f"{tile_px} px tiles")
        return None

    def _cpu_engine(self) -> StyleTransfer:
        if self._cpu_fallback is None:
            self._cpu_fallback = StyleTransfer("cpu", self._weights, self.model.pooling, None, self.precision)
            self._cpu_fallback.cache = self.cache
        return self._cpu_fallback

    def _release_memory(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _memory_model(self, job: _Job, scale_h: int, scale_w: int) -> MemoryModel:
        """Bytes of one optimization pass of this job at one scale on this engine (see engine/tiling.py)."""
        o = job.objective
        masked = tuple(g.mask is not None for g in job.groups)
        key = (tuple(o.content_layers), tuple(o.style_layers), o.style_loss, masked, self.autocast_dtype)
        if key not in self._saved_bytes:
            layers = list(dict.fromkeys([*o.content_layers, *o.style_layers]))

            def forward(image):
                image = image.to(self.device)
                features = self._features(image, layers)
                for layer in o.style_layers:
                    for is_masked in masked:
                        mask = torch.ones(features[layer].shape[-2:], device=self.device) if is_masked else None
                        style_statistics(o.style_loss, features[layer], mask)
                for layer in o.content_layers:
                    content_distance(features[layer], features[layer].detach())
                total_variation(image)

            constants = {t.untyped_storage().data_ptr() for t in [*self.model.parameters(), *self.model.buffers()]}
            self._saved_bytes[key] = measure_saved_bytes_per_pixel(forward, constants)
        saved, largest = self._saved_bytes[key]
        state = (LBFGS.state_bytes_per_element(min(LBFGS_HISTORY, o.iterations)) if o.optimizer == "lbfgs"
                 else 4 * 5)  # Adam: moments, average, gradient, image
        per_pixel = saved + 2 * largest + 3 * state + 3 * 4 * (4 + 2 * len(job.temporal_targets))
        weights = sum(p.numel() * p.element_size() for p in self.model.parameters())
        canvas = 4 * (16 + len(job.groups) + 4 * len(job.temporal_targets)) * scale_h * scale_w
        return MemoryModel(weights + canvas, per_pixel)

    def _tile_for_scale(self, job: _Job, scale_h: int, scale_w: int, tile_px: int | None, budget_bytes: float,
                        model: MemoryModel) -> int | None:
        """The tile side for one scale, or None to run it whole: the smaller of the forced and the budget's tile."""
        forced = tile_px if tile_px is not None and max(scale_h, scale_w) > tile_px else None
        from_budget = model.tile_for(scale_h, scale_w, budget_bytes)
        if from_budget is not None and from_budget < MIN_TILE_PX:
            if job.memory_budget_gb is not None:
                raise EngineError(f"a memory budget of {job.memory_budget_gb:g} GB is too small for this job: "
                                  f"{MIN_TILE_PX} px tiles need about {model.pass_bytes(MIN_TILE_PX, MIN_TILE_PX) / GB:.2f}"
                                  " GB; give a larger --memory-budget")
            from_budget = MIN_TILE_PX  # little free memory: try the smallest tiles, and degrade if even those fail
        chosen = [t for t in (forced, from_budget) if t is not None]
        return min(chosen) if chosen else None

    def _attempt(self, job: _Job, tile_px: int | None, simulated_oom_px: int | None, own_budget: bool) -> _Outcome:
        """The job's remaining scales on this engine's device; a pass that runs out of memory raises _PassOutOfMemory."""
        default_dtype = self.autocast_dtype
        self.autocast_dtype, self._simulated_oom_px = resolve_precision(job.precision, self.device), simulated_oom_px
        try:
            return self._run_scales(job, tile_px, own_budget)
        finally:
            self.autocast_dtype, self._simulated_oom_px = default_dtype, None

    def _run_scales(self, job: _Job, tile_px: int | None, own_budget: bool) -> _Outcome:
        final_content = resize_image(to_tensor(job.content, self.device), job.height, job.width)
        optimised_content = final_content
        if job.preserve_color == "luminance":
            grey = luminance(to_numpy(final_content))
            optimised_content = to_tensor(np.repeat(grey[..., None], 3, -1), self.device)
        temporal = [(self._temporal_pixels(target, job.preserve_color), torch.from_numpy(
            np.ascontiguousarray(mask, dtype=np.float32)).to(self.device)) for target, mask in job.temporal_targets]
        budget = job.memory_budget_gb * GB if (job.memory_budget_gb and own_budget) else available_bytes(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        torch.manual_seed(job.seed)
        done = job.done.get("scale", 0)
        image = job.done["image"].to(self.device) if done else None
        losses, tiles_px = job.done.get("losses", {}), list(job.done.get("tiles", []))
        estimated_peak = 0.0
        for scale_index, longest in enumerate(job.sizes, start=1):
            if scale_index <= done:
                continue
            scale_h, scale_w = _scale_shape(job.height, job.width, longest)
            scale_content = resize_image(optimised_content, scale_h, scale_w)
            image = self._initial_image(job.init, scale_content) if image is None else resize_image(image, scale_h, scale_w)
            model = self._memory_model(job, scale_h, scale_w)
            tile = self._tile_for_scale(job, scale_h, scale_w, tile_px, budget, model)
            pass_h, pass_w = (scale_h, scale_w) if tile is None else (min(tile, scale_h), min(tile, scale_w))
            estimated_peak = max(estimated_peak, model.pass_bytes(pass_h, pass_w))

            def report(iteration, terms, current, tile_number=1, tiles=1, scale=scale_index, shape=(scale_h, scale_w)):
                if job.callback is not None:
                    job.callback(Progress(iteration, job.objective.iterations, scale, len(job.sizes), shape[1],
                                          shape[0], *terms, time.perf_counter() - job.started, tile_number, tiles,
                                          tuple(job.notices), current))

            style_px = longest * job.style_scale
            structure = None if job.structure is None else F.adaptive_max_pool2d(
                torch.from_numpy(np.ascontiguousarray(job.structure, np.float32))[None, None],
                (scale_h, scale_w))[0, 0].to(self.device)  # max, not mean: thin boundaries keep their strength
            try:
                if tile is None:
                    image, losses = self._optimise_scale(image, scale_content, job.groups, job.keep, style_px,
                                                         job.objective, temporal, report, structure=structure)
                else:
                    image, losses = self._optimise_tiled(image, scale_content, job.groups, job.keep, style_px,
                                                         job.objective, temporal, report, tile, structure)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; everything else goes on up
                if not _is_out_of_memory(exc):
                    raise
                raise _PassOutOfMemory(max(pass_h, pass_w), f"{exc.__class__.__name__}: {exc}") from None
            tiles_px.append(tile)
            job.done.update(scale=scale_index, image=image.detach().cpu(), losses=losses, tiles=tiles_px)
        if self.device.type == "cuda":
            return _Outcome(image, losses, tiles_px, torch.cuda.max_memory_allocated(self.device), True)
        return _Outcome(image, losses, tiles_px, estimated_peak, False)

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
        return normalised_weights(style_blend, len(styles), "style blend")

    def _groups(self, content, styles, blend, style_strength, label_map, regions
                ) -> tuple[list[_StyleGroup], np.ndarray | None]:
        """Split the image into style groups and a keep-original mask from the label map and region settings."""
        check_regions_need_mask(regions, label_map)
        if label_map is None:
            if style_strength == 0:
                return [], None
            return [_StyleGroup(list(styles), blend, strength_to_weight(style_strength), None)], None
        keep = np.zeros(content.shape[:2], np.float32)
        by_target: dict[tuple, _StyleGroup] = {}
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
                by_target[identity] = _StyleGroup(region_styles, region_blend, strength_to_weight(part.strength),
                                                  part.weight_map.copy())
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
        return to_tensor(target, self.device)

    def _initial_image(self, init, content: torch.Tensor) -> torch.Tensor:
        if isinstance(init, np.ndarray):
            return resize_image(to_tensor(init, self.device), *content.shape[-2:])
        if init == "noise":
            return torch.rand(content.shape).to(self.device) * 0.2 + 0.4
        return content.clone()

    def _optimise_tiled(self, image: torch.Tensor, content: torch.Tensor, groups: list[_StyleGroup],
                        keep: np.ndarray | None, style_px: float, objective: _Objective,
                        temporal: list[tuple[torch.Tensor, torch.Tensor]], report: Callable, tile_px: int,
                        structure: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """One scale as overlapping tiles, in row order, all against the same style targets.

        Each tile starts from the image so far (the finished neighbours' pixels in its overlaps, the previous scale's
        elsewhere), is held to the finished pixels in its overlaps, and is blended in with linear ramps over them;
        the losses are the tiles' area-weighted mean.
        """
        height, width = content.shape[-2:]
        boxes = tile_boxes(height, width, tile_px, OVERLAP_PX)
        masks = [None if g.mask is None else resize_weight_map(torch.from_numpy(g.mask), height, width).numpy()
                 for g in groups]
        keep_here = None if keep is None else resize_weight_map(torch.from_numpy(keep), height, width).numpy()
        temporal_here = [(resize_image(target, height, width), resize_weight_map(mask, height, width))
                         for target, mask in temporal]
        total, weights = torch.zeros_like(image), torch.zeros_like(image[:, :1])
        sums: dict[str, float] = {}
        for number, box in enumerate(boxes, start=1):
            rows, cols = slice(box.y, box.y + box.height), slice(box.x, box.x + box.width)
            canvas = torch.where(weights > 0, total / weights.clamp_min(1e-12), image)[..., rows, cols]
            anchor = [(canvas, (weights[0, 0, rows, cols] > 0).float())] if number > 1 else []
            tile_groups = [_StyleGroup(g.styles, g.blend, g.weight,
                                       None if m is None else np.ascontiguousarray(m[rows, cols]))
                           for g, m in zip(groups, masks)]
            tile_groups = [g for g in tile_groups if g.mask is None or g.mask.sum() > 0]
            tiles_report = lambda i, terms, current, n=number: report(i, terms, current, n, len(boxes))  # noqa: E731
            if tile_groups:
                tile_image, losses = self._optimise_scale(
                    canvas, content[..., rows, cols], tile_groups,
                    None if keep_here is None else np.ascontiguousarray(keep_here[rows, cols]), style_px, objective,
                    [(target[..., rows, cols], mask[rows, cols]) for target, mask in temporal_here], tiles_report,
                    anchor, None if structure is None else structure[rows, cols])
            else:  # only kept pixels here: they are composited back at the end
                tile_image, losses = canvas, {}
            weight = feather(box, height, width, OVERLAP_PX).to(self.device)
            total[..., rows, cols] += tile_image * weight
            weights[..., rows, cols] += weight
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value * box.height * box.width
        area = sum(box.height * box.width for box in boxes)
        return total / weights, {name: value / area for name, value in sums.items()}

    def _optimise_scale(self, image: torch.Tensor, content: torch.Tensor, groups: list[_StyleGroup],
                        keep: np.ndarray | None, style_px: float, objective: _Objective,
                        temporal: list[tuple[torch.Tensor, torch.Tensor]], report: Callable,
                        anchor: list[tuple[torch.Tensor, torch.Tensor]] = (), structure: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, dict]:
        """Run one scale's (or tile's) optimization; returns the image and the last losses.

        `anchor` (a tile's finished overlap: pixels and mask) pulls those pixels toward what the neighbours made;
        `structure` (this scale's structure map) holds the content's colour steps across boundaries.

        Nothing in the iteration loop reads a value back from the device: L-BFGS decides on the device and the
        losses reach `report` through a LossReader.
        """
        o = objective
        height, width = content.shape[-2:]
        if self._simulated_oom_px is not None and max(height, width) > self._simulated_oom_px:
            raise torch.OutOfMemoryError(f"simulated: {width}x{height} px is over the test hook's limit of "
                                         f"{self._simulated_oom_px} px")
        layers = list(dict.fromkeys([*o.content_layers, *o.style_layers]))
        with torch.no_grad():
            content_features = self._features(content, o.content_layers)
            content_targets = {layer: content_features[layer].detach().float() for layer in o.content_layers}
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
        temporal_at_scale = [(resize_image(target, height, width), resize_weight_map(mask, height, width)[None])
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
            for target, mask in anchor:
                total = total + TILE_ANCHOR_WEIGHT * (mask * (current - target).pow(2).sum(1)).mean()
            if structure is not None:
                total = total + STRUCTURE_WEIGHT * structure_distance(current, content, structure, STRUCTURE_GAIN)
            return total, c_loss, s_loss, tv

        image = image.detach().contiguous().clone().requires_grad_(True)

        def evaluate() -> list[torch.Tensor]:
            image.grad = None
            values = loss_terms(image)
            values[0].backward()
            return [v.detach() for v in values]

        last: dict = {}

        def deliver(iteration, values):
            last.update(zip(("loss", "content", "style", "tv"), values))
            report(iteration, values, image.detach())

        reader = LossReader(self.device, deliver)
        if o.optimizer == "lbfgs":
            lbfgs = LBFGS(image, min(LBFGS_HISTORY, o.iterations))
            for iteration in range(1, o.iterations + 1):
                reader.push(iteration, lbfgs.step(evaluate))
            reader.flush()
            return image.detach().clamp(0, 1), last
        adam = torch.optim.Adam([image], lr=o.learning_rate)
        average = image.detach().clone()  # the result is a moving average of the iterates: less noise
        for iteration in range(1, o.iterations + 1):
            values = evaluate()
            adam.step()
            with torch.no_grad():
                image.clamp_(0, 1)
                average.mul_(ADAM_AVERAGE_DECAY).add_(image.detach(), alpha=1 - ADAM_AVERAGE_DECAY)
            reader.push(iteration, values)
        reader.flush()
        return average.clamp(0, 1), last

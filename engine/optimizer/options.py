"""The settings of one stylize job: `StylizeOptions`, a frozen dataclass that checks itself when it is made.

Every setting has its default here and nowhere else: `StyleTransfer.stylize` builds the options from its keyword
arguments, the command line takes its defaults from the fields (`option_defaults`), and the result records the
options it ran with. What belongs to one picture (label map, regions, coverage, temporal targets, structure map,
progress callback) is not a setting and stays a `stylize` argument.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from ..imageio.color import check_preserve_color
from ..runtime.device import cpu_capabilities
from ..runtime.errors import EngineError
from .losses import STYLE_LOSSES
from .tiling import MIN_TILE_PX
from .vgg import check_layers

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
PRECISIONS = ("auto", "fp32", "bf16")
INITS = ("content", "noise", "any")  # any: the any-style result with the same paintings, blend, regions, strength
MIN_SIZE_PX = 16
# Iterations per scale by default. From the content (or noise) the optimizer needs 300 to reach its look; from the
# any-style result (--init any) 130 come within 1-14% of that look in 0.41-0.48x the time (docs/quality_speed.md).
COLD_ITERATIONS = 300
WARM_ITERATIONS = 130


def check_strength(strength: float, what: str = "style strength") -> None:
    """Refuse a style strength outside [0, 1]; `what` names it in the message (e.g. a region's)."""
    if not 0.0 <= strength <= 1.0:
        raise EngineError(f"{what} must be between 0 and 1, got {strength}")


def normalised_weights(weights: Sequence[float] | None, count: int, what: str) -> list[float]:
    """Blend weights for `count` styles, summing to one (equal when None); `what` names them in messages."""
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise EngineError(f"{what}: {len(weights)} blend weights for {count} styles; give one weight per style")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise EngineError(f"{what}: blend weights must be non-negative and not all zero, got {list(weights)}")
    total = float(sum(weights))
    return [w / total for w in weights]


def refuse_nothing_to_optimize(term_weights: dict[str, float], style_layer_weights: Sequence[float] | None) -> None:
    """Refuse weights that leave the optimizer nothing to do: every term's weight 0, or a style term on whose
    layers every weight is 0 (its mix of layers is then undefined). `term_weights`: {'content': w, 'style': w, ...}."""
    if style_layer_weights is not None and term_weights.get("style", 0) > 0 and not any(style_layer_weights):
        raise EngineError(f"the style layer weights are all 0 ({', '.join(f'{w:g}' for w in style_layer_weights)}): "
                          "no style layer is left to match; give at least one layer a weight above 0, or set the "
                          "style weight to 0 for no style term")
    if not any(term_weights.values()):
        raise EngineError(f"every loss weight is 0 ({', '.join(f'{name} {w:g}' for name, w in term_weights.items())}"
                          "): nothing is left to optimize; give the content, style or smoothing term a weight above 0")


BF16_MIN_SPEEDUP = 1.15  # bf16 is picked on a CPU without AMX only when the probe measured it this much faster


def cpu_gains_from_bf16(capabilities: Mapping[str, object] | None = None) -> bool:
    """Whether a CPU runs the loss network faster in bf16: one with AMX-BF16 tiles, or one with AVX-512 BF16 where
    bf16 was measured faster (`bf16_speedup`, engine.runtime.device.cpu_bf16_speedup). The flag alone is not enough: on an
    Intel Xeon with avx512_bf16 and no AMX, a 256 px quality job took 1.57x as long in bf16 (docs/quality_speed.md),
    while on an AMD EPYC (Zen 4) VGG-19 ran 2.1x faster in bf16. `capabilities` as `engine.runtime.device.cpu_capabilities()`
    gives them (default: this machine's, measured once)."""
    if capabilities is None:
        capabilities = cpu_capabilities()
    if capabilities.get("amx_bf16"):
        return True
    speedup = capabilities.get("bf16_speedup")
    return bool(capabilities.get("avx512_bf16")) and isinstance(speedup, (int, float)) and speedup >= BF16_MIN_SPEEDUP


def gains_from_bf16(device: torch.device, capabilities: Mapping[str, object] | None = None) -> bool:
    """Whether `device` runs bf16 natively and faster: CUDA with bf16, a CPU with AMX (`capabilities`: the CPU's,
    see `cpu_gains_from_bf16`), MPS where torch supports bf16 there (macOS 14 and later)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_gains_from_bf16(capabilities)
    if device.type == "mps":
        newer = getattr(torch.backends.mps, "is_macos_or_newer", None)
        return bool(torch.backends.mps.is_available() and newer is not None and newer(14, 0))
    return False


def resolve_precision(precision: str, device: torch.device,
                      capabilities: Mapping[str, object] | None = None) -> torch.dtype | None:
    """The loss network's autocast dtype for a precision setting; None runs float32 throughout.

    'auto' is bf16 where the device runs it natively and faster (`gains_from_bf16`; `capabilities` stands for the
    CPU's) and float32 elsewhere: emulated bf16, and AVX-512 BF16 without AMX, are slower than float32. bf16 moves single results' style distance by about 2%
    either way, noise of the same size as float32's own between runs (scripts/precision_check.py), and the network
    runs about twice as fast. Only the network runs in bf16: Gram sums, L-BFGS state and the image stay float32.
    float16 is not offered: its features overflow on some images (NaN).
    """
    if precision not in PRECISIONS:
        raise EngineError(f"unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return torch.bfloat16 if gains_from_bf16(device, capabilities) else None
    return {"fp32": None, "bf16": torch.bfloat16}[precision]


def precision_name(dtype: torch.dtype | None) -> str:
    """How a resolved precision is recorded in settings and cache keys."""
    return {None: "fp32", torch.bfloat16: "bf16"}[dtype]


@dataclass(frozen=True)
class StylizeOptions:
    """How one picture is stylized by optimization (see `StyleTransfer.stylize` for what each setting does)."""

    style_blend: tuple[float, ...] | None = None  # one weight per style; None: equal
    size_px: int = 512  # longest side of the result
    iterations: int | None = None  # per scale; None: COLD_ITERATIONS, or WARM_ITERATIONS from the any-style start
    scales: int | None = None  # None: halving down to about 128 px
    optimizer: str = "lbfgs"
    init: str | np.ndarray = "content"  # 'content', 'noise', 'any' (the any-style result) or an H x W x 3 image
    seed: int = 0
    style_strength: float = 1.0
    preserve_color: str = "none"
    content_weight: float = 1.0
    style_weight: float = 30.0
    tv_weight: float = 10.0
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None  # one per style layer; None: equal
    style_loss: str = "gram"
    style_scale: float = 1.0  # style images' size relative to each scale's
    learning_rate: float = 0.02  # Adam only
    temporal_weight: float = 0.0
    full_resolution: bool = False  # scale the result up to the content's own size
    precision: str | None = None  # None: the engine's
    tile_px: int | None = None
    memory_budget_gb: float | None = None  # None: most of the device's free memory
    allow_classic_fallback: bool = False

    def __post_init__(self) -> None:
        for name in ("style_blend", "content_layers", "style_layers", "style_layer_weights"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if self.size_px < MIN_SIZE_PX:
            raise EngineError(f"size must be at least {MIN_SIZE_PX} px, got {self.size_px}")
        if self.iterations is None:
            warm = isinstance(self.init, str) and self.init == "any"
            object.__setattr__(self, "iterations", WARM_ITERATIONS if warm else COLD_ITERATIONS)
        if self.iterations < 1:
            raise EngineError(f"iterations must be at least 1, got {self.iterations}")
        if self.scales is not None and self.scales < 1:
            raise EngineError(f"scales must be at least 1, got {self.scales}")
        if self.optimizer not in OPTIMIZERS:
            raise EngineError(f"unknown optimizer '{self.optimizer}'; use one of {', '.join(OPTIMIZERS)}")
        if isinstance(self.init, str) and self.init not in INITS:
            raise EngineError(f"unknown init '{self.init}'; use 'content', 'noise', 'any' or an image")
        check_strength(self.style_strength)
        if self.style_loss not in STYLE_LOSSES:
            raise EngineError(f"unknown style loss '{self.style_loss}'; use one of {', '.join(STYLE_LOSSES)}")
        check_preserve_color(self.preserve_color)
        check_layers(self.content_layers)
        check_layers(self.style_layers)
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise EngineError(f"{len(self.style_layer_weights)} style layer weights for {len(self.style_layers)} "
                              "style layers; give one weight per layer")
        refuse_nothing_to_optimize(dict(content=self.content_weight, style=self.style_weight, tv=self.tv_weight,
                                        temporal=self.temporal_weight), self.style_layer_weights)
        if self.precision is not None and self.precision not in PRECISIONS:
            raise EngineError(f"unknown precision '{self.precision}'; use one of {', '.join(PRECISIONS)}")
        if self.tile_px is not None and self.tile_px < MIN_TILE_PX:
            raise EngineError(f"tile size must be at least {MIN_TILE_PX} px, got {self.tile_px}")
        if self.memory_budget_gb is not None and self.memory_budget_gb <= 0:
            raise EngineError(f"memory budget must be a positive number of GB, got {self.memory_budget_gb}")

    def blend_for(self, style_count: int) -> list[float]:
        """The style blend for this many styles, normalised (checked against the count)."""
        if style_count < 1:
            raise EngineError("no style image given; give at least one")
        return normalised_weights(self.style_blend, style_count, "style blend")

    def layer_weights(self) -> list[float]:
        """The style layers' weights, summing to one (all 0 only with the style term off, as checked when made)."""
        weights = list(self.style_layer_weights) if self.style_layer_weights else [1.0] * len(self.style_layers)
        return [w / (sum(weights) or 1.0) for w in weights]


def option_defaults(options: type = StylizeOptions) -> dict:
    """Each field's default by name: what the command line and the worker use when a setting is not given."""
    return {f.name: f.default for f in dataclasses.fields(options)}

"""Render-pass guides for per-shot models: which EXR channels feed the network, and their value ranges.

A guide is a pass of a multilayer EXR render (e.g. `Normal`, `UV`, `Object Index`, `Depth`); its channels follow
the RGB as extra inputs, each mapped from the [low, high] range seen in training to [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..imageio.images import check_channel, read_exr_channels
from ..runtime.errors import EngineError


def _pass_name(channel: str) -> str:
    """'ViewLayer.Normal.X' -> 'Normal'; a single-part name is its own pass."""
    parts = channel.split(".")
    return parts[-2] if len(parts) >= 2 else parts[0]


def guide_channel_names(path, passes) -> list[str]:
    """Full channel names, in file order, of the asked passes of one EXR render."""
    path = Path(path)
    if path.suffix.lower() != ".exr":
        raise EngineError(f"render-pass guides come from multilayer EXR renders, but {path} is not an EXR; "
                          "render the shot as OpenEXR MultiLayer with the passes you want as guides")
    channels = list(read_exr_channels(path, "render"))
    names = []
    for wanted in passes:
        found = [c for c in channels if _pass_name(c) == wanted]
        if not found:
            available = sorted({_pass_name(c) for c in channels})
            raise EngineError(f"render {path} has no '{wanted}' pass; it has {', '.join(available)}")
        names += found
    return names


def read_guides(path, channel_names, ranges=None) -> np.ndarray:
    """H x W x K float32 guides from an EXR; with `ranges`, each channel mapped from [low, high] to [0, 1]."""
    channels = read_exr_channels(Path(path), "render")
    missing = [name for name in channel_names if name not in channels]
    if missing:
        raise EngineError(f"render {path} lacks the guide channels {missing} that this model was trained with; "
                          "render the same passes as the training frames")
    guides = np.stack([check_channel(channels[name], Path(path), name, "render") for name in channel_names],
                      axis=-1).astype(np.float32)
    if ranges is not None:
        low = np.array([r[0] for r in ranges], np.float32)
        high = np.array([r[1] for r in ranges], np.float32)
        guides = (guides - low) / np.maximum(high - low, 1e-6)
    return guides


def guide_ranges(guides: list[np.ndarray]) -> list[list[float]]:
    """[low, high] of each guide channel over all training frames."""
    stacked = np.concatenate([g.reshape(-1, g.shape[-1]) for g in guides])
    return [[float(lo), float(hi)] for lo, hi in zip(stacked.min(0), stacked.max(0))]

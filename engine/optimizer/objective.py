"""The objective: what one optimization pass minimises, assembled in one place for images, tiles and textures.

A pass's loss is content_weight x content + style_weight x style (each style group's distance, weighted by its
strength and the layer weights) + tv_weight x total variation, plus, where given, the pulls toward earlier frames
(temporal), toward a tile's finished neighbours (anchor) and toward the render's colour steps across boundaries
(structure). Style groups say which pixels share one style target: the whole image, or the regions with one setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .losses import (
    content_distance,
    resize_weight_map,
    structure_distance,
    style_distance,
    style_statistics,
    total_variation,
)
from .options import StylizeOptions

STRUCTURE_WEIGHT = 30.0  # weight of the edge term at structure 1 (as strong as the style at full strength)
STRUCTURE_GAIN = 3.0  # boundary steps are held at (1 + gain x structure) x the render's: they stand out of the strokes
TILE_ANCHOR_WEIGHT = 50.0  # pull of a tile's overlap toward the finished neighbours' pixels (as the temporal term)


def strength_to_weight(strength: float) -> float:
    """Style strength in [0, 1] to a multiplier of the style weight, on a log scale (what the eye sees follows
    the ratio of style to content weight): 1 -> 1, 0.5 -> 0.03, 0 leaves the content untouched."""
    return 0.0 if strength <= 0 else 10.0 ** (-3.0 * (1.0 - strength))


@dataclass
class StyleGroup:
    """Pixels that share one style target: the whole image, or the union of regions with the same style."""

    styles: list[np.ndarray]
    blend: list[float]
    weight: float  # style-loss multiplier from strength
    mask: np.ndarray | None  # soft mask at content size, or None for the whole image


def covered_only(groups: list[StyleGroup], keep: np.ndarray | None, coverage: np.ndarray
                 ) -> tuple[list[StyleGroup], np.ndarray | None]:
    """Style groups weighted by coverage, and the pixels the terms leave out (kept or uncovered).

    A group's style weight is scaled by its share of the covered pixels (not of the whole frame), so an object
    alone in a transparent render is stylized as strongly as a full frame would be.
    """
    coverage = np.clip(np.asarray(coverage, np.float32), 0.0, 1.0)
    covered = float(coverage.mean())
    if covered <= 0:
        return [], keep
    weighted = [StyleGroup(g.styles, g.blend, g.weight / covered, coverage if g.mask is None else g.mask * coverage)
                for g in groups]
    ignored = 1.0 - coverage if keep is None else 1.0 - (1.0 - keep) * coverage
    return [g for g in weighted if g.mask.sum() > 0], ignored


@dataclass(frozen=True)
class Objective:
    """What one scale's optimization minimises, and how."""

    content_layers: Sequence[str]
    style_layers: Sequence[str]
    layer_weights: Sequence[float]  # one per style layer, summing to one
    style_loss: str
    content_weight: float
    style_weight: float
    tv_weight: float
    temporal_weight: float
    optimizer: str
    iterations: int
    learning_rate: float

    @classmethod
    def from_options(cls, options: StylizeOptions) -> Objective:
        return cls(list(options.content_layers), list(options.style_layers), options.layer_weights(),
                   options.style_loss, options.content_weight, options.style_weight, options.tv_weight,
                   options.temporal_weight, options.optimizer, options.iterations, options.learning_rate)

    @property
    def layers(self) -> list[str]:
        """The network layers a pass needs, each once."""
        return list(dict.fromkeys([*self.content_layers, *self.style_layers]))


@dataclass
class StyleTerm:
    """One style group's part of a pass: the target statistics per layer, the pixels it covers, its weight."""

    targets: dict
    mask: torch.Tensor | None  # soft mask at the pass's size, or None for the whole image
    weight: float


class PassLoss:
    """The loss of one pass (a scale, a tile, a texture or one view of it): call it with the image and its
    features to get [total, content, style, total variation] as tensors (nothing is read back from the device)."""

    def __init__(self, objective: Objective, content_targets: dict, style_terms: Sequence[StyleTerm], *,
                 content_map: torch.Tensor | None = None, tv_map: torch.Tensor | None = None, wrap: bool = False,
                 temporal: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
                 anchor: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
                 content: torch.Tensor | None = None, structure: torch.Tensor | None = None):
        """`content_map` weights the content term's pixels; `tv_map` and `wrap` shape the total variation
        (engine.optimizer.losses.total_variation); `temporal` and `anchor` are (target pixels, mask) pairs pulling the image
        toward them; `structure` (H x W) holds `content`'s colour steps where it is above 0."""
        self.objective = objective
        self.content_targets = content_targets
        self.style_terms = list(style_terms)
        self.content_map, self.tv_map, self.wrap = content_map, tv_map, wrap
        self.temporal, self.anchor = list(temporal), list(anchor)
        self.content, self.structure = content, structure
        self.resized: dict[tuple[int, tuple[int, int]], torch.Tensor] = {}  # (mask's id, size): mask at that size

    def at_size(self, mask: torch.Tensor | None, shape) -> torch.Tensor | None:
        """A soft mask at a feature map's size (area averaged; computed once per size)."""
        if mask is None:
            return None
        key = (id(mask), tuple(shape))
        if key not in self.resized:
            self.resized[key] = resize_weight_map(mask, *shape)
        return self.resized[key]

    def __call__(self, current: torch.Tensor, features: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        o = self.objective
        c_loss = sum(content_distance(features[layer], self.content_targets[layer],
                                      self.at_size(self.content_map, features[layer].shape[-2:]))
                     for layer in o.content_layers) / len(o.content_layers)
        s_loss = torch.zeros((), device=current.device)
        for term in self.style_terms:
            for layer, layer_weight in zip(o.style_layers, o.layer_weights):
                mask = self.at_size(term.mask, features[layer].shape[-2:])
                stats = style_statistics(o.style_loss, features[layer], mask)
                s_loss = s_loss + term.weight * layer_weight * style_distance(o.style_loss, stats, term.targets[layer])
        tv = total_variation(current, self.wrap, self.tv_map)
        total = o.content_weight * c_loss + o.style_weight * s_loss + o.tv_weight * tv
        for target, mask in self.temporal:
            total = total + o.temporal_weight * (mask * (current - target).pow(2).sum(1)).mean()
        for target, mask in self.anchor:
            total = total + TILE_ANCHOR_WEIGHT * (mask * (current - target).pow(2).sum(1)).mean()
        if self.structure is not None:
            tracked = self.temporal[0] if self.temporal else None  # a shot's earlier result: its boundary steps hold
            total = total + STRUCTURE_WEIGHT * structure_distance(current, self.content, self.structure, STRUCTURE_GAIN,
                                                                  tracked)
        return [total, c_loss, s_loss, tv]

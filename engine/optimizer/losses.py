"""Loss terms of the optimization: content, style (Gram or mean-and-covariance), total variation, structure.

Content and style losses are relative (divided by the target's energy), so their weights mean the same
for every weight source, layer and image size. Style statistics accept a spatial weight map (guided
Gram matrices, Gatys et al. 2017) so that one loss can cover a region of the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vgg import layer_channels

STYLE_LOSSES = ("gram", "mean_cov")


def _flatten(features: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) to float32 (C, H*W): statistics are always taken in full precision."""
    return features.float().flatten(2)[0]


def gram_matrix(features: torch.Tensor, weight_map: torch.Tensor | None = None) -> torch.Tensor:
    """C x C Gram matrix normalised per element; with a weight map, only the weighted pixels count."""
    flat = _flatten(features)
    channels = flat.shape[0]
    if weight_map is None:
        return flat @ flat.T / flat.numel()
    weights = weight_map.reshape(1, -1).float()
    return (flat * weights) @ flat.T / (channels * weights.sum().clamp_min(1e-8))


def mean_and_covariance(features: torch.Tensor, weight_map: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean (C) and covariance (C x C) of the features, optionally weighted per pixel."""
    flat = _flatten(features)
    if weight_map is None:
        weights = torch.full((1, flat.shape[1]), 1.0 / flat.shape[1], device=flat.device)
    else:
        weights = weight_map.reshape(1, -1).float()
        weights = weights / weights.sum().clamp_min(1e-8)
    mean = (flat * weights).sum(1)
    centred = flat - mean[:, None]
    return mean, (centred * weights) @ centred.T


def style_statistics(kind: str, features: torch.Tensor, weight_map: torch.Tensor | None = None) -> dict:
    """What a style loss compares: {'gram': G} or {'mean': mu, 'cov': S}."""
    if kind == "gram":
        return {"gram": gram_matrix(features, weight_map)}
    mean, cov = mean_and_covariance(features, weight_map)
    return {"mean": mean, "cov": cov}


def style_statistics_shapes(kind: str, layers) -> dict[str, dict[str, tuple[int, ...]]]:
    """The shapes `style_statistics` gives for VGG-19's `layers` ({layer: {statistic: shape}}), which a cached
    entry must have."""
    shapes = {}
    for layer in layers:
        channels = layer_channels(layer)
        shapes[layer] = ({"gram": (channels, channels)} if kind == "gram" else
                         {"mean": (channels,), "cov": (channels, channels)})
    return shapes


def mix_statistics(stats: list[dict], weights: list[float]) -> dict:
    """Blend several styles' statistics with blend weights that sum to one."""
    return {key: sum(w * s[key] for s, w in zip(stats, weights)) for key in stats[0]}


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def style_distance(kind: str, stats: dict, target: dict) -> torch.Tensor:
    """Relative distance between style statistics: Gram MSE, or squared Wasserstein-2 between Gaussians."""
    if kind == "gram":
        return (stats["gram"] - target["gram"]).pow(2).sum() / target["gram"].pow(2).sum().clamp_min(1e-12)
    mean, cov = stats["mean"], stats["cov"]
    t_mean, t_cov = target["mean"], target["cov"]
    if "cov_sqrt" not in target:
        target["cov_sqrt"] = _sqrtm_psd(t_cov)
    root = target["cov_sqrt"]
    cross = torch.linalg.eigvalsh(root @ cov @ root).clamp_min(1e-10).sqrt().sum()
    w2 = (mean - t_mean).pow(2).sum() + torch.trace(cov) + torch.trace(t_cov) - 2 * cross
    return w2 / (t_mean.pow(2).sum() + torch.trace(t_cov)).clamp_min(1e-12)


def content_distance(features: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """Relative squared error of feature maps, optionally weighted per pixel."""
    diff = (features.float() - target.float()).pow(2)
    energy = target.float().pow(2)
    if weight_map is not None:
        diff, energy = diff * weight_map, energy * weight_map
    return diff.sum() / energy.sum().clamp_min(1e-12)


def total_variation(image: torch.Tensor, wrap: bool = False, weight_map: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels: discourages noise. With `wrap`, across the border too (a
    tileable image); with `weight_map` (H x W), only between pixels it weights."""
    if wrap:
        dx, dy = image - image.roll(1, -1), image - image.roll(1, -2)
    else:
        dx, dy = image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]
    if weight_map is None:
        return dx.pow(2).mean() + dy.pow(2).mean()
    wx = weight_map if wrap else weight_map[..., :, 1:] * weight_map[..., :, :-1]
    wy = weight_map if wrap else weight_map[..., 1:, :] * weight_map[..., :-1, :]
    return (dx.pow(2) * wx).sum() / (3 * wx.sum()).clamp_min(1) + (dy.pow(2) * wy).sum() / (3 * wy.sum()).clamp_min(1)


def resize_weight_map(weight_map: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A soft mask (H, W) resized to a feature map's size by area averaging."""
    return F.interpolate(weight_map[None, None], size=(height, width), mode="area")[0, 0]


STRUCTURE_STEPS_PX = ((0, 1), (1, 0), (0, 2), (2, 0))
STROKE_FLOOR = 4.0  # boundary steps are held at least this x the structure x the image's mean colour step
STROKE_FLOOR_MAX_RAISE = 8.0  # ... but a render step is raised at most this much (a faint one stays faint)
UNTRACKED_SHARE = 0.3  # the term's weight, on a frame held to an earlier one, on pairs the motion mask does not track
HELD_RAISE_MAX = 1.2  # a held frame's earlier steps are raised at most this much back toward the render's own level


def structure_distance(image: torch.Tensor, content: torch.Tensor, weights: torch.Tensor, gain: float = 0.0,
                       tracked: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Edge term at the render's discontinuities (after Li et al. 2017's Laplacian loss): squared difference between
    the image's colour steps over 1 and 2 px and the content's, raised by `gain` x the pair's weight, weighted per
    pixel pair by `weights` (H x W, the structure strength on boundaries), relative to the targets' energy there.
    The gain lets boundaries stand out against the texture the style paints on surfaces; zero weights leave the
    style free. A boundary step is also held at least STROKE_FLOOR x its weight x the image's mean colour step (the
    strokes'), so faint render boundaries (dark scenes, similar colours) stand out too.
    `tracked` (an earlier result of a shot warped onto this frame, and where that is reliable) supplies the pattern
    of every target, so the term agrees with the temporal term instead of following the render's own frame-to-frame
    boundary aliasing; UNTRACKED_SHARE weights the pairs the mask does not keep (where the warped result may show
    another object). The earlier steps are raised as one, by up to HELD_RAISE_MAX, toward the energy of this frame's
    own raised targets: the warp softens them a little and the optimizer never quite reaches a target, so held to
    the earlier steps alone each frame kept less than the last (issue 20: 0.58 of frame 1's contrast by frame 8).
    """
    height, width = image.shape[-2:]
    with torch.no_grad():  # how strong the strokes are: boundaries must stand out of them, however faint the render's
        painted = image if tracked is None else tracked[0]
        stroke = (painted[..., :, 1:] - painted[..., :, :-1]).norm(dim=1).mean()
    pairs, own_targets, held_steps = [], [], []
    for dy, dx in STRUCTURE_STEPS_PX:
        pair = torch.maximum(weights[: height - dy, : width - dx], weights[dy:, dx:])
        source = content[..., : height - dy, : width - dx] - content[..., dy:, dx:]
        floor = STROKE_FLOOR * pair * stroke / source.norm(dim=1).clamp_min(1e-4)
        own_targets.append(source * torch.maximum(1 + gain * pair, floor.clamp(max=STROKE_FLOOR_MAX_RAISE)))
        if tracked is not None:
            earlier, reliable = tracked[0], tracked[1].reshape(height, width)
            held = torch.minimum(reliable[: height - dy, : width - dx], reliable[dy:, dx:])
            pair = pair * (held + (1 - held) * UNTRACKED_SHARE)
            held_steps.append(earlier[..., : height - dy, : width - dx] - earlier[..., dy:, dx:])
        pairs.append(pair)
    targets = own_targets
    if tracked is not None:
        with torch.no_grad():
            own_energy = sum((p * t.pow(2).sum(1)).sum() for p, t in zip(pairs, own_targets))
            held_energy = sum((p * t.pow(2).sum(1)).sum() for p, t in zip(pairs, held_steps))
            raise_by = (own_energy / held_energy.clamp_min(1e-8)).sqrt().clamp(1.0, HELD_RAISE_MAX)
        targets = [step * raise_by for step in held_steps]
    error = torch.zeros((), device=image.device)
    energy = torch.zeros((), device=image.device)
    for (dy, dx), pair, target in zip(STRUCTURE_STEPS_PX, pairs, targets):
        step = image[..., : height - dy, : width - dx] - image[..., dy:, dx:]
        error = error + (pair * (step - target).pow(2).sum(1)).sum()
        energy = energy + ((pair > 0) * target.pow(2).sum(1)).sum()
    return error / energy.clamp_min(1e-8)

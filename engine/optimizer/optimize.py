"""The optimizer core: a job's scales coarse to fine, each whole or as feathered tiles, each pass minimised by
L-BFGS (engine/optimizer/lbfgs.py) or Adam against the objective (engine/optimizer/objective.py).

`minimise` is the one iteration loop (images, tiles and textures): nothing in it reads a value back from the
device; losses reach the progress report through a `LossReader`.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..imageio.color import luminance
from ..imageio.tensors import resize_image, scale_shape, to_numpy, to_tensor
from ..runtime.faults import raise_simulated_oom
from .lbfgs import LBFGS, LossReader
from .losses import mix_statistics, resize_weight_map
from .objective import Objective, PassLoss, StyleGroup, StyleTerm
from .options import StylizeOptions
from .results import Progress
from .tiling import OVERLAP_PX, feather, tile_boxes


class Engine(Protocol):
    """What a job runs on: the loss network on one device (engine.stylize.StyleTransfer is the one the product
    hands in). The optimizer and the out-of-memory chain take it as an argument and never import it."""

    device: torch.device
    model: torch.nn.Module
    autocast_dtype: torch.dtype | None
    saved_bytes: dict[tuple, tuple[float, float]]  # the memory model's measurements (degrade.memory_model)

    def features(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]: ...

    def style_targets(self, style: np.ndarray, longest_px: int, layers, loss_kind: str) -> dict: ...

    def running_at(self, dtype: torch.dtype | None) -> AbstractContextManager[None]: ...

    def cpu_fallback(self) -> Engine: ...


ADAM_AVERAGE_DECAY = 0.95
LBFGS_HISTORY = 100


@dataclass
class Job:
    """One stylize call, prepared independently of the device, so that it can be retried on another one."""

    content: np.ndarray
    groups: list[StyleGroup]
    keep: np.ndarray | None  # pixels the terms leave out: kept regions and, given a coverage, uncovered ones
    options: StylizeOptions  # its precision is resolved (never None)
    objective: Objective
    height: int
    width: int
    sizes: list[int]
    temporal_targets: Sequence[tuple[np.ndarray, np.ndarray]]
    callback: Callable[[Progress], None] | None
    started: float
    notices: list[str] = field(default_factory=list)
    done: dict = field(default_factory=dict)  # the last finished scale: "scale", "image" (CPU), "losses", "tiles"
    structure: np.ndarray | None = None  # per-pixel strength of the structure term at content size


@dataclass
class Outcome:
    image: torch.Tensor
    losses: dict
    tiles_px: list[int | None]
    peak_bytes: float
    peak_measured: bool


def minimise(parameters: torch.Tensor | Sequence[torch.Tensor], evaluate: Callable[[], list[torch.Tensor]],
             objective: Objective, device: torch.device, report: Callable[[int, list[float]], None]
             ) -> tuple[torch.Tensor | None, dict]:
    """Run the objective's optimizer for its iterations. `evaluate()` zeroes the gradients, back-propagates and
    returns the detached terms [total, content, style, tv]; `report(iteration, floats)` gets every iteration's
    terms as they arrive from the device. Returns Adam's moving average of the iterates (None under L-BFGS, whose
    result is the parameters themselves) and the last losses."""
    last: dict = {}

    def deliver(iteration, values):
        last.update(zip(("loss", "content", "style", "tv"), values))
        report(iteration, values)

    reader = LossReader(device, deliver)
    if objective.optimizer == "lbfgs":
        lbfgs = LBFGS(parameters, min(LBFGS_HISTORY, objective.iterations))
        for iteration in range(1, objective.iterations + 1):
            reader.push(iteration, lbfgs.step(evaluate))
        reader.flush()
        return None, last
    image = parameters
    adam = torch.optim.Adam([image], lr=objective.learning_rate)
    average = image.detach().clone()  # the result is a moving average of the iterates: less noise
    for iteration in range(1, objective.iterations + 1):
        values = evaluate()
        adam.step()
        with torch.no_grad():
            image.clamp_(0, 1)
            average.mul_(ADAM_AVERAGE_DECAY).add_(image.detach(), alpha=1 - ADAM_AVERAGE_DECAY)
        reader.push(iteration, values)
    reader.flush()
    return average, last


class ScaleRunner:
    """One attempt at a job's remaining scales on one engine's device."""

    def __init__(self, engine: Engine, job: Job, oom_limit_px: int | None):
        self.engine, self.job, self.device = engine, job, engine.device
        self.oom_limit_px = oom_limit_px  # the test hook's simulated out-of-memory (engine/runtime/faults.py)

    def run(self, plan_tile: Callable[[int, int], tuple[int | None, float]],
            on_pass_failed: Callable[[BaseException, int], None]) -> Outcome:
        """The remaining scales; `plan_tile(h, w)` gives a scale's tile side (None: whole) and its estimated bytes,
        `on_pass_failed(exc, pass_px)` sees a pass's exception (and raises what the caller wants)."""
        job, device = self.job, self.device
        final_content = resize_image(to_tensor(job.content, device), job.height, job.width)
        optimised_content = final_content
        if job.options.preserve_color == "luminance":
            grey = luminance(to_numpy(final_content))
            optimised_content = to_tensor(np.repeat(grey[..., None], 3, -1), device)
        temporal = [(self.temporal_pixels(target), torch.from_numpy(
            np.ascontiguousarray(mask, dtype=np.float32)).to(device)) for target, mask in job.temporal_targets]
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        torch.manual_seed(job.options.seed)
        done = job.done.get("scale", 0)
        image = job.done["image"].to(device) if done else None
        losses, tiles_px = job.done.get("losses", {}), list(job.done.get("tiles", []))
        estimated_peak = 0.0
        for scale_index, longest in enumerate(job.sizes, start=1):
            if scale_index <= done:
                continue
            scale_h, scale_w = scale_shape(job.height, job.width, longest)
            scale_content = resize_image(optimised_content, scale_h, scale_w)
            image = self.initial_image(scale_content) if image is None else resize_image(image, scale_h, scale_w)
            tile, pass_bytes = plan_tile(scale_h, scale_w)
            pass_h, pass_w = (scale_h, scale_w) if tile is None else (min(tile, scale_h), min(tile, scale_w))
            estimated_peak = max(estimated_peak, pass_bytes)

            def report(iteration, terms, current, tile_number=1, tiles=1, scale=scale_index, shape=(scale_h, scale_w)):
                if job.callback is not None:
                    job.callback(Progress(iteration, job.objective.iterations, scale, len(job.sizes), shape[1],
                                          shape[0], *terms, time.perf_counter() - job.started, tile_number, tiles,
                                          tuple(job.notices), current))

            style_px = longest * job.options.style_scale
            structure = None if job.structure is None else F.adaptive_max_pool2d(
                torch.from_numpy(np.ascontiguousarray(job.structure, np.float32))[None, None],
                (scale_h, scale_w))[0, 0].to(device)  # max, not mean: thin boundaries keep their strength
            try:
                if tile is None:
                    image, losses = self.optimise_pass(image, scale_content, job.groups, job.keep, style_px,
                                                       temporal, report, structure=structure)
                else:
                    image, losses = self.optimise_tiled(image, scale_content, style_px, temporal, report, tile,
                                                        structure)
            except Exception as exc:  # noqa: BLE001 - the caller decides what to handle
                on_pass_failed(exc, max(pass_h, pass_w))
                raise
            tiles_px.append(tile)
            job.done.update(scale=scale_index, image=image.detach().cpu(), losses=losses, tiles=tiles_px)
        if device.type == "cuda":
            return Outcome(image, losses, tiles_px, torch.cuda.max_memory_allocated(device), True)
        return Outcome(image, losses, tiles_px, estimated_peak, False)

    def temporal_pixels(self, target: np.ndarray) -> torch.Tensor:
        if self.job.options.preserve_color == "luminance":
            target = np.repeat(luminance(target)[..., None], 3, -1)
        return to_tensor(target, self.device)

    def initial_image(self, content: torch.Tensor) -> torch.Tensor:
        init = self.job.options.init
        if isinstance(init, np.ndarray):
            return resize_image(to_tensor(init, self.device), *content.shape[-2:])
        if init == "noise":
            return torch.rand(content.shape).to(self.device) * 0.2 + 0.4
        return content.clone()

    def optimise_tiled(self, image: torch.Tensor, content: torch.Tensor, style_px: float,
                       temporal: list[tuple[torch.Tensor, torch.Tensor]], report: Callable, tile_px: int,
                       structure: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """One scale as overlapping tiles, in row order, all against the same style targets.

        Each tile starts from the image so far (the finished neighbours' pixels in its overlaps, the previous scale's
        elsewhere), is held to the finished pixels in its overlaps, and is blended in with linear ramps over them;
        the losses are the tiles' area-weighted mean.
        """
        groups, keep = self.job.groups, self.job.keep
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
            tile_groups = [StyleGroup(g.styles, g.blend, g.weight,
                                      None if m is None else np.ascontiguousarray(m[rows, cols]))
                           for g, m in zip(groups, masks)]
            tile_groups = [g for g in tile_groups if g.mask is None or g.mask.sum() > 0]
            tiles_report = lambda i, terms, current, n=number: report(i, terms, current, n, len(boxes))  # noqa: E731
            if tile_groups:
                tile_image, losses = self.optimise_pass(
                    canvas, content[..., rows, cols], tile_groups,
                    None if keep_here is None else np.ascontiguousarray(keep_here[rows, cols]), style_px,
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

    def optimise_pass(self, image: torch.Tensor, content: torch.Tensor, groups: list[StyleGroup],
                      keep: np.ndarray | None, style_px: float, temporal: list[tuple[torch.Tensor, torch.Tensor]],
                      report: Callable, anchor: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
                      structure: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Run one scale's (or tile's) optimization; returns the image and the last losses.

        `anchor` (a tile's finished overlap: pixels and mask) pulls those pixels toward what the neighbours made;
        `structure` (this scale's structure map) holds the content's colour steps across boundaries.
        """
        o, engine, device = self.job.objective, self.engine, self.device
        height, width = content.shape[-2:]
        raise_simulated_oom(self.oom_limit_px, height, width)
        with torch.no_grad():
            content_features = engine.features(content, o.content_layers)
            content_targets = {layer: content_features[layer].detach().float() for layer in o.content_layers}
        content_map = None
        if keep is not None:  # keep-original pixels are composited at the end; the optimizer ignores them
            content_map = torch.from_numpy(1.0 - keep).to(device)
        terms = []
        for group in groups:
            targets = [engine.style_targets(s, round(style_px), o.style_layers, o.style_loss) for s in group.styles]
            mixed = {layer: mix_statistics([t[layer] for t in targets], group.blend) for layer in o.style_layers}
            mask = None if group.mask is None else torch.from_numpy(group.mask).to(device)
            area = 1.0 if mask is None else float(resize_weight_map(mask, height, width).mean())
            terms.append(StyleTerm(mixed, mask, group.weight * area))
        temporal_at_scale = [(resize_image(target, height, width), resize_weight_map(mask, height, width)[None])
                             for target, mask in temporal]
        loss = PassLoss(o, content_targets, terms, content_map=content_map, temporal=temporal_at_scale, anchor=anchor,
                        content=content, structure=structure)
        image = image.detach().contiguous().clone().requires_grad_(True)

        def evaluate() -> list[torch.Tensor]:
            image.grad = None
            values = loss(image, engine.features(image, o.layers))
            values[0].backward()
            return [v.detach() for v in values]

        average, last = minimise(image, evaluate, o, device, lambda i, values: report(i, values, image.detach()))
        return (image.detach() if average is None else average).clamp(0, 1), last

"""The out-of-memory and degradation chain, with its memory model.

A job first runs on the engine's device with tiles sized by the memory model (engine/optimizer/tiling.py) for the budget; a
pass that still runs out of memory is retried with tiles half its size, down to the smallest tile; then the job
moves to the CPU (a GPU-like device only) and does the same there. Every retry resumes after the last finished
scale and is recorded in the job's notices. Whether the classic filter may stand in at the end is the caller's call.
"""

from __future__ import annotations

import gc
from typing import Callable, TypeVar

import torch

from ..runtime.device import describe_device
from ..runtime.errors import EngineError
from ..runtime.faults import simulated_oom_limit_px
from .lbfgs import LBFGS
from .losses import content_distance, style_statistics, total_variation
from .optimize import LBFGS_HISTORY, Engine, Job, Outcome, ScaleRunner
from .options import resolve_precision
from .tiling import GB, MIN_TILE_PX, MemoryModel, available_bytes, measure_saved_bytes_per_pixel, smaller_tile

Result = TypeVar("Result")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or the CPU allocator's RuntimeError."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class PassOutOfMemory(Exception):
    """One pass (a whole scale or a tile) with `pass_px` on its longest side did not fit in memory."""

    def __init__(self, pass_px: int, message: str):
        super().__init__(message)
        self.pass_px = pass_px


def release_memory(device: torch.device) -> None:
    """Give what a failed pass held back to the allocator."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def device_tiers(engine: Engine) -> list[tuple[Engine | None, int | None]]:
    """The engines a job may run on, in order, with each one's simulated out-of-memory limit (engine/runtime/faults.py);
    None stands for the CPU fallback, loaded when first needed."""
    tiers: list[tuple[Engine | None, int | None]] = [(engine, simulated_oom_limit_px())]
    if engine.device.type != "cpu" or tiers[0][1] is not None:
        tiers.append((None, simulated_oom_limit_px(cpu_fallback=True)))
    return tiers


def run_degrading(engine: Engine, job: Job) -> tuple[Engine, Outcome] | None:
    """Run on the engine's device, retrying out-of-memory passes with smaller tiles, then on the CPU; None if all
    failed. A retry resumes after the last finished scale. Each step is recorded in `job.notices`."""
    for tier, oom_limit_px in device_tiers(engine):
        if tier is None:
            tier = engine.cpu_fallback()
            job.notices.append("falling back to the CPU (much slower) with tiles sized for its memory")
        tile_px = job.options.tile_px
        while True:
            try:
                return tier, attempt(tier, job, tile_px, oom_limit_px, tier is engine)
            except PassOutOfMemory as exc:
                failed_px, reason = exc.pass_px, str(exc).splitlines()[0][:200]
            release_memory(tier.device)
            where = describe_device(tier.device)
            tile_px = smaller_tile(failed_px)
            if tile_px is None:
                job.notices.append(f"out of memory on {where} even with a {failed_px} px pass ({reason})")
                break
            job.notices.append(f"out of memory on {where} with a {failed_px} px pass ({reason}); retrying with "
                               f"{tile_px} px tiles")
    return None


def run_whole_degrading(engine: Engine, notices: list[str], pass_px: int,
                        run: Callable[[Engine, int | None], Result]) -> Result | None:
    """A job that cannot be tiled (a texture): `run(engine, oom_limit_px)` on the engine's device, then on the CPU
    if it ran out of memory; None if it did everywhere. `pass_px` (its longest side) is named in the notices."""
    for tier, oom_limit_px in device_tiers(engine):
        if tier is None:
            tier = engine.cpu_fallback()
            notices.append("falling back to the CPU (much slower)")
        try:
            return run(tier, oom_limit_px)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; everything else goes on up
            if not is_out_of_memory(exc):
                raise
            reason = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:200]
        release_memory(tier.device)
        notices.append(f"out of memory on {describe_device(tier.device)} with a {pass_px} px pass ({reason})")
    return None


def attempt(engine: Engine, job: Job, tile_px: int | None, oom_limit_px: int | None,
            own_budget: bool) -> Outcome:
    """The job's remaining scales on this engine's device; a pass that runs out of memory raises PassOutOfMemory."""
    options = job.options
    budget = options.memory_budget_gb * GB if (options.memory_budget_gb and own_budget) else \
        available_bytes(engine.device)

    def plan_tile(scale_h: int, scale_w: int) -> tuple[int | None, float]:
        model = memory_model(engine, job, scale_h, scale_w)
        tile = tile_for_scale(job, scale_h, scale_w, tile_px, budget, model)
        pass_h, pass_w = (scale_h, scale_w) if tile is None else (min(tile, scale_h), min(tile, scale_w))
        return tile, model.pass_bytes(pass_h, pass_w)

    def on_pass_failed(exc: BaseException, pass_px: int) -> None:
        if is_out_of_memory(exc):
            raise PassOutOfMemory(pass_px, f"{exc.__class__.__name__}: {exc}") from None

    with engine.running_at(resolve_precision(options.precision, engine.device)):
        return ScaleRunner(engine, job, oom_limit_px).run(plan_tile, on_pass_failed)


def memory_model(engine: Engine, job: Job, scale_h: int, scale_w: int) -> MemoryModel:
    """Bytes of one optimization pass of this job at one scale on this engine (see engine/optimizer/tiling.py)."""
    o = job.objective
    masked = tuple(g.mask is not None for g in job.groups)
    key = (tuple(o.content_layers), tuple(o.style_layers), o.style_loss, masked, engine.autocast_dtype)
    if key not in engine.saved_bytes:

        def forward(image):
            image = image.to(engine.device)
            features = engine.features(image, o.layers)
            for layer in o.style_layers:
                for is_masked in masked:
                    mask = torch.ones(features[layer].shape[-2:], device=engine.device) if is_masked else None
                    style_statistics(o.style_loss, features[layer], mask)
            for layer in o.content_layers:
                content_distance(features[layer], features[layer].detach())
            total_variation(image)

        constants = {t.untyped_storage().data_ptr() for t in [*engine.model.parameters(), *engine.model.buffers()]}
        engine.saved_bytes[key] = measure_saved_bytes_per_pixel(forward, constants)
    saved, largest = engine.saved_bytes[key]
    state = (LBFGS.state_bytes_per_element(min(LBFGS_HISTORY, o.iterations)) if o.optimizer == "lbfgs"
             else 4 * 5)  # Adam: moments, average, gradient, image
    per_pixel = saved + 2 * largest + 3 * state + 3 * 4 * (4 + 2 * len(job.temporal_targets))
    weights = sum(p.numel() * p.element_size() for p in engine.model.parameters())
    canvas = 4 * (16 + len(job.groups) + 4 * len(job.temporal_targets)) * scale_h * scale_w
    return MemoryModel(weights + canvas, per_pixel)


def tile_for_scale(job: Job, scale_h: int, scale_w: int, tile_px: int | None, budget_bytes: float,
                   model: MemoryModel) -> int | None:
    """The tile side for one scale, or None to run it whole: the smaller of the forced and the budget's tile."""
    forced = tile_px if tile_px is not None and max(scale_h, scale_w) > tile_px else None
    from_budget = model.tile_for(scale_h, scale_w, budget_bytes)
    if from_budget is not None and from_budget < MIN_TILE_PX:
        budget_gb = job.options.memory_budget_gb
        if budget_gb is not None:
            raise EngineError(f"a memory budget of {budget_gb:g} GB is too small for this job: "
                              f"{MIN_TILE_PX} px tiles need about {model.pass_bytes(MIN_TILE_PX, MIN_TILE_PX) / GB:.2f}"
                              " GB; give a larger --memory-budget")
        from_budget = MIN_TILE_PX  # little free memory: try the smallest tiles, and degrade if even those fail
    chosen = [t for t in (forced, from_budget) if t is not None]
    return min(chosen) if chosen else None

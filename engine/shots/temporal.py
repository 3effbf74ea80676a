"""Flicker-free sequences: each frame is optimized toward earlier stylized frames warped onto it.

Motion comes from the render's Vector pass (or estimated optical flow), per-object regions from each frame's
Object Index. Earlier results are always read back from the files written, so an interrupted run that is
resumed produces exactly the frames an uninterrupted run would have.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..imageio.images import read_content, read_rgb, read_settings, write_image
from ..imageio.passes import RenderPasses, read_passes
from ..imageio.tensors import fit_longest_side
from ..optimizer.masks import Region
from ..optimizer.options import COLD_ITERATIONS
from ..optimizer.results import Progress
from ..runtime.cache import USER_CACHE
from ..runtime.errors import EngineError
from ..shapes.structure import PASSES_NEEDED, read_structure_passes, structure_map
from ..stylize import StyleTransfer
from .flow import (
    Motion,
    backward_from_vectors,
    estimated_motion,
    forward_from_vectors,
    motion_from_passes,
    reliability,
    warp,
)

FLOW_SOURCES = ("auto", "vectors", "estimated")


class PassesCache(OrderedDict):
    """Render passes by file, each read once; only the `size` most recently used stay in memory, so memory is flat
    however long the shot (a step needs its frame, the earlier frames it is held to and, in multi-pass, the next)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __missing__(self, path: Path) -> RenderPasses:
        self[path] = read_passes(path)
        return super().__getitem__(path)

    def __getitem__(self, path: Path) -> RenderPasses:
        passes = super().__getitem__(path)
        self.move_to_end(path)
        return passes

    def __setitem__(self, path: Path, passes: RenderPasses) -> None:
        super().__setitem__(path, passes)
        while len(self) > self.size:
            self.popitem(last=False)


@dataclass
class SequenceFrame:
    """One frame: the picture to stylize (display sRGB), its render passes (optional), and where to write it."""

    content: Path
    output: Path
    passes: Path | None = None
    index: int | None = None  # position in the whole shot (seeds follow it); default: position in this sequence
    context: bool = False  # stylized earlier (e.g. by the previous farm chunk): read as history, never written


@dataclass
class SequenceSettings:
    """How a sequence is stylized; the per-image settings go to `StyleTransfer.stylize` unchanged."""

    temporal: bool = True
    temporal_weight: float = 50.0
    later_iterations: int | None = None  # iterations for frames after the first (default: half)
    long_term_frames: int = 2  # earlier frames each frame is held to (1 = only the previous one)
    multipass: bool = False  # an extra backward pass that also pulls each frame toward the next
    flow: str = "auto"  # vectors when the passes have them, else estimated
    overwrite: bool = False
    model: str | None = None  # a fast-stylization model instead of optimization
    fast_blend: float = 0.6  # fast mode: share of the warped previous frame kept where it is reliable
    structure: float = 0.0  # keep shapes legible (engine/shapes/structure.py), from each frame's passes; 0 = off
    region_structure: dict[int, float] | None = None  # per Object Index: its own structure
    stylize_options: dict = field(default_factory=dict)
    style_files: tuple[str, ...] = ()  # the styles' paths, recorded in every frame's settings (not read here)


# The options that shape the picture: every frame records them, and a resume refuses to mix frames made with others
# (iterations, seed, device, precision and tiling refine or place the work; they do not change what is painted).
SHAPING_OPTIONS = ("size_px", "style_blend", "style_weight", "content_weight", "tv_weight", "style_layer_weights",
                   "style_strength", "preserve_color", "style_loss", "style_scale", "style_layers", "content_layers")


def shaping_settings(settings: SequenceSettings) -> dict:
    """What shapes every frame of this run: styles, method and the picture-shaping options, as JSON values."""
    options = settings.stylize_options
    shaping = {"styles": [str(path) for path in settings.style_files],
               "method": f"model {settings.model}" if settings.model else "optimize",
               "structure": settings.structure}
    for key in SHAPING_OPTIONS:
        value = options.get(key)
        shaping[key] = list(value) if isinstance(value, (tuple, list)) else value
    return shaping


def check_frames(frames: Sequence[SequenceFrame], settings: SequenceSettings) -> tuple[int, int]:
    """Before any frame is written: every frame (and its passes) reads and has the first frame's size, and every
    frame kept from an earlier run was made with this run's picture-shaping settings; the frames' (height, width)."""
    shape = None
    first = None
    for frame in frames:
        rgb = read_content(frame.content, "frame").rgb
        if shape is None:
            shape, first = rgb.shape[:2], frame.content
        elif rgb.shape[:2] != shape:
            raise EngineError(f"frame {frame.content} is {rgb.shape[1]}x{rgb.shape[0]} px but the first frame "
                              f"{first} is {shape[1]}x{shape[0]} px; every frame of a sequence must have one size "
                              "(nothing was written)")
        del rgb
        if frame.passes is not None:
            passes = read_passes(frame.passes)
            if passes.shape != shape:
                raise EngineError(f"the passes in {frame.passes} are {passes.shape[1]}x{passes.shape[0]} px but the "
                                  f"frame {frame.content} is {shape[1]}x{shape[0]} px; give the passes of the same "
                                  "render (nothing was written)")
    wanted = shaping_settings(settings)
    for frame in frames:
        if settings.overwrite and not frame.context or not frame.output.exists():
            continue
        try:
            recorded = (read_settings(frame.output) or {}).get("shaping")
        except Exception:  # noqa: BLE001 - an unreadable record is no record; the frame is read (and checked) later
            recorded = None
        if not isinstance(recorded, dict):
            continue  # not a frame of ours with a record: kept as before
        for key in sorted(set(wanted) | set(recorded)):
            if recorded.get(key) != wanted.get(key):
                raise EngineError(f"{frame.output} was stylized with {key} {_shown(recorded.get(key))}, this run "
                                  f"asks for {_shown(wanted.get(key))}; resume with the same settings, or give "
                                  "--overwrite to redo the frames (nothing was written)")
    assert shape is not None
    return shape


def _shown(value) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 200 else text[:200] + "..."


@dataclass
class SequenceProgress:
    """Where a sequence job is: which frame, and that frame's optimizer progress."""

    frame: int  # 0-based position in the sequence
    frames: int
    step: Progress | None
    message: str


@dataclass
class SequenceReport:
    written: list[Path]
    skipped: list[Path]
    flow_sources: list[str]
    elapsed_s: float


def frame_motion(frame: SequenceFrame, previous: SequenceFrame, rgb: np.ndarray, previous_rgb: np.ndarray,
                 flow: str, passes_cache: dict) -> Motion:
    """How `frame` maps onto `previous`: the render's vectors where there are some (or asked for), else estimated."""
    def passes(item: SequenceFrame) -> RenderPasses | None:
        if item.passes is None:
            return None
        if item.passes not in passes_cache:
            passes_cache[item.passes] = read_passes(item.passes)
        return passes_cache[item.passes]

    current, before = passes(frame), passes(previous)
    has_vectors = current is not None and current.vector is not None
    if flow == "vectors" or (flow == "auto" and has_vectors):
        if current is None:
            raise EngineError(f"frame {frame.content} has no render passes file; give --passes, or use --flow "
                              "estimated")
        if before is None:
            raise EngineError(f"frame {previous.content} has no render passes file; give --passes for every frame")
        if current.shape != before.shape:
            raise EngineError(f"{frame.passes} is {current.shape[1]}x{current.shape[0]} px but {previous.passes} is "
                              f"{before.shape[1]}x{before.shape[0]} px; render every frame at one size")
        return motion_from_passes(current, before)
    return estimated_motion(rgb, previous_rgb)


def _regions_for_frame(passes: RenderPasses | None, regions: dict[int, Region] | None, frame: SequenceFrame
                       ) -> tuple[np.ndarray | None, dict[int, Region] | None]:
    """This frame's label map (Object Index) and the region settings of the objects visible in it."""
    if not regions:
        return None, None
    if passes is None or passes.object_index is None:
        raise EngineError(f"per-object styles need the Object Index pass, and {frame.passes or frame.content} has "
                          "none; enable View Layer > Passes > Object Index")
    present = set(np.unique(passes.object_index).tolist())
    return passes.label_map(), {i: r for i, r in regions.items() if i in present} or None


def stylize_sequence(engine: StyleTransfer, frames: Sequence[SequenceFrame], styles: Sequence[np.ndarray],
                     settings: SequenceSettings, regions: dict[int, Region] | None = None,
                     callback: Callable[[SequenceProgress], None] | None = None) -> SequenceReport:
    """Stylize `frames` in order; frames whose output exists are kept (resume) unless `overwrite` is set.

    With `settings.model`, frames go through that fast network instead of the optimizer (`engine` may then be
    None, the `regions` name models), and temporal consistency blends each frame with the previous result
    warped onto it, where that is reliable.
    """
    if settings.flow not in FLOW_SOURCES:
        raise EngineError(f"unknown flow source '{settings.flow}'; use one of {', '.join(FLOW_SOURCES)}")
    if not frames or all(frame.context for frame in frames):
        raise EngineError("the sequence has no frames to stylize; check the frame pattern, folder or chunk")
    if settings.multipass and any(frame.context for frame in frames):
        raise EngineError("multi-pass refines the whole shot at once; run it on one machine, not in chunks")
    started = time.perf_counter()
    options = dict(settings.stylize_options)
    iterations = options.pop("iterations", None)  # None: the first frame's default (a warm start)
    later_iterations = settings.later_iterations or max(1, (iterations or COLD_ITERATIONS) // 2)
    seed = options.pop("seed", 0)
    fast_device = options.pop("device", "auto")  # the optimizer's device is its engine's
    size_px = options.get("size_px") or 512
    written, skipped, sources = [], [], []
    passes_cache = PassesCache(settings.long_term_frames + 2)
    history = sum(frame.context for frame in frames)  # context frames come first
    shape = check_frames(frames, settings)  # every frame's size and record, before any is written
    shaping = shaping_settings(settings)
    for position, frame in enumerate(frames):
        if frame.context:
            continue
        index = position if frame.index is None else frame.index
        picture = read_content(frame.content, "frame")  # transparent renders: colour filled, alpha put back
        rgb = picture.rgb
        if frame.output.exists() and not settings.overwrite:
            skipped.append(frame.output)
            continue

        def report(step, done=position - history, total=len(frames) - history):
            if callback is not None:
                callback(SequenceProgress(done, total, step, f"frame {done + 1}/{total}"))

        passes = None
        if frame.passes is not None:
            passes = passes_cache[frame.passes]
        label_map, frame_regions = _regions_for_frame(passes, regions, frame)
        height, width = fit_longest_side(*shape, size_px)
        frame_options = dict(options, seed=seed + index, label_map=label_map, regions=frame_regions,
                             coverage=picture.coverage)
        if not settings.model:
            frame_options["structure_map"] = _structure_for_frame(frame, settings, shape)
        if settings.model:
            result = _fast_frame(frames, position, rgb, settings, dict(frame_options, device=fast_device),
                                 passes_cache, styles)
            sources.append(result.settings["flow"])
            report(None)
        elif not settings.temporal or position == 0:
            result = engine.stylize(rgb, styles, iterations=iterations, callback=report, **frame_options)
            sources.append("none")
        else:
            targets, init, source = _temporal_targets(frames, position, rgb, (height, width), settings, passes_cache)
            sources.append(source)
            frame_options.update(scales=1, init=init, temporal_targets=targets,
                                 temporal_weight=settings.temporal_weight)
            result = engine.stylize(rgb, styles, iterations=later_iterations, callback=report, **frame_options)
        settings_record = dict(result.settings, frame=index, content=str(frame.content), temporal=settings.temporal,
                               flow=sources[-1], styles=shaping["styles"], shaping=shaping)
        image, alpha = picture.finish(result.image)
        write_image(frame.output, image, settings_record, alpha=alpha)
        written.append(frame.output)
    if settings.multipass and settings.temporal and not settings.model and len(frames) > 1:
        _backward_pass(engine, frames, styles, settings, regions, iterations=later_iterations, seed=seed,
                       passes_cache=passes_cache, report=callback)
    return SequenceReport(written, skipped, sources, time.perf_counter() - started)


def _structure_for_frame(frame: SequenceFrame, settings: SequenceSettings, shape) -> np.ndarray | None:
    """The structure term's map for one frame from its passes; None when structure is off."""
    if settings.structure == 0 and not any((settings.region_structure or {}).values()):
        return None
    if frame.passes is None:
        raise EngineError(f"--structure needs the render's passes and frame {frame.content} has none; give --passes "
                          f"(one EXR per frame), {PASSES_NEEDED}")
    return structure_map(read_structure_passes(frame.passes, shape), settings.structure, settings.region_structure)


def _fast_frame(frames, position, rgb, settings, options, passes_cache, styles):
    """One frame through the fast network (model "any": the any-style network with `styles`), blended with the
    warped previous result where that is reliable."""
    if settings.model == "any":
        from ..anystyle import get_any_stylizer

        if not styles:
            raise EngineError("--model any paints with any painting: give it as --style PATH (repeat to blend)")
        result = get_any_stylizer(options.get("device", "auto"), options.get("cache_dir", USER_CACHE)).stylize(
            rgb, list(styles), style_weights=options.get("style_blend"), strength=options.get("style_strength", 1.0),
            preserve_color=options.get("preserve_color", "none"), mask=options.get("label_map"),
            regions=options.get("regions"), size_px=options.get("size_px"))
    else:
        from ..fast.stylize_fast import stylize_fast  # the fast path is optional for the optimizer's users

        result = stylize_fast(rgb, settings.model, size_px=options.get("size_px"),
                              style_strength=options.get("style_strength", 1.0),
                              preserve_color=options.get("preserve_color", "none"),
                              label_map=options.get("label_map"), regions=options.get("regions"),
                              device=options.get("device", "auto"))
    source = "none"
    if settings.temporal and position > 0:
        one_back = SequenceSettings(long_term_frames=1, flow=settings.flow)
        targets, _, source = _temporal_targets(frames, position, rgb, result.image.shape[:2], one_back, passes_cache)
        warped, reliable = targets[0]
        result.image = result.image + settings.fast_blend * reliable[..., None] * (warped - result.image)
    result.settings.update(flow=source, fast_blend=settings.fast_blend if settings.temporal else 0.0)
    return result


def _temporal_targets(frames, position, rgb, size, settings, passes_cache):
    """Earlier outputs warped onto this frame, each with the pixels where only it is reliable (Ruder et al.)."""
    height, width = size
    motions: list[Motion] = []  # motions[k]: frame position-k onto position-k-1
    warped_targets = []
    covered = np.zeros((height, width), np.float32)
    init = None
    for back in range(1, min(settings.long_term_frames, position) + 1):
        earlier = frames[position - back]
        later = frames[position - back + 1]
        later_rgb = rgb if back == 1 else read_rgb(later.content, "frame")
        motion = frame_motion(later, earlier, later_rgb, read_rgb(earlier.content, "frame"), settings.flow,
                               passes_cache).resized(height, width)
        motions.append(motion)
        result = read_content(earlier.output, "earlier stylized frame").rgb
        if result.shape[:2] != (height, width):
            raise EngineError(f"{earlier.output} is {result.shape[1]}x{result.shape[0]} px, not {width}x{height}; "
                              "resume with the same size setting, or overwrite")
        reliable = np.ones((height, width), np.float32)
        for motion in reversed(motions):  # chain: earlier frame -> ... -> this frame
            result = np.clip(warp(result, motion.flow, mode="bicubic"), 0, 1)  # bicubic: less blur frame to frame
            reliable = warp(reliable, motion.flow) * motion.reliable
        if back == 1:  # start from the warped previous result (Ruder et al.): even where unreliable it carries the
            # style's texture, except where another object was there before (a disocclusion): there, the content
            same = motion.reliable if motion.same_object is None else np.maximum(motion.reliable, motion.same_object)
            init = same[..., None] * result + (1 - same[..., None]) * _at_size(rgb, height, width)
        only_here = np.clip(reliable - covered, 0, 1)
        covered = np.maximum(covered, reliable)
        warped_targets.append((result, only_here))
    return warped_targets, init, motions[0].source


def _at_size(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.clip(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA), 0, 1)


def _backward_pass(engine, frames, styles, settings, regions, iterations, seed, passes_cache, report):
    """Multi-pass refinement: from the last frame back to the first, each frame is pulled toward both
    neighbours' results (warped onto it) and restarts from its own result blended with the next one's."""
    options = dict(settings.stylize_options)
    for key in ("iterations", "seed", "device"):
        options.pop(key, None)
    for position in range(len(frames) - 2, -1, -1):
        frame, following = frames[position], frames[position + 1]
        picture = read_content(frame.content, "frame")
        rgb = picture.rgb
        following_rgb = read_rgb(following.content, "frame")
        current = read_content(frame.output, "stylized frame").rgb
        height, width = current.shape[:2]
        motion = _forward_motion(frame, following, rgb, following_rgb, settings.flow, passes_cache).resized(
            height, width)
        following_result = np.clip(warp(read_content(following.output, "stylized frame").rgb, motion.flow,
                                        mode="bicubic"), 0, 1)
        targets = [(following_result, motion.reliable)]
        if position > 0:
            targets += _temporal_targets(frames, position, rgb, (height, width),
                                         SequenceSettings(long_term_frames=1, flow=settings.flow), passes_cache)[0]
        blend = 0.5 * motion.reliable[..., None]
        init = (1 - blend) * current + blend * following_result
        passes = passes_cache[frame.passes] if frame.passes else None
        label_map, frame_regions = _regions_for_frame(passes, regions, frame)
        index = position if frame.index is None else frame.index
        result = engine.stylize(rgb, styles, **dict(options, iterations=iterations, seed=seed + index, scales=1,
                                                    init=init, temporal_targets=targets,
                                                    temporal_weight=settings.temporal_weight, label_map=label_map,
                                                    regions=frame_regions, coverage=picture.coverage,
                                                    structure_map=_structure_for_frame(frame, settings, rgb.shape[:2])))
        image, alpha = picture.finish(result.image)
        shaping = shaping_settings(settings)
        write_image(frame.output, image, dict(result.settings, frame=index, multipass=True, styles=shaping["styles"],
                                              shaping=shaping), alpha=alpha)
        if report is not None:
            report(SequenceProgress(position, len(frames), None, f"backward pass, frame {position + 1}"))


def _forward_motion(frame, following, rgb, following_rgb, flow, passes_cache) -> Motion:
    """How `frame` maps onto `following` (the next frame), from the vectors' forward half or estimated flow."""
    current = passes_cache[frame.passes] if frame.passes else None
    after = passes_cache[following.passes] if following.passes else None
    if flow != "estimated" and current is not None and current.vector is not None and after is not None \
            and after.vector is not None:
        forward = forward_from_vectors(current.vector)
        mask = reliability(forward, backward_from_vectors(after.vector), current.object_index, after.object_index,
                           current.depth, after.depth)
        return Motion(forward, mask, "render vectors")
    return estimated_motion(rgb, following_rgb)

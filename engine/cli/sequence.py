"""`python -m engine sequence` (an animation, flicker-free, whole or as one render-farm chunk) and `join` (the
overlap chunks crossfaded into the final frames).
"""

from __future__ import annotations

import sys
from pathlib import Path

from protocol import CHUNKINGS
from protocol.numbers import FRACTION, ITERATIONS, WEIGHT, whole

from ..optimizer.region_settings import command_line_regions
from ..runtime.cache import chosen_cache_dir
from ..runtime.errors import EngineError
from .shared import add_optimizer_options, frame_files, optimizer_options, progress_bar, style_transfer, warn


def paired_passes(frames: list[Path], passes_spec: str | None) -> list[Path | None]:
    if passes_spec is None:
        return [f if f.suffix.lower() == ".exr" else None for f in frames]
    passes = frame_files(passes_spec, "render passes", exr_only=True)
    if len(passes) != len(frames):
        raise EngineError(f"{len(frames)} frames but {len(passes)} passes files; give one passes EXR per frame")
    return list(passes)


def add_sequence_parser(subparsers) -> None:
    from ..optimizer.options import COLD_ITERATIONS, INITS, option_defaults
    from ..shots.chunks import Chunk
    from ..shots.temporal import FLOW_SOURCES, SequenceSettings

    sequence, chunk = option_defaults(SequenceSettings), option_defaults(Chunk)
    p = subparsers.add_parser("sequence", help="stylize an animation, flicker-free (motion vectors or optical flow)",
                              description="Stylize a frame sequence; each frame is held to the earlier ones, warped "
                                          "by the render's motion vectors (or estimated optical flow).")
    p.add_argument("--frames", required=True, help="folder or pattern of frames (PNG as seen, or multilayer EXR)")
    p.add_argument("--passes", help="folder or pattern of Blender multilayer EXRs (Vector, Depth, Object Index), one "
                                    "per frame; default: the frames themselves when they are EXRs")
    p.add_argument("--output-dir", required=True, help="folder for the stylized frames (PNG, same names)")
    p.add_argument("--no-temporal", action="store_true", help="stylize each frame on its own")
    p.add_argument("--temporal-weight", type=WEIGHT, default=sequence["temporal_weight"],
                   help=f"pull toward earlier frames (default {sequence['temporal_weight']:g})")
    p.add_argument("--init", choices=INITS, default=option_defaults()["init"],
                   help="where the first frame starts: 'content' (default), 'noise' or 'any' (the any-style "
                        "result); later frames start from the warped previous frame")
    p.add_argument("--later-iterations", type=ITERATIONS, default=sequence["later_iterations"],
                   help="iterations of frames after the first, which start from the warped previous frame "
                        f"(default: half of --iterations, or {COLD_ITERATIONS // 2})")
    p.add_argument("--long-term", type=whole(0, 1000), default=sequence["long_term_frames"], metavar="N",
                   help="earlier frames each frame is held to")
    p.add_argument("--multipass", action="store_true", help="add a backward pass over the sequence")
    p.add_argument("--flow", choices=FLOW_SOURCES, default=sequence["flow"],
                   help="motion from the Vector pass, or estimated with OpenCV DIS (auto: vectors when present)")
    p.add_argument("--overwrite", action="store_true", help="redo frames whose output exists (default: resume)")
    p.add_argument("--model", help="fast stylization with this model (name or .safetensors) instead of --style; "
                                   "--region-style then takes ID=MODEL|keep; 'any': any --style painting, "
                                   "--region-style ID=PATH|keep")
    p.add_argument("--fast-blend", type=FRACTION, default=sequence["fast_blend"],
                   help=f"with --model: share of the warped previous frame kept where reliable "
                        f"(default {sequence['fast_blend']:g})")
    farm = p.add_argument_group("render-farm chunks", "stylize part of the shot; frames are numbered by the digits "
                                                      "ending their names")
    farm.add_argument("--chunk", metavar="A-B", help="only frames A to B of the shot in --frames")
    farm.add_argument("--chunking", choices=CHUNKINGS, default=chunk["chunking"],
                      help="strict: continue the previous chunk's results (identical to one run; chunks in order); "
                           "overlap: start --warmup frames early into OUTPUT/chunks/A-B/, then 'join' (chunks in "
                           "parallel); anchors: independent chunks of a per-shot --model (from --warmup frames before, "
                           "for the blend)")
    farm.add_argument("--warmup", type=whole(0, 100_000), default=chunk["warmup"], metavar="W",
                      help=f"overlap and anchors: frames run before the chunk (default {chunk['warmup']})")
    farm.add_argument("--resume-from", metavar="DIR",
                      help="strict: folder with the previous chunk's results, when not in --output-dir")
    add_optimizer_options(p)
    p.set_defaults(run=run_sequence)


def run_sequence(args) -> int:
    from ..imageio.images import read_rgb
    from ..shapes.structure import PASSES_NEEDED
    from ..shots.temporal import SequenceFrame, SequenceSettings, stylize_sequence

    if not args.style and not args.model:
        raise EngineError("give at least one --style (optimization) or a --model (fast stylization)")
    frames = frame_files(args.frames, "frames")
    output_dir = Path(args.output_dir)
    if not output_dir.is_dir():
        raise EngineError(f"output folder {output_dir} does not exist; create it first")
    items = [SequenceFrame(f, output_dir / f"{f.stem}.png", passes)
             for f, passes in zip(frames, paired_passes(frames, args.passes))]
    if args.chunk:
        items = chunk_items(args, items, output_dir)
    styles = [read_rgb(path, "style image") for path in args.style or []]
    options = dict(optimizer_options(args), device=args.device)
    if not args.model:
        options["init"] = args.init
    if args.model:
        options["size_px"] = args.size  # fast models run at the frames' own size unless asked
        options["cache_dir"] = chosen_cache_dir(args.cache_dir, args.no_cache)  # model any: style vectors
    settings = SequenceSettings(temporal=not args.no_temporal, temporal_weight=args.temporal_weight,
                                later_iterations=args.later_iterations, long_term_frames=args.long_term,
                                multipass=args.multipass, flow=args.flow, overwrite=args.overwrite,
                                model=args.model, fast_blend=args.fast_blend, structure=args.structure,
                                stylize_options=options,
                                style_files=tuple(str(Path(path).resolve()) for path in args.style or []))
    if args.model and args.structure:
        raise EngineError("--structure works with optimization (--style), not with --model; drop one of them")
    if args.structure and not all(item.passes for item in items):
        raise EngineError(f"--structure needs the render's passes: give --passes (one EXR per frame), {PASSES_NEEDED}")
    bar = progress_bar(args)

    warned: set[str] = set()

    def on_progress(progress):
        if progress.step is not None:
            warn([n for n in progress.step.notices if n not in warned], bar)
            warned.update(progress.step.notices)
        if bar is not None:
            done = progress.frame + (progress.step.fraction_done if progress.step else 1.0)
            bar.set_description(progress.message)
            bar.update(round(1000 * done / progress.frames) - bar.n)

    try:
        engine = None if args.model else style_transfer(args)
        regions = command_line_regions(args.region_style, args.region_strength, args.model)
        report = stylize_sequence(engine, items, styles, settings, regions or None, callback=on_progress)
    finally:
        if bar is not None:
            bar.close()
    if args.chunk and args.chunking == "strict" and not args.quiet:
        from ..shots.chunks import mixed_kernels

        mixed = mixed_kernels(item.output for item in items)  # this chunk and the results it continued
        if mixed:
            print(f"warning: {mixed}", file=sys.stderr)
    estimated = sum(source.startswith("estimated") for source in report.flow_sources)
    if estimated and not args.quiet:
        print(f"warning: no motion vectors for {estimated} frame(s); used estimated optical flow", file=sys.stderr)
    print(f"wrote {len(report.written)} frame(s) to {output_dir}, kept {len(report.skipped)} existing, "
          f"{report.elapsed_s:.1f} s")
    return 0


def chunk_items(args, items, output_dir: Path):
    """The part of the shot one farm chunk stylizes (see engine.shots.chunks)."""
    from ..shots.chunks import Chunk, ShotFrame, chunk_frames, frame_number, parse_range

    if args.chunking == "anchors" and not args.model:
        raise EngineError("--chunking anchors runs a per-shot model on every chunk; give --model (train one with "
                          "'python -m engine train --keyframes N')")
    first, last = parse_range(args.chunk)
    chunk = Chunk(first, last, args.chunking, args.warmup, Path(args.resume_from) if args.resume_from else None)
    shot = [ShotFrame(frame_number(item.content), item.content, item.passes) for item in items]
    return chunk_frames(shot, chunk, output_dir, args.long_term)


def add_join_parser(subparsers) -> None:
    p = subparsers.add_parser("join", help="crossfade overlap chunks into the final frames",
                              description="Write OUTPUT_DIR/NAME.png for every frame of OUTPUT_DIR/chunks/A-B/ "
                                          "(from 'sequence --chunking overlap'), crossfading each chunk's warm-up "
                                          "frames into the previous chunk's last frames.")
    p.add_argument("--output-dir", required=True, help="the --output-dir the overlap chunks were given")
    p.add_argument("--overwrite", action="store_true", help="write frames that exist again")
    p.set_defaults(run=run_join)


def run_join(args) -> int:
    from ..shots.chunks import join_overlaps

    written, kept = join_overlaps(Path(args.output_dir), overwrite=args.overwrite)
    print(f"wrote {len(written)} frame(s) to {args.output_dir}, kept {len(kept)} existing")
    return 0



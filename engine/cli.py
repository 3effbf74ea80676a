"""The `python -m engine` command line: subcommands, progress bars, and one-line errors.

Every bad input exits with status 2 and a message naming the problem; no output is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol import CHUNKINGS, PRESERVE_COLORS, OverwritesInput
from protocol.numbers import FRACTION, ITERATIONS, PIXELS, SCALES, SEED, WEIGHT, number, whole

from . import __version__
from .errors import Cancelled, EngineError
from .fast.commands import add_models_parser, add_train_parser
from .sheet import add_sheet_parser

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes in one line (plus the usage hint) with our exit status."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see '{self.prog} --help')\n")


def _region_pairs(values, option: str) -> dict[int, str]:
    pairs = {}
    for value in values or []:
        region, sep, setting = value.partition("=")
        if not sep or not region.strip().lstrip("-").isdigit() or not setting:
            raise EngineError(f"{option} '{value}' is not ID=VALUE (for example {option} 2=keep)")
        pairs[int(region)] = setting
    return pairs


def _add_optimizer_options(p) -> None:
    """Options shared by every optimization command (one image or a sequence)."""
    p.add_argument("--style", action="append", help="style image; repeat to blend styles")
    p.add_argument("--style-weights", type=WEIGHT, nargs="+", metavar="W", help="blend weight per --style")
    p.add_argument("--size", type=PIXELS, default=None,
                   help="longest side of the output in pixels, 16 or more (default 512)")
    p.add_argument("--iterations", type=ITERATIONS, default=300, help="optimizer iterations per scale (default 300)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--scales", type=SCALES, default=None,
                   help="coarse-to-fine scales, 1-16; 1 = single scale (default: auto)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--strength", type=FRACTION, default=1.0, help="style strength in [0, 1] (default 1)")
    p.add_argument("--preserve-color", choices=PRESERVE_COLORS, default="none")
    p.add_argument("--region-style", action="append", metavar="ID=PATH|keep",
                   help="style image for one region (object index), or 'keep' to leave it unchanged")
    p.add_argument("--region-strength", action="append", metavar="ID=S", help="style strength for one region")
    p.add_argument("--weights", default="caffe",
                   help="loss network: 'caffe' (original VGG-19, offline), 'torchvision', or a weights file")
    p.add_argument("--pooling", choices=("max", "avg"), default="max")
    p.add_argument("--style-loss", choices=("gram", "mean_cov"), default="gram")
    p.add_argument("--content-weight", type=WEIGHT, default=1.0)
    p.add_argument("--style-weight", type=WEIGHT, default=30.0, help="style loss weight (default 30)")
    p.add_argument("--tv-weight", type=WEIGHT, default=10.0, help="total variation (smoothness) weight")
    p.add_argument("--content-layers", nargs="+", metavar="LAYER")
    p.add_argument("--style-layers", nargs="+", metavar="LAYER")
    p.add_argument("--style-layer-weights", type=WEIGHT, nargs="+", metavar="W",
                   help="weight per style layer: more on relu1_1/relu2_1 gives fine strokes, relu4_1/relu5_1 coarse")
    p.add_argument("--style-scale", type=number(above=0.0, maximum=64.0), default=1.0,
                   help="size of the style relative to the output (above 0, up to 64)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="loss network arithmetic (default auto = fp32; bf16 is faster but moves single results "
                        "more than fp32's own noise, see scripts/precision_check.py)")
    p.add_argument("--memory-budget", type=number(above=0.0), default=None, metavar="GB",
                   help="memory the job may use on its device; larger scales run as tiles to stay under it "
                        "(default: most of the free GPU memory or RAM)")
    p.add_argument("--fallback", choices=("none", "classic"), default="none",
                   help="when even the CPU runs out of memory: 'classic' writes a colour-transfer and "
                        "edge-preserving filter instead of failing (default none)")
    p.add_argument("--structure", type=FRACTION, default=0.0, metavar="S",
                   help="keep shapes legible, 0-1: hold the colour steps across the render's object, depth and "
                        "normal boundaries (needs the render's passes; default 0, off; the add-on uses 0.5)")
    p.add_argument("--cache-dir", default="default", help="style-target cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the style-target cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_stylize(subparsers) -> None:
    p = subparsers.add_parser("stylize", help="stylize one image by optimization (or with a fast model)",
                              description="Stylize an image with one or more paintings (Gatys-style optimization).")
    p.add_argument("--content", required=True, help="content image (PNG, JPEG, TIFF, EXR)")
    p.add_argument("--output", required=True, help="output image (.png, .jpg, .tif or .exr)")
    p.add_argument("--model", help="fast stylization instead: a model name (see 'python -m engine models') or a "
                                   ".safetensors file; --size, --strength, --preserve-color and --mask apply. "
                                   "'any': any painting given as --style (blends, regions too), no training")
    p.add_argument("--tile", type=PIXELS, default=None, metavar="PX",
                   help="tile images larger than PX on a side: with --model the passes of the network (default "
                        "2048 on the CPU, 4096 on a GPU); by optimization the scales (default: from --memory-budget)")
    p.add_argument("--mask", help="label map: region ids per pixel (PNG/EXR) or soft masks (.npy, R x H x W)")
    p.add_argument("--passes", metavar="FRAME.exr",
                   help="the render's multilayer EXR (Depth; Object Index and Normal help), for --structure")
    p.add_argument("--init", default="content", help="start from 'content', 'noise' or an image path")
    p.add_argument("--save-every", type=whole(0), default=0, metavar="N",
                   help="also save the image every N iterations as OUTPUT_STEM.sSCALE-iITER.png")
    _add_optimizer_options(p)
    p.set_defaults(run=_run_stylize)


def _optimizer_options(args) -> dict:
    """Keyword arguments of `StyleTransfer.stylize` from the shared options."""
    from .stylize import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
    from .vgg import check_layers

    content_layers = args.content_layers or list(DEFAULT_CONTENT_LAYERS)
    style_layers = args.style_layers or list(DEFAULT_STYLE_LAYERS)
    check_layers(content_layers + style_layers)
    return dict(style_blend=args.style_weights, size_px=args.size or 512, iterations=args.iterations,
                scales=args.scales, optimizer=args.optimizer, seed=args.seed, style_strength=args.strength,
                preserve_color=args.preserve_color, content_weight=args.content_weight, tv_weight=args.tv_weight,
                content_layers=content_layers, style_layers=style_layers,
                style_layer_weights=args.style_layer_weights, style_loss=args.style_loss,
                style_weight=args.style_weight, style_scale=args.style_scale, precision=args.precision,
                tile_px=getattr(args, "tile", None), memory_budget_gb=args.memory_budget,
                allow_classic_fallback=args.fallback == "classic")


def _region_strengths(args) -> dict[int, float]:
    strengths = {}
    for region, value in _region_pairs(args.region_strength, "--region-strength").items():
        try:
            strengths[region] = float(value)
        except ValueError:
            raise EngineError(f"--region-strength {region}={value}: the strength must be a number") from None
    return strengths


def _region_settings(args) -> dict:
    """RegionStyle per region id from --region-style and --region-strength."""
    from .imageio import read_rgb
    from .masks import RegionStyle

    regions = {}
    for region, setting in _region_pairs(args.region_style, "--region-style").items():
        regions[region] = (RegionStyle(keep_original=True) if setting == "keep"
                           else RegionStyle(styles=[read_rgb(setting, f"style image for region {region}")]))
    for region, strength in _region_strengths(args).items():
        regions.setdefault(region, RegionStyle()).strength = strength
    return regions


def _fast_region_settings(args) -> dict:
    """RegionModel per region id from ID=MODEL|keep and ID=STRENGTH pairs, for fast stylization."""
    from .fast.infer import RegionModel

    regions = {region: RegionModel(keep_original=True) if setting == "keep" else RegionModel(model=setting)
               for region, setting in _region_pairs(args.region_style, "--region-style").items()}
    for region, strength in _region_strengths(args).items():
        regions.setdefault(region, RegionModel()).strength = strength
    return regions


def _engine(args):
    from .stylize import StyleTransfer

    return StyleTransfer(device=args.device, weights=args.weights, pooling=args.pooling,
                         cache_dir=None if args.no_cache else args.cache_dir)


def _progress_bar(args):
    from tqdm import tqdm

    return None if args.quiet else tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")


def _run_stylize(args) -> int:
    from .alpha import read_content
    from .imageio import check_output_path, read_label_map, read_rgb, write_image

    if args.model and args.structure:
        raise EngineError("--structure works with optimization (--style), not with --model; drop one of them")
    if args.model:
        from .fast.commands import stylize_with_model

        return stylize_with_model(args, _region_pairs)
    if not args.style:
        raise EngineError("give --style (optimization) or --model (fast stylization)")
    output = check_output_path(args.output)
    picture = read_content(args.content)
    content = picture.rgb
    structure = _structure_map(args.structure, args.passes, content.shape[:2])
    styles = [read_rgb(path, "style image") for path in args.style]
    options = dict(_optimizer_options(args), coverage=picture.coverage)
    options["init"] = args.init if args.init in ("content", "noise") else read_rgb(args.init, "init image")
    regions = _region_settings(args)
    if regions and not args.mask:
        raise EngineError("--region-style and --region-strength need --mask")
    if args.mask:
        options.update(label_map=read_label_map(args.mask), regions=regions or None)
    if structure is not None:
        options["structure_map"] = structure
    engine = _engine(args)
    bar = _progress_bar(args)
    warned = []

    def on_progress(progress):
        _warn(progress.notices[len(warned):], bar)
        warned[:] = progress.notices
        if bar is not None:
            tile = f" tile {progress.tile}/{progress.tiles}" if progress.tiles > 1 else ""
            bar.set_description(f"scale {progress.scale}/{progress.scales} ({progress.width_px}x{progress.height_px})"
                                f"{tile} it {progress.iteration}/{progress.iterations}")
            bar.set_postfix_str(f"loss {progress.loss:.4g}")
            bar.update(round(progress.fraction_done * 1000) - bar.n)
        if args.save_every and progress.iteration % args.save_every == 0:
            snapshot = output.with_name(f"{output.stem}.s{progress.scale}-i{progress.iteration:05d}.png")
            write_image(snapshot, progress.image())

    try:
        result = engine.stylize(content, styles, callback=on_progress, **options)
    finally:
        if bar is not None:
            bar.close()
    settings = dict(result.settings, content=str(Path(args.content).resolve()),
                    styles=[str(Path(s).resolve()) for s in args.style], mask=args.mask, passes=args.passes,
                    region_style=args.region_style, region_strength=args.region_strength,
                    command="python -m engine " + " ".join(args.argv))
    rgb, alpha = picture.finish(result.image)
    write_image(output, rgb, settings, alpha=alpha)
    _warn(result.settings.get("degraded", [])[len(warned):], None)
    if not args.quiet:
        peak = result.settings.get("peak_memory_gb")
        memory = "" if peak is None else (f", peak memory {peak:.2f} GB"
                                          f"{'' if result.settings['peak_memory_measured'] else ' (estimated)'}")
        print(f"wrote {output} ({result.settings['width_px']}x{result.settings['height_px']}, "
              f"{result.elapsed_s:.1f} s on {result.settings['device']}{memory}, "
              f"style cache {result.cache_hits} hit(s), {result.cache_misses} miss(es))")
    return 0


def _structure_map(strength: float, passes: str | None, shape: tuple[int, int]):
    """The structure term's map from --structure and --passes (None when off); refused without Depth passes."""
    from .structure import PASSES_NEEDED, read_structure_passes, structure_map

    if not 0.0 <= strength <= 1.0:
        raise EngineError(f"--structure must be between 0 and 1, got {strength:g}")
    if strength == 0:
        return None
    if not passes:
        raise EngineError(f"--structure needs the render's passes: give --passes FRAME.exr, {PASSES_NEEDED}")
    return structure_map(read_structure_passes(passes, shape), strength)


def _warn(notices, bar) -> None:
    """Print what the job had to give up (out-of-memory retries, fallbacks) as warnings on stderr."""
    for notice in notices:
        line = f"warning: {notice}"
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def _frame_files(spec: str, what: str, exr_only: bool = False) -> list[Path]:
    """Files of a sequence from a folder or a glob pattern, in name order.

    From a folder: its pictures (PNG, JPEG, TIFF), or its EXRs when it has no pictures or `exr_only` is set.
    """
    import glob

    folder = Path(spec)
    if folder.is_dir():
        exrs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".exr")
        pictures = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
        files = exrs if exr_only or not pictures else pictures
    else:
        files = sorted(Path(p) for p in glob.glob(spec))
    if not files:
        raise EngineError(f"no {what} found at '{spec}'; give a folder of images or a pattern like 'render/*.png'")
    return files


def _paired_passes(frames: list[Path], passes_spec: str | None) -> list[Path | None]:
    if passes_spec is None:
        return [f if f.suffix.lower() == ".exr" else None for f in frames]
    passes = _frame_files(passes_spec, "render passes", exr_only=True)
    if len(passes) != len(frames):
        raise EngineError(f"{len(frames)} frames but {len(passes)} passes files; give one passes EXR per frame")
    return list(passes)


def _add_sequence(subparsers) -> None:
    p = subparsers.add_parser("sequence", help="stylize an animation, flicker-free (motion vectors or optical flow)",
                              description="Stylize a frame sequence; each frame is held to the earlier ones, warped "
                                          "by the render's motion vectors (or estimated optical flow).")
    p.add_argument("--frames", required=True, help="folder or pattern of frames (PNG as seen, or multilayer EXR)")
    p.add_argument("--passes", help="folder or pattern of Blender multilayer EXRs (Vector, Depth, Object Index), one "
                                    "per frame; default: the frames themselves when they are EXRs")
    p.add_argument("--output-dir", required=True, help="folder for the stylized frames (PNG, same names)")
    p.add_argument("--no-temporal", action="store_true", help="stylize each frame on its own")
    p.add_argument("--temporal-weight", type=WEIGHT, default=50.0, help="pull toward earlier frames (default 50)")
    p.add_argument("--later-iterations", type=ITERATIONS, default=None,
                   help="iterations of frames after the first, which start from the warped previous frame "
                        "(default: half of --iterations)")
    p.add_argument("--long-term", type=whole(0, 1000), default=2, metavar="N",
                   help="earlier frames each frame is held to")
    p.add_argument("--multipass", action="store_true", help="add a backward pass over the sequence")
    p.add_argument("--flow", choices=("auto", "vectors", "estimated"), default="auto",
                   help="motion from the Vector pass, or estimated with OpenCV DIS (auto: vectors when present)")
    p.add_argument("--overwrite", action="store_true", help="redo frames whose output exists (default: resume)")
    p.add_argument("--model", help="fast stylization with this model (name or .safetensors) instead of --style; "
                                   "--region-style then takes ID=MODEL|keep; 'any': any --style painting, "
                                   "--region-style ID=PATH|keep")
    p.add_argument("--fast-blend", type=FRACTION, default=0.6,
                   help="with --model: share of the warped previous frame kept where reliable (default 0.6)")
    farm = p.add_argument_group("render-farm chunks", "stylize part of the shot; frames are numbered by the digits "
                                                      "ending their names")
    farm.add_argument("--chunk", metavar="A-B", help="only frames A to B of the shot in --frames")
    farm.add_argument("--chunking", choices=CHUNKINGS, default="strict",
                      help="strict: continue the previous chunk's results (identical to one run; chunks in order); "
                           "overlap: start --warmup frames early into OUTPUT/chunks/A-B/, then 'join' (chunks in "
                           "parallel); anchors: independent chunks of a per-shot --model (from --warmup frames before, "
                           "for the blend)")
    farm.add_argument("--warmup", type=whole(0, 100_000), default=4, metavar="W",
                      help="overlap and anchors: frames run before the chunk (default 4)")
    farm.add_argument("--resume-from", metavar="DIR",
                      help="strict: folder with the previous chunk's results, when not in --output-dir")
    _add_optimizer_options(p)
    p.set_defaults(run=_run_sequence)


def _run_sequence(args) -> int:
    from .imageio import read_rgb
    from .structure import PASSES_NEEDED
    from .temporal import SequenceFrame, SequenceSettings, stylize_sequence

    if not args.style and not args.model:
        raise EngineError("give at least one --style (optimization) or a --model (fast stylization)")
    frames = _frame_files(args.frames, "frames")
    output_dir = Path(args.output_dir)
    if not output_dir.is_dir():
        raise EngineError(f"output folder {output_dir} does not exist; create it first")
    items = [SequenceFrame(f, output_dir / f"{f.stem}.png", passes)
             for f, passes in zip(frames, _paired_passes(frames, args.passes))]
    if args.chunk:
        items = _chunk_items(args, items, output_dir)
    styles = [read_rgb(path, "style image") for path in args.style or []]
    options = dict(_optimizer_options(args), device=args.device)
    if args.model:
        options["size_px"] = args.size  # fast models run at the frames' own size unless asked
        options["cache_dir"] = None if args.no_cache else args.cache_dir  # model any: style vectors
    settings = SequenceSettings(temporal=not args.no_temporal, temporal_weight=args.temporal_weight,
                                later_iterations=args.later_iterations, long_term_frames=args.long_term,
                                multipass=args.multipass, flow=args.flow, overwrite=args.overwrite,
                                model=args.model, fast_blend=args.fast_blend, structure=args.structure,
                                stylize_options=options)
    if args.model and args.structure:
        raise EngineError("--structure works with optimization (--style), not with --model; drop one of them")
    if args.structure and not all(item.passes for item in items):
        raise EngineError(f"--structure needs the render's passes: give --passes (one EXR per frame), {PASSES_NEEDED}")
    bar = _progress_bar(args)

    warned: set[str] = set()

    def on_progress(progress):
        if progress.step is not None:
            _warn([n for n in progress.step.notices if n not in warned], bar)
            warned.update(progress.step.notices)
        if bar is not None:
            done = progress.frame + (progress.step.fraction_done if progress.step else 1.0)
            bar.set_description(progress.message)
            bar.update(round(1000 * done / progress.frames) - bar.n)

    try:
        if args.model:
            regions = _region_settings(args) if args.model == "any" else _fast_region_settings(args)
            report = stylize_sequence(None, items, styles, settings, regions or None, callback=on_progress)
        else:
            report = stylize_sequence(_engine(args), items, styles, settings, _region_settings(args) or None,
                                      callback=on_progress)
    finally:
        if bar is not None:
            bar.close()
    estimated = sum(source.startswith("estimated") for source in report.flow_sources)
    if estimated and not args.quiet:
        print(f"warning: no motion vectors for {estimated} frame(s); used estimated optical flow", file=sys.stderr)
    print(f"wrote {len(report.written)} frame(s) to {output_dir}, kept {len(report.skipped)} existing, "
          f"{report.elapsed_s:.1f} s")
    return 0


def _chunk_items(args, items, output_dir: Path):
    """The part of the shot one farm chunk stylizes (see engine.chunks)."""
    from .chunks import Chunk, ShotFrame, chunk_frames, frame_number, parse_range

    if args.chunking == "anchors" and not args.model:
        raise EngineError("--chunking anchors runs a per-shot model on every chunk; give --model (train one with "
                          "'python -m engine train --keyframes N')")
    first, last = parse_range(args.chunk)
    chunk = Chunk(first, last, args.chunking, args.warmup, Path(args.resume_from) if args.resume_from else None)
    shot = [ShotFrame(frame_number(item.content), item.content, item.passes) for item in items]
    return chunk_frames(shot, chunk, output_dir, args.long_term)


def _add_join(subparsers) -> None:
    p = subparsers.add_parser("join", help="crossfade overlap chunks into the final frames",
                              description="Write OUTPUT_DIR/NAME.png for every frame of OUTPUT_DIR/chunks/A-B/ "
                                          "(from 'sequence --chunking overlap'), crossfading each chunk's warm-up "
                                          "frames into the previous chunk's last frames.")
    p.add_argument("--output-dir", required=True, help="the --output-dir the overlap chunks were given")
    p.add_argument("--overwrite", action="store_true", help="write frames that exist again")
    p.set_defaults(run=_run_join)


def _run_join(args) -> int:
    from .chunks import join_overlaps

    written, kept = join_overlaps(Path(args.output_dir), overwrite=args.overwrite)
    print(f"wrote {len(written)} frame(s) to {args.output_dir}, kept {len(kept)} existing")
    return 0


def _add_metrics(subparsers) -> None:
    p = subparsers.add_parser("metrics", help="flicker (warping error) of stylized sequences",
                              description="Warping error (Lai et al. 2018) of one or more versions of a sequence, "
                                          "measured with the render's own motion vectors.")
    p.add_argument("--passes", required=True, help="folder or pattern of the render's multilayer EXRs")
    p.add_argument("--sequence", action="append", required=True, metavar="NAME=FRAMES",
                   help="a version of the sequence to measure, e.g. temporal=out/stylized; repeat to compare")
    p.add_argument("--flow", choices=("auto", "vectors", "estimated"), default="auto")
    p.add_argument("--mask", choices=("standard", "engine"), default="standard",
                   help="pixels the warping error measures: 'standard' = Ruder et al.'s forward-backward and "
                        "motion-boundary tests (default, for reported figures); 'engine' = the temporal term's own "
                        "mask, which also drops pixels whose object id or depth changed")
    p.add_argument("--style", help="also report the mean style distance to this painting")
    p.add_argument("--render", metavar="FRAMES",
                   help="the render's pictures (as stylized): also report legibility, the boundary contrast kept "
                        "(needs Depth in the passes)")
    p.add_argument("--plot", help="write a per-frame plot (PNG)")
    p.set_defaults(run=_run_metrics)


def _run_metrics(args) -> int:
    import numpy as np

    from .imageio import read_rgb
    from .metrics import (contrast_kept, measured_shares, plot_warping_errors, standard_motion, style_distance,
                          warping_errors)
    from .structure import read_structure_passes
    from .temporal import SequenceFrame, frame_motion

    passes = _frame_files(args.passes, "render passes", exr_only=True)
    style = read_rgb(args.style, "style image") if args.style else None
    renders = [] if not args.render else [read_rgb(f, "render") for f in _frame_files(args.render, "render frames")]
    if renders and len(renders) != len(passes):
        raise EngineError(f"--render has {len(renders)} frames but there are {len(passes)} passes files")
    structures = [read_structure_passes(p, r.shape[:2]) for p, r in zip(passes, renders)]
    curves, cache = {}, {}
    print(f"warping error over the pixels the '{args.mask}' mask keeps (measured = their share)")
    print("| sequence | frames | warping error | measured | style distance | contrast kept |\n|---|---|---|---|---|---|")
    for spec in args.sequence:
        name, sep, folder = spec.partition("=")
        if not sep:
            raise EngineError(f"--sequence '{spec}' is not NAME=FRAMES (for example temporal=out/stylized)")
        frames = _frame_files(folder, f"frames of '{name}'")
        if len(frames) != len(passes):
            raise EngineError(f"'{name}' has {len(frames)} frames but there are {len(passes)} passes files")
        images = [read_rgb(f, "frame") for f in frames]
        items = [SequenceFrame(f, f, p) for f, p in zip(frames, passes)]
        motions = [frame_motion(b, a, ib, ia, args.flow, cache)
                   for a, b, ia, ib in zip(items, items[1:], images, images[1:])]
        if args.mask == "standard":  # estimated flow already has only Ruder's tests
            motions = [standard_motion(cache[b.passes], cache[a.passes]) if m.source == "render vectors" else m
                       for m, a, b in zip(motions, items, items[1:])]
        curves[name] = warping_errors(images, motions)
        share = np.mean(measured_shares(images, motions))
        style_text = f"{np.mean([style_distance(i, style) for i in images]):.4f}" if style is not None else "-"
        kept = (f"{np.mean([contrast_kept(i, r, s) for i, r, s in zip(images, renders, structures)]):.3f}"
                if renders else "-")
        print(f"| {name} | {len(frames)} | {np.mean(curves[name]):.5f} | {share:.0%} | {style_text} | {kept} |")
    if args.plot:
        plot_warping_errors(curves, Path(args.plot))
    return 0


def _add_texture(subparsers) -> None:
    p = subparsers.add_parser("texture", help="stylize a texture: flat (seamless, UV islands) or through rendered views",
                              description="Stylize a colour texture. Flat: as a picture, optionally seamless "
                                          "(wrap-around) and only inside the mesh's UV islands. From views: optimize "
                                          "the texture so that Blender renders of the object (with the UV pass) carry "
                                          "the style from every side.")
    p.add_argument("--texture", required=True, help="the colour texture (PNG, JPEG, TIFF, EXR)")
    p.add_argument("--style", action="append", required=True, help="style image; repeat to blend styles")
    p.add_argument("--style-weights", type=WEIGHT, nargs="+", metavar="W", help="blend weight per --style")
    p.add_argument("--output", required=True, help="the new texture (.png, .jpg, .tif or .exr)")
    p.add_argument("--seamless", action="store_true", help="flat: keep a tileable texture tileable (wrap-around)")
    p.add_argument("--size", type=PIXELS, help="flat: longest side of the new texture (default: the texture's own)")
    p.add_argument("--iterations", type=ITERATIONS, default=200, help="optimizer iterations (per scale in flat mode)")
    p.add_argument("--scales", type=SCALES, default=None, help="flat: coarse-to-fine scales (default: auto)")
    p.add_argument("--uv-mask", help="flat: image of the mesh's UV islands (white inside) at the texture's size; only "
                                     "the islands change")
    p.add_argument("--island-padding", type=whole(0, 4096), default=4, metavar="PX",
                   help="flat with --uv-mask: texels the islands bleed outward, against seams (default 4)")
    p.add_argument("--views", help="from-views mode: folder or pattern of Blender multilayer EXRs with the UV pass "
                                   "(a display PNG of the same name beside each is used as the picture)")
    p.add_argument("--object-index", type=whole(0),
                   help="from views: the object's pass index in the views' Object Index")
    p.add_argument("--strength", type=FRACTION, default=1.0, help="style strength in [0, 1] (default 1)")
    p.add_argument("--content-weight", type=WEIGHT, default=1.0)
    p.add_argument("--style-weight", type=WEIGHT, default=30.0)
    p.add_argument("--tv-weight", type=WEIGHT, default=10.0)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--weights", default="caffe", help="loss network: 'caffe', 'torchvision', or a weights file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--cache-dir", default="default", help="style-target cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the style-target cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_texture, pooling="max")


def _run_texture(args) -> int:
    from .texture import TextureObjective, stylize_texture_files, tile_seam_ratio

    views = _frame_files(args.views, "views", exr_only=True) if args.views else []
    objective = TextureObjective(args.content_weight, args.style_weight, args.tv_weight, args.strength)
    bar = _progress_bar(args)

    def on_progress(progress):
        if bar is not None:
            bar.set_description(f"scale {progress.scale}/{progress.scales} it {progress.iteration}/{progress.iterations}")
            bar.set_postfix_str(f"loss {progress.loss:.4g}")
            bar.update(round(progress.fraction_done * 1000) - bar.n)

    try:
        result = stylize_texture_files(_engine(args), args.texture, args.style, args.output, views=views,
                                       object_index=args.object_index, uv_mask_path=args.uv_mask,
                                       seamless=args.seamless, size_px=args.size, iterations=args.iterations,
                                       scales=args.scales, island_padding_px=args.island_padding,
                                       style_blend=args.style_weights, objective=objective, seed=args.seed,
                                       callback=on_progress)
    finally:
        if bar is not None:
            bar.close()
    detail = (f"seen texels {result.settings['seen_fraction']:.0%} from {len(views)} view(s)" if views
              else f"tile seam ratio {tile_seam_ratio(result.image):.2f}" if args.seamless else "flat")
    print(f"wrote {args.output} ({result.settings['width_px']}x{result.settings['height_px']}, {detail}, "
          f"{result.elapsed_s:.1f} s)")
    return 0


def _add_worker(subparsers) -> None:
    p = subparsers.add_parser("worker", help="serve jobs as line-delimited JSON on stdin/stdout (for the add-on)")
    p.set_defaults(run=_run_worker)


def _run_worker(args) -> int:
    from .worker import main as worker_main

    return worker_main()


def _spec_files(spec: str) -> list[str]:
    """What a path option names: a file, a folder and the files in it, or the files a pattern matches."""
    import glob

    if Path(spec).is_dir():
        return [spec, *(str(p) for p in Path(spec).iterdir())]
    return glob.glob(spec) or [spec]


def _refuse_overwriting(args) -> None:
    """Before any work: no output of the command (--output, --output-dir's frames, --plot) is one of its inputs."""
    from protocol import refuse_input_folder, refuse_overwrite, refuse_overwrite_all

    value = lambda name: getattr(args, name, None)  # noqa: E731
    inputs = {f"--{name.replace('_', '-')}": [value(name)] if isinstance(value(name), str) else value(name)
              for name in ("content", "style", "mask", "texture", "uv_mask")}
    inputs["--content-dir"] = [f for folder in value("content_dir") or [] for f in _spec_files(folder)]
    init, model, weights = value("init"), value("model"), value("weights")
    inputs["--init"] = [init] if init not in (None, "content", "noise") else []
    inputs["--model"] = [model] if model and Path(model).is_file() else []
    inputs["--weights"] = [weights] if weights and Path(weights).is_file() else []
    inputs["--region-style"] = [v.partition("=")[2] for v in value("region_style") or []]
    for name in ("passes", "views", "render", "frames", "style_dir"):
        inputs[f"--{name}"] = _spec_files(value(name)) if value(name) else []
    inputs["--sequence"] = [f for spec in value("sequence") or [] for f in _spec_files(spec.partition("=")[2])]
    for name in ("output", "plot"):
        if value(name):
            refuse_overwrite(value(name), inputs, f"--{name}")
    if value("output_dir") and value("frames"):
        output_dir = Path(value("output_dir"))
        refuse_input_folder(output_dir, {"--frames": inputs["--frames"], "--passes": inputs["--passes"]},
                            "--output-dir")
        refuse_overwrite_all([output_dir / f"{Path(f).stem}.png" for f in inputs["--frames"]], inputs,
                             "--output-dir's frame")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine", description="Neural style transfer engine (PyTorch).")
    parser.add_argument("--version", action="version", version=f"nst-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_stylize(subparsers)
    _add_sequence(subparsers)
    _add_join(subparsers)
    _add_metrics(subparsers)
    _add_texture(subparsers)
    add_train_parser(subparsers)
    add_models_parser(subparsers)
    add_sheet_parser(subparsers)
    _add_worker(subparsers)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed in one line
        return int(exc.code or 0)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _refuse_overwriting(args)
        return args.run(args)
    except (EngineError, OverwritesInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Cancelled, KeyboardInterrupt):
        print("cancelled; no output written", file=sys.stderr)
        return EXIT_CANCELLED
    except MemoryError:
        print("error: out of memory; use a smaller --size", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            print("error: out of GPU memory; use a smaller --size, or --device cpu", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise

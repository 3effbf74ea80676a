"""`python -m engine stylize`: one image by optimization, with regions, structure and snapshots; `--model` hands the
job to the one-pass networks (engine/cli/fast.py).
"""

from __future__ import annotations

import glob
from pathlib import Path

from protocol.numbers import PIXELS, whole

from ..optimizer.options import INITS, option_defaults
from ..optimizer.region_settings import command_line_regions
from ..runtime.errors import EngineError
from .shared import add_optimizer_options, add_overwrite_option, optimizer_options, progress_bar, style_transfer, warn


def add_stylize_parser(subparsers) -> None:
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
    p.add_argument("--init", default=option_defaults()["init"],
                   help="start from 'content' (default), 'noise', 'any' (the any-style result with the same "
                        "paintings, blend, regions and strength: near the look in fewer iterations) or an image path")
    p.add_argument("--save-every", type=whole(0), default=0, metavar="N",
                   help="also save the image every N iterations as OUTPUT_STEM.sSCALE-iITER.png")
    add_optimizer_options(p)
    add_overwrite_option(p)
    p.set_defaults(run=run_stylize)


def run_stylize(args) -> int:
    from ..imageio.images import check_output_path, read_content, read_rgb, refuse_replacing, write_image
    from ..imageio.passes import read_label_map

    if args.model:
        from .fast import stylize_with_model

        return stylize_with_model(args)
    if not args.style:
        raise EngineError("give --style (optimization) or --model (fast stylization)")
    output = check_output_path(args.output)
    if args.save_every:  # before any work: no snapshot name holds a file of someone else's
        for existing in output.parent.glob(f"{glob.escape(output.stem)}.s*-i*.png"):
            refuse_replacing(existing, "--save-every's snapshot")
    picture = read_content(args.content)
    content = picture.rgb
    structure = structure_map_from_args(args.structure, args.passes, content.shape[:2])
    styles = [read_rgb(path, "style image") for path in args.style]
    options = dict(optimizer_options(args), coverage=picture.coverage)
    options["init"] = args.init if args.init in INITS else read_rgb(args.init, "init image")
    regions = command_line_regions(args.region_style, args.region_strength)
    if regions and not args.mask:
        raise EngineError("--region-style and --region-strength need --mask")
    if args.mask:
        options.update(label_map=read_label_map(args.mask), regions=regions or None)
    if structure is not None:
        options["structure_map"] = structure
    engine = style_transfer(args)
    bar = progress_bar(args)
    warned = []

    def on_progress(progress):
        warn(progress.notices[len(warned):], bar)
        warned[:] = progress.notices
        if bar is not None:
            tile = f" tile {progress.tile}/{progress.tiles}" if progress.tiles > 1 else ""
            bar.set_description(f"scale {progress.scale}/{progress.scales} ({progress.width_px}x{progress.height_px})"
                                f"{tile} it {progress.iteration}/{progress.iterations}")
            bar.set_postfix_str(f"loss {progress.loss:.4g}")
            bar.update(round(progress.fraction_done * 1000) - bar.n)
        if args.save_every and progress.iteration % args.save_every == 0:
            snapshot = output.with_name(f"{output.stem}.s{progress.scale}-i{progress.iteration:05d}.png")
            write_image(snapshot, progress.image(), {"kind": "snapshot", "scale": progress.scale,
                                                     "iteration": progress.iteration})

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
    warn(result.settings.get("degraded", [])[len(warned):], None)
    if not args.quiet:
        peak = result.settings.get("peak_memory_gb")
        memory = "" if peak is None else (f", peak memory {peak:.2f} GB"
                                          f"{'' if result.settings['peak_memory_measured'] else ' (estimated)'}")
        print(f"wrote {output} ({result.settings['width_px']}x{result.settings['height_px']}, "
              f"{result.elapsed_s:.1f} s on {result.settings['device']}{memory}, "
              f"style cache {result.cache_hits} hit(s), {result.cache_misses} miss(es))")
    return 0


def structure_map_from_args(strength: float, passes: str | None, shape: tuple[int, int]):
    """The structure term's map from --structure and --passes (None when off); refused without Depth passes."""
    from ..shapes.structure import PASSES_NEEDED, read_structure_passes, structure_map

    if not 0.0 <= strength <= 1.0:
        raise EngineError(f"--structure must be between 0 and 1, got {strength:g}")
    if strength == 0:
        return None
    if not passes:
        raise EngineError(f"--structure needs the render's passes: give --passes FRAME.exr, {PASSES_NEEDED}")
    return structure_map(read_structure_passes(passes, shape), strength)

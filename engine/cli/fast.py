"""`python -m engine stylize --model`: one pass of a trained fast network, or of the any-style network (`--model any`)
with any painting given as --style; both written atomically with their settings. No optimizer options apply.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..optimizer.region_settings import ANY_STYLE_MODEL, command_line_regions, region_pairs
from ..runtime.cache import chosen_cache_dir
from ..runtime.errors import EngineError


def stylize_with_model(args) -> int:
    """`stylize --model NAME|FILE|any`: read, stylize in one pass, write with the settings."""
    from ..imageio.images import check_output_path, read_content, read_rgb, write_image
    from ..imageio.passes import read_label_map

    tuned = None
    if args.model == ANY_STYLE_MODEL:
        if not args.style:
            raise EngineError("--model any paints with any painting: give it as --style PATH (repeat to blend)")
    elif args.style:
        from ..fast.stylize_fast import get_stylizer, is_tuned

        tuned = get_stylizer(args.model, args.device)
        if not is_tuned(tuned):
            raise EngineError("give either --style (optimization) or --model (fast stylization), not both; "
                              "--model any takes --style, and so does a tuned model (blended with its painting)")
    output = check_output_path(args.output)
    picture = read_content(args.content)  # transparent renders: colour filled, alpha put back on writing
    styles = [read_rgb(path, "style image") for path in args.style or []]
    region_settings = region_pairs(args.region_style, "--region-style")
    region_strengths = region_pairs(args.region_strength, "--region-strength")
    if (region_settings or region_strengths) and not args.mask:
        raise EngineError("--region-style and --region-strength need --mask")
    mask = read_label_map(args.mask) if args.mask else None
    regions = command_line_regions(args.region_style, args.region_strength, args.model) if args.mask else {}
    recorded = dict(mask=args.mask, region_style=region_settings or None, region_strength=region_strengths or None)
    if args.model == ANY_STYLE_MODEL:
        from ..anystyle.stylizer import AnyStyleStylizer

        stylizer = AnyStyleStylizer(args.device, cache_dir=chosen_cache_dir(args.cache_dir, args.no_cache))
        result = stylizer.stylize(picture.rgb, styles, style_weights=args.style_weights, strength=args.strength,
                                  preserve_color=args.preserve_color, mask=mask, regions=regions or None,
                                  size_px=args.size, tile_px=args.tile)
        recorded = dict(styles=[str(Path(s).resolve()) for s in args.style], **recorded)
        what = f"any-style with {len(styles)} painting{'s' if len(styles) > 1 else ''}"
    elif tuned is not None:  # the tuned painting blended with --style paintings, its weight first
        result = tuned.stylize(picture.rgb, styles, style_weights=args.style_weights, strength=args.strength,
                               preserve_color=args.preserve_color, mask=mask, regions=regions or None,
                               size_px=args.size, tile_px=args.tile)
        recorded = dict(styles=[str(Path(s).resolve()) for s in args.style], **recorded)
        what = f"model {tuned.path.stem} blended with {len(styles)} painting{'s' if len(styles) > 1 else ''}"
    else:
        from ..fast.stylize_fast import stylize_fast

        render = args.content if Path(args.content).suffix.lower() == ".exr" else None
        result = stylize_fast(picture.rgb, args.model, size_px=args.size, style_strength=args.strength,
                              preserve_color=args.preserve_color, label_map=mask, regions=regions or None,
                              render_path=render, tile_px=args.tile, device=args.device)
        what = f"model {result.settings['model']}"
    if args.structure:  # the render's outlines restored at its discontinuities (engine/shapes/guide.py)
        from ..shapes.guide import guided_by_passes

        result.image = guided_by_passes(result.image, picture.rgb, args.structure, args.passes, args.device)
    settings = dict(result.settings, structure=args.structure, content=str(Path(args.content).resolve()), **recorded,
                    command=shlex.join(["python", "-m", "engine", *args.argv]))
    rgb, alpha = picture.finish(result.image)
    write_image(output, rgb, settings, alpha=alpha)
    if not args.quiet:
        print(f"wrote {output} ({result.settings['width_px']}x{result.settings['height_px']}, "
              f"{result.elapsed_s:.2f} s on {result.settings['device']}, {what})")
    return 0


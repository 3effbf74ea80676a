"""Any-style on the command line: `stylize --model any --style S [--style S2 --style-weights a b]`, and its
`models` entry. Errors are `EngineError`s: one line, exit status 2, nothing written.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..errors import EngineError

MODEL_NAME = "any"


def model_entry() -> dict:
    """The `models` listing's entry for the any-style network (its weights' problem, if they are unusable)."""
    from .weights import TRANSFORM_FILE, load_networks, weights_dir

    problem, path = None, None
    try:
        path = weights_dir() / TRANSFORM_FILE
        load_networks()
    except EngineError as exc:
        problem = str(exc)
    return {"name": MODEL_NAME, "path": str(path) if path else None, "location": "package", "problem": problem,
            "kind": "any-style", "style": None, "training": None}


def stylize_with_any(args, region_pairs) -> int:
    """`stylize --model any`: any painting (or a blend), strength between the content's own style and the
    painting's, colour preservation, regions with their own painting or kept; written atomically with settings."""
    from ..alpha import read_content
    from ..imageio import check_output_path, read_label_map, read_rgb, write_image
    from ..masks import Region
    from .stylizer import AnyStyleStylizer

    if not args.style:
        raise EngineError("--model any paints with any painting: give it as --style PATH (repeat to blend)")
    output = check_output_path(args.output)
    picture = read_content(args.content)  # transparent renders: colour filled, alpha put back on writing
    styles = [read_rgb(path, "style image") for path in args.style]
    region_styles = region_pairs(args.region_style, "--region-style")
    region_strengths = region_pairs(args.region_strength, "--region-strength")
    if (region_styles or region_strengths) and not args.mask:
        raise EngineError("--region-style and --region-strength need --mask")
    mask, regions = None, {}
    if args.mask:
        mask = read_label_map(args.mask)
        for region, setting in region_styles.items():
            regions[region] = (Region(keep_original=True) if setting == "keep" else
                               Region(styles=[read_rgb(setting, f"style image for region {region}")]))
        for region, value in region_strengths.items():
            try:
                regions.setdefault(region, Region()).strength = float(value)
            except ValueError:
                raise EngineError(f"--region-strength {region}={value}: the strength must be a number") from None
    stylizer = AnyStyleStylizer(args.device, cache_dir=None if args.no_cache else args.cache_dir)
    result = stylizer.stylize(picture.rgb, styles, style_weights=args.style_weights, strength=args.strength,
                              preserve_color=args.preserve_color, mask=mask, regions=regions or None,
                              size_px=args.size, tile_px=args.tile)
    settings = dict(result.settings, content=str(Path(args.content).resolve()),
                    styles=[str(Path(s).resolve()) for s in args.style], mask=args.mask,
                    region_style=region_styles or None, region_strength=region_strengths or None,
                    command=shlex.join(["python", "-m", "engine", *args.argv]))
    rgb, alpha = picture.finish(result.image)
    write_image(output, rgb, settings, alpha=alpha)
    if not args.quiet:
        print(f"wrote {output} ({result.settings['width_px']}x{result.settings['height_px']}, "
              f"{result.elapsed_s:.2f} s on {result.settings['device']}, any-style with {len(styles)} "
              f"painting{'s' if len(styles) > 1 else ''})")
    return 0

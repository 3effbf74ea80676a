"""`python -m engine sheet --content C [--style-dir DIR] --output sheet.png`: the picture with every painting of a
style library (any-style), as a labelled contact sheet (engine/anystyle/sheet.py).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path

from protocol import OverwritesInput, refuse_overwrite
from protocol.numbers import whole

from ..anystyle.sheet import TILE_PX, library_styles, make_sheet
from ..runtime.cache import chosen_cache_dir
from ..runtime.errors import EngineError
from .shared import add_cache_options, add_device_option, add_overwrite_option


def add_sheet_parser(subparsers) -> None:
    p = subparsers.add_parser("sheet", help="one picture with every painting of a style library (any-style), as a "
                                            "labelled contact sheet",
                              description="Stylize a picture with every painting in a style folder using the "
                                          "any-style network and write a contact sheet titled per painting.")
    p.add_argument("--content", required=True, help="the picture (PNG, JPEG, TIFF, EXR)")
    p.add_argument("--style-dir", help="folder of paintings, titled by its library.json when it has one (default: "
                                       "the bundled styles/)")
    p.add_argument("--output", required=True, help="the sheet (.png, .jpg, .tif or .exr)")
    p.add_argument("--size", type=whole(32, 65_536), default=TILE_PX,
                   help=f"longest side of each tile in pixels, 32 or more (default {TILE_PX})")
    p.add_argument("--columns", type=whole(1, 1000), default=None, help="tiles a row (default: near square)")
    add_device_option(p)
    add_cache_options(p, "style-vector")
    p.add_argument("--json", action="store_true", help="also print the tiles' boxes and paintings as JSON")
    add_overwrite_option(p)
    p.set_defaults(run=run_sheet)


def run_sheet(args) -> int:
    from ..imageio.images import check_output_path, read_rgb, write_image

    styles = library_styles(args.style_dir)
    try:  # the bundled library too, when no --style-dir is given
        refuse_overwrite(args.output, {"--content": [args.content], "a painting of the library": [
            s.path for s in styles]}, "--output")
    except OverwritesInput as exc:
        raise EngineError(str(exc)) from None
    output = check_output_path(args.output)
    content = read_rgb(args.content, "content image")
    sheet = make_sheet(content, styles, size_px=args.size, columns=args.columns, device=args.device,
                       cache_dir=chosen_cache_dir(args.cache_dir, args.no_cache))
    settings = dict(kind="style sheet", content=str(Path(args.content).resolve()), size_px=args.size,
                    original=sheet.original, tiles=[asdict(t) for t in sheet.tiles],
                    command=shlex.join(["python", "-m", "engine", *args.argv]))
    write_image(output, sheet.image, settings)
    if args.json:
        print(json.dumps({"output": str(output), "original": sheet.original,
                          "tiles": [asdict(t) for t in sheet.tiles]}))
    print(f"wrote {output}: {len(sheet.tiles)} paintings at {args.size} px, {sheet.elapsed_s:.1f} s")
    return 0

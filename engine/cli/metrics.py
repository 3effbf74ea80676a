"""`python -m engine metrics`: flicker (warping error), style distance and legibility of stylized sequences."""

from __future__ import annotations

from pathlib import Path

from ..errors import EngineError
from .shared import frame_files


def add_metrics_parser(subparsers) -> None:
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
    p.set_defaults(run=run_metrics)


def run_metrics(args) -> int:
    import numpy as np

    from ..imageio import read_rgb
    from ..metrics import (contrast_kept, measured_shares, plot_warping_errors, standard_motion, style_distance,
                          warping_errors)
    from ..structure import read_structure_passes
    from ..temporal import SequenceFrame, frame_motion

    passes = frame_files(args.passes, "render passes", exr_only=True)
    style = read_rgb(args.style, "style image") if args.style else None
    renders = [] if not args.render else [read_rgb(f, "render") for f in frame_files(args.render, "render frames")]
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
        frames = frame_files(folder, f"frames of '{name}'")
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



"""`python -m engine metrics`: flicker (warping error), style distance and legibility of stylized sequences, and
PSNR/SSIM of versions of a picture or sequence against a reference (engine/measures/reference.py).
"""

from __future__ import annotations

from pathlib import Path

from ..runtime.errors import EngineError
from .shared import add_overwrite_option, frame_files


def add_metrics_parser(subparsers) -> None:
    from ..shots.temporal import FLOW_SOURCES

    p = subparsers.add_parser("metrics", help="flicker (warping error) of stylized sequences; PSNR/SSIM against a "
                                              "reference",
                              description="Warping error (Lai et al. 2018) of one or more versions of a sequence, "
                                          "measured with the render's own motion vectors. With --reference, also "
                                          "(or, without --passes, only) PSNR and SSIM of each version against a "
                                          "reference image or folder, to compare engine versions or devices.")
    p.add_argument("--passes", help="folder or pattern of the render's multilayer EXRs (needed for the warping "
                                    "error; required unless --reference is given)")
    p.add_argument("--sequence", action="append", metavar="NAME=FRAMES",
                   help="a version of the sequence to measure, e.g. temporal=out/stylized; repeat to compare "
                        "(with --reference, FRAMES may be one image)")
    p.add_argument("--reference", metavar="IMAGE_OR_FOLDER",
                   help="print PSNR (dB, inf when identical) and SSIM (1 when identical) of each --sequence version "
                        "against this image, or against this folder with pictures paired by file name")
    p.add_argument("--flow", choices=FLOW_SOURCES, default="auto")
    p.add_argument("--mask", choices=("standard", "engine"), default="standard",
                   help="pixels the warping error measures: 'standard' = Ruder et al.'s forward-backward and "
                        "motion-boundary tests (default, for reported figures); 'engine' = the temporal term's own "
                        "mask, which also drops pixels whose object id or depth changed")
    p.add_argument("--style", help="also report the mean style distance to this painting")
    p.add_argument("--render", metavar="FRAMES",
                   help="the render's pictures (as stylized): also report legibility, the boundary contrast kept "
                        "(needs Depth in the passes)")
    p.add_argument("--plot", help="write a per-frame plot (PNG)")
    p.add_argument("--curves", metavar="PNG",
                   help="print each version's per-frame curves (contrast kept, style distance, warping error with "
                        "the standard mask and the share measured) and plot them to this PNG; needs --render")
    add_overwrite_option(p)
    p.set_defaults(run=run_metrics)


def run_metrics(args) -> int:
    if args.reference is None:
        missing = [option for option, value in (("--passes", args.passes), ("--sequence", args.sequence)) if not value]
        if missing:  # as argparse says it when --reference does not make them optional
            raise EngineError(f"the following arguments are required: {', '.join(missing)} "
                              "(see 'python -m engine metrics --help')")
    elif not args.sequence:
        raise EngineError("--reference compares versions with it: give --sequence NAME=IMAGE_OR_FOLDER (repeat to "
                          "compare several)")
    if args.passes:
        print_warping_table(args)
    elif args.style or args.render or args.plot or args.curves:
        raise EngineError("--style, --render, --plot and --curves go with the warping error: give --passes too")
    if args.reference is not None:
        tables = reference_tables(args.sequence, Path(args.reference))
        print(("\n" if args.passes else "") + tables)
    return 0


def version_path(spec: str) -> tuple[str, str]:
    """(name, frames) from a --sequence NAME=FRAMES value."""
    name, sep, frames = spec.partition("=")
    if not sep:
        raise EngineError(f"--sequence '{spec}' is not NAME=FRAMES (for example temporal=out/stylized)")
    return name, frames


def reference_tables(versions: list[str], reference: Path) -> str:
    """One PSNR/SSIM table per --sequence version against the reference, each under a line naming both."""
    from ..measures.reference import compare_to_reference, format_reference_table

    tables = []
    for spec in versions:
        name, frames = version_path(spec)
        scores = compare_to_reference(Path(frames), reference)
        tables.append(f"PSNR and SSIM of '{name}' ({frames}) against {reference}\n{format_reference_table(scores)}")
    return "\n\n".join(tables)


def print_warping_table(args) -> None:
    """The warping error (and style distance, contrast kept) of each --sequence version, and the plot."""
    import numpy as np

    from ..imageio.images import read_rgb
    from ..measures.metrics import (
        contrast_kept,
        measured_shares,
        plot_warping_errors,
        standard_motion,
        style_distance,
        warping_errors,
    )
    from ..shapes.structure import read_structure_passes
    from ..shots.temporal import SequenceFrame, frame_motion

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
        name, folder = version_path(spec)
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
    if args.curves:
        print_shot_curves(args, passes, style)


def print_shot_curves(args, passes: list[Path], style) -> None:
    """Per-frame contrast kept, style distance and warping error (standard mask) of each version, and their plot."""
    from ..measures.metrics import plot_shot_curves, shot_curves

    if not args.render:
        raise EngineError("--curves measures contrast kept against the render: give --render FRAMES too")
    renders = frame_files(args.render, "render frames")
    shots = {}
    for spec in args.sequence:
        name, folder = version_path(spec)
        shots[name] = shot_curves(frame_files(folder, f"frames of '{name}'"), passes, renders, style)
        print(f"\nper frame, '{name}': frame | contrast kept | style distance | warping error (standard mask) | "
              "measured\n|---|---|---|---|---|")
        for number, row in enumerate(zip(*shots[name].values()), start=1):
            print(f"| {number} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in row) + " |")
    plot_shot_curves(shots, Path(args.curves))



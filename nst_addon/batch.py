"""Headless batch stylization of a .blend's animation, for scripts and render farms.

`python -m nst_addon.batch scene.blend ARGS` (bpy as a module) or `blender -b scene.blend -P scripts/blender_batch.py
-- ARGS`. Prints a line per frame; exits 0 on success, 1 on a failed run, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy

from .property_groups.objects import object_settings
from .property_groups.scene import scene_settings
from .worker_client import protocol

numbers = protocol.numbers  # argparse types that refuse out-of-range numbers

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see --help)\n")


def build_parser(with_blend_file: bool) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m nst_addon.batch" if with_blend_file else "blender_batch.py",
                     description="Render and stylize a .blend's frame range (resumes; never overwrites unless "
                                 "--overwrite).")
    if with_blend_file:
        parser.add_argument("blend_file", help="the .blend file to render")
    parser.add_argument("--style", action="append", default=[], metavar="PATH",
                        help="style image; repeat to blend styles (default: the styles saved in the scene)")
    parser.add_argument("--frames", metavar="A-B", help="frame range, e.g. 1-24 or 7 (default: the scene's)")
    parser.add_argument("--output", metavar="DIR", help="output folder; gets render/ and stylized/ "
                                                        "(default: the scene's, //nst/)")
    parser.add_argument("--method", choices=protocol.METHODS, default="quality",
                        help="quality: the optimizer (default); fast: one network pass, the style's trained model if "
                             "it has one, else the any-style network (any painting, blends too)")
    parser.add_argument("--size", type=numbers.whole(0, 65_536), metavar="PX",
                        help="longest side of the results; 0 or absent: the render's own size")
    parser.add_argument("--iterations", type=numbers.ITERATIONS, metavar="N", help="optimizer iterations per frame")
    parser.add_argument("--strength", type=numbers.FRACTION, help="style strength in [0, 1]")
    parser.add_argument("--seed", type=numbers.whole(0, 2**31 - 1))
    parser.add_argument("--structure", type=float, metavar="S",
                        help="Keep Shapes in [0, 1]: hold silhouettes and edges from the render's passes (quality "
                             "method, Cycles; default: the scene's, 0.5 in a new scene; 0 = off)")
    parser.add_argument("--keep-original", action="append", default=[], metavar="OBJECT",
                        help="leave this object as rendered; repeatable")
    parser.add_argument("--object-style", action="append", default=[], metavar="OBJECT=PATH",
                        help="give this object its own style; repeatable")
    parser.add_argument("--no-temporal", action="store_true",
                        help="stylize each frame on its own (default: flicker-free, from the render's motion vectors)")
    parser.add_argument("--overwrite", action="store_true", help="render and stylize again frames that exist")
    parser.add_argument("--engine-python", metavar="PATH", help="a Python with torch for the engine (default: "
                                                                 "the add-on's preference, else this Python)")
    parser.add_argument("--device", choices=protocol.DEVICES)
    farm = parser.add_argument_group("render-farm tasks", "run one stage on one chunk (--frames) of a shot")
    farm.add_argument("--stage", choices=("all", "render", "stylize", "train", "join"), default="all",
                      help="all: render and stylize (default); render or stylize only; train: the shot's network "
                           "(anchors); join: crossfade overlap chunks into stylized/")
    farm.add_argument("--shot", metavar="S-E", help="the whole shot when --frames is one chunk of it (default: the "
                                                     "frames given are the shot)")
    farm.add_argument("--chunking", choices=protocol.CHUNKINGS, default="strict",
                      help="strict: continue the previous chunk (identical to one machine, chunks in order); overlap: "
                           "start --warmup frames early, join after (parallel); anchors: a network trained on "
                           "--keyframes (parallel)")
    farm.add_argument("--warmup", type=numbers.whole(0, 100_000), default=4, metavar="W",
                      help="overlap and anchors: frames run before the chunk (default 4)")
    farm.add_argument("--keyframes", type=numbers.whole(1, 100_000), default=4, metavar="N",
                      help="anchors: keyframes (default 4)")
    farm.add_argument("--train-steps", type=numbers.whole(1, 10_000_000), metavar="N",
                      help="anchors: training steps of the shot's network")
    farm.add_argument("--resume-from", metavar="DIR", help="strict: the previous chunk's stylized frames, if not in "
                                                          "OUTPUT/stylized")
    return parser


def apply_arguments(scene: bpy.types.Scene, args: argparse.Namespace) -> None:
    """Put the command line's choices into the scene's (unsaved) settings; raises ValueError on bad ones."""
    settings = scene_settings(scene)
    settings.method = args.method.upper()
    for path in args.style:
        if not Path(path).is_file():
            raise ValueError(f"style image not found: {path}")
    if args.style:
        settings.styles.clear()
        for path in args.style:
            settings.styles.add().filepath = str(Path(path).resolve())
    if args.frames:
        scene.frame_start, scene.frame_end = protocol.parse_frame_range(args.frames, "--frames")
    if args.output:
        settings.output_folder = str(Path(args.output).resolve())
    settings.preset = "FINAL"
    if args.size is not None:
        settings.final_size_px = args.size
    if args.iterations is not None:
        settings.final_iterations = args.iterations
    if args.strength is not None:
        settings.strength = args.strength
    if args.seed is not None:
        settings.seed = args.seed
    if args.structure is not None:
        if not 0.0 <= args.structure <= 1.0:
            raise ValueError(f"--structure takes a value from 0 to 1, got {args.structure:g}")
        settings.keep_shapes = args.structure
    settings.overwrite = args.overwrite
    if args.no_temporal:
        settings.temporal = False
    if args.train_steps is not None:
        settings.train_steps = args.train_steps
    if args.shot:
        shot = protocol.parse_frame_range(args.shot, "--shot")
        if args.frames and not (shot[0] <= scene.frame_start <= scene.frame_end <= shot[1]):
            raise ValueError(f"--frames {args.frames} is not inside --shot {args.shot}")
        if not args.frames:
            scene.frame_start, scene.frame_end = shot
    for name in args.keep_original:
        object_settings(_object(scene, name)).mode = "KEEP"
    for pair in args.object_style:
        name, sep, path = pair.partition("=")
        if not sep or not path:
            raise ValueError(f"--object-style '{pair}' is not OBJECT=PATH")
        if not Path(path).is_file():
            raise ValueError(f"--object-style {name}: style image not found: {path}")
        ob = _object(scene, name)
        own = object_settings(ob)
        own.mode, own.style_path = "OWN", str(Path(path).resolve())


def refuse_overwriting(scene: bpy.types.Scene) -> None:
    """ValueError if a file the job renders or stylizes (OUTPUT/render/, OUTPUT/stylized/) is one of its inputs: a
    style, an object's style, the .blend file; checked before any work."""
    from .rendering import FrameFiles

    settings = scene_settings(scene)
    folder = Path(bpy.path.abspath(settings.output_folder))
    frames = [FrameFiles.in_folder(folder, n) for n in range(scene.frame_start, scene.frame_end + 1)]
    own = [object_settings(ob).style_path for ob in scene.objects if object_settings(ob).mode == "OWN"]
    inputs = {"a style": [bpy.path.abspath(s.filepath) for s in settings.styles if s.filepath],
              "an object's style": [bpy.path.abspath(path) for path in own if path],
              "the .blend file": [bpy.data.filepath]}
    try:
        protocol.refuse_overwrite_all([p for f in frames for p in (f.display, f.passes, f.stylized)], inputs,
                                      "the frame file")
    except protocol.OverwritesInput as exc:
        raise ValueError(str(exc)) from None


def _object(scene: bpy.types.Scene, name: str) -> bpy.types.Object:
    ob = scene.objects.get(name)
    if ob is None:
        raise ValueError(f"no object named '{name}' in the scene '{scene.name}' (it has: "
                         f"{', '.join(sorted(o.name for o in scene.objects))})")
    return ob


def _is_farm_task(args: argparse.Namespace) -> bool:
    """Whether the command asks for one farm stage or chunk, rather than the whole animation."""
    return args.stage != "all" or bool(args.shot) or args.chunking != "strict"


def _ensure_registered() -> None:
    """Register the add-on unless an installed copy of it already is (e.g. enabled in this Blender)."""
    if not hasattr(bpy.types.Scene, "nst"):
        from . import register

        register()


def run(args: argparse.Namespace) -> int:
    _ensure_registered()
    if args.engine_python or args.device:
        from .preferences import override_engine_settings

        override_engine_settings(**{k: v for k, v in (("python", args.engine_python), ("device", args.device)) if v})
    scene = bpy.context.scene
    assert scene is not None
    try:
        apply_arguments(scene, args)
        refuse_overwriting(scene)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"[nst] {scene.name}: frames {scene.frame_start}-{scene.frame_end} -> "
          f"{bpy.path.abspath(scene_settings(scene).output_folder)}", flush=True)
    try:
        if _is_farm_task(args):
            result = getattr(bpy.ops, "nst").farm_task(
                stage=args.stage.upper(), shot=args.shot or "", chunking=args.chunking.upper(), warmup=args.warmup,
                keyframes=args.keyframes, resume_from=args.resume_from or "")
        else:
            result = getattr(bpy.ops, "nst").stylize_animation()
    except RuntimeError as exc:
        print(f"error: {str(exc).removeprefix('Error: ').strip()}", file=sys.stderr)
        return EXIT_FAILED
    if "FINISHED" not in result:
        print(f"error: {scene_settings(scene).status}", file=sys.stderr)
        return EXIT_FAILED
    print(f"[nst] {scene_settings(scene).status}", flush=True)
    return 0


def main(argv: list[str] | None = None, blend_open: bool = False) -> int:
    """`blend_open`: Blender already opened the file (`blender -b scene.blend -P ...`)."""
    args = build_parser(with_blend_file=not blend_open).parse_args(argv)
    if not blend_open:
        if not Path(args.blend_file).is_file():
            print(f"error: the .blend file {args.blend_file} does not exist", file=sys.stderr)
            return EXIT_BAD_INPUT
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend_file).resolve()))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

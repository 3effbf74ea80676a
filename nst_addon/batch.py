"""Headless batch stylization of a .blend's animation, for scripts and render farms.

`python -m nst_addon.batch scene.blend ARGS` (bpy as a module) or `blender -b scene.blend -P scripts/blender_batch.py
-- ARGS`. Prints a line per frame; exits 0 on success, 1 on a failed run, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import bpy

from .property_groups.objects import object_settings
from .property_groups.scene import scene_settings
from .worker_client import protocol

numbers = protocol.numbers  # argparse types that refuse out-of-range numbers

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
MAX_FRAME = 1_048_574  # Blender's frame limits (MINFRAME 0, MAXFRAME)
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"v/1\x01", b"BM", b"#?RADIANCE",
               b"#?RGBE")


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
        check_image(path, "--style")
    if args.style:
        settings.styles.clear()
        for path in args.style:
            settings.styles.add().filepath = str(Path(path).resolve())
    scene_range = (scene.frame_start, scene.frame_end)
    if args.frames:
        scene.frame_start, scene.frame_end = frame_range(args.frames, "--frames")
        if not (scene_range[0] <= scene.frame_start <= scene.frame_end <= scene_range[1]):
            print(f"warning: --frames {args.frames} is outside the scene's range {scene_range[0]}-{scene_range[1]}; "
                  "rendering the frames asked for", file=sys.stderr, flush=True)
    if args.output:
        check_output_folder(args.output)
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
        shot = frame_range(args.shot, "--shot")
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
        check_image(path, f"--object-style {name}")
        ob = _object(scene, name)
        own = object_settings(ob)
        own.mode, own.style_path = "OWN", str(Path(path).resolve())


def frame_range(text: str, option: str) -> tuple[int, int]:
    """`A-B` as (first, last) inside Blender's frame limits; ValueError naming `option`."""
    first, last = protocol.parse_frame_range(text, option)
    if first < 0 or last > MAX_FRAME:
        raise ValueError(f"{option} '{text}' is outside Blender's frame limits 0-{MAX_FRAME}")
    return first, last


def check_image(path: str, option: str) -> None:
    """ValueError naming `option` unless `path` is a readable image file (by its first bytes, and by Pillow's
    header check where Pillow is installed); nothing is decoded."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{option} {path}: the image file does not exist")
    try:
        with open(file, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot be read ({exc.strerror or exc})") from None
    riff_webp = head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    if not (head.startswith(IMAGE_MAGIC) or riff_webp or file.suffix.lower() == ".tga"):
        raise ValueError(f"{option} {path}: not an image (PNG, JPEG, TIFF, WebP, EXR, BMP, HDR, TGA)")
    try:
        from PIL import Image
    except ImportError:
        return
    if head.startswith(b"v/1\x01") or head.startswith(b"#?"):
        return  # EXR and HDR: Pillow does not read them
    try:
        with Image.open(file) as image:
            image.verify()
    except Exception as exc:  # Pillow raises many types for a damaged file
        raise ValueError(f"{option} {path}: the image is damaged or truncated ({type(exc).__name__})") from None


def check_output_folder(path: str) -> None:
    """ValueError naming --output unless the folder exists or can be made, and can be written; leaves nothing."""
    folder = Path(path).resolve()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"--output {path}: {existing} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".nst-probe-", dir=existing)
        os.rmdir(probe)
    except OSError as exc:
        raise ValueError(f"--output {path}: cannot write in {existing} ({exc.strerror or exc})") from None


def check_styles(scene: bpy.types.Scene, args: argparse.Namespace) -> None:
    """ValueError unless a stage that paints has a style, every style file of the scene an image."""
    if args.stage in ("render", "join"):
        return
    settings = scene_settings(scene)
    used = [item for item in settings.styles if item.weight > 0 and (item.image is not None or item.filepath)]
    if not used:
        raise ValueError("--style: no style given, and the scene has none; give --style PATH")
    if not args.style:
        for index, item in enumerate(settings.styles):
            if item.image is None and item.filepath and item.weight > 0:
                check_image(bpy.path.abspath(item.filepath), f"the scene's style {index + 1}")


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
        check_styles(scene, args)
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
        try:
            bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend_file).resolve()))
        except RuntimeError as exc:
            reason = str(exc).removeprefix("Error: ").strip().splitlines()[0] if str(exc).strip() else "unreadable"
            print(f"error: the .blend file {args.blend_file} cannot be opened (empty, truncated or corrupt): "
                  f"{reason}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

"""Evidence that Keep Shapes holds along a shot: contrast kept, style distance and warping error per frame.

Renders a shot no test or tuning uses ('lamplight': the camera trucks past the lamplight scene's ico sphere and ring
stack while the sphere rises; Vector, Depth, Object Index and Normal passes), stylizes it temporal (quality, default
settings) with the default Keep Shapes and with --structure 0 (and frame by frame with --frame-by-frame), prints
the per-frame curves and the acceptance ratios of issue 20, and writes a contact sheet, a plot and a JSON record.
`--frames 48 --size 64` is the long-shot check: the slope of contrast kept and style distance per frame.
Usage: python scripts/shapes_hold.py [--shot lamplight|orbit|occluder] [--frames 12] [--size 128]
                                     [--iterations 300] [--frame-by-frame] [--out out/shapes_hold]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import plot_shot_curves, shot_curves  # noqa: E402
from engine.shapes.structure import DEFAULT_STRUCTURE  # noqa: E402
from engine.shots.temporal import SequenceFrame, SequenceSettings, stylize_sequence  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402

STYLE = REPO / "styles" / "starry_night.jpg"


def render_lamplight_shot(folder: Path, frames: int, width: int, height: int) -> None:
    """The lamplight scene (scripts/structure_evidence.py) as a shot: the camera trucks right and the ico sphere
    rises and turns, so boundaries move, occlude and disocclude."""
    import bpy
    from structure_evidence import _scene_lamplight, empty_shot, render_shot

    scene = empty_shot(frames, width, height)
    _scene_lamplight("lamplight")
    ico, camera = bpy.data.objects["Ico"], scene.camera
    for frame, lift, spin, x in ((1, 0.8, 0.0, 0.0), (frames, 1.05, 0.8, 0.7)):
        ico.location.z, ico.rotation_euler.z = lift, spin
        ico.keyframe_insert("location", frame=frame)
        ico.keyframe_insert("rotation_euler", frame=frame)
        camera.location.x = x
        camera.keyframe_insert("location", frame=frame)
    render_shot(scene, folder, frames)


def shot_folder(name: str, frames: int) -> Path:
    """The renders of a shot (frame_NNNN.png + .exr), rendered in Blender the first time."""
    if name != "lamplight":
        from structure_evidence import shot_renders

        return shot_renders(name, frames)
    renders = REPO / "out" / "shapes_hold" / f"lamplight_render_{frames}"
    if not (renders / f"frame_{frames:04d}.exr").exists():
        render_lamplight_shot(renders, frames, 192, 108)
    return renders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shot", choices=("lamplight", "orbit", "occluder"), default="lamplight")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=300, help="first frame; later frames: half")
    parser.add_argument("--frame-by-frame", action="store_true", help="also stylize every frame on its own")
    parser.add_argument("--out", default=str(REPO / "out" / "shapes_hold"))
    args = parser.parse_args()
    renders = shot_folder(args.shot, args.frames)
    pngs = sorted(renders.glob("frame_*.png"))[: args.frames]
    exrs = [png.with_suffix(".exr") for png in pngs]
    style = read_rgb(STYLE)
    out = Path(args.out) / f"{args.shot}_{args.frames}x{args.size}"
    runs = {f"structure {DEFAULT_STRUCTURE:g}": (True, DEFAULT_STRUCTURE), "structure 0": (True, 0.0)}
    if args.frame_by_frame:
        runs["frame by frame"] = (False, DEFAULT_STRUCTURE)
    engine = StyleTransfer(device="cpu")
    curves = {}
    for name, (temporal, structure) in runs.items():
        folder = out / name.replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        frames = [SequenceFrame(p, folder / p.name, e) for p, e in zip(pngs, exrs)]
        stylize_sequence(engine, frames, [style], SequenceSettings(
            temporal=temporal, structure=structure, overwrite=True,
            stylize_options=dict(size_px=args.size, iterations=args.iterations)))
        curves[name] = shot_curves([f.output for f in frames], exrs, pngs, style)
        print(f"\n{name}: frame | contrast kept | style distance | warping error (standard mask) | measured")
        for number, row in enumerate(zip(*curves[name].values()), start=1):
            print(f"| {number} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in row) + " |")
    record = acceptance(curves, f"structure {DEFAULT_STRUCTURE:g}", "structure 0")
    if args.frames >= 24:
        for name, curve in curves.items():
            record[f"{name} slopes per frame"] = {key: float(np.polyfit(np.arange(len(curve[key])), curve[key], 1)[0])
                                                 for key in ("contrast_kept", "style_distance")}
    print(json.dumps(record, indent=2))
    (out / "figures.json").write_text(json.dumps({"curves": curves, **record}, indent=2) + "\n")
    plot_shot_curves(curves, out / "curves.png")
    return 0


def acceptance(curves: dict, with_structure: str, without: str) -> dict:
    """Issue 20's ratios: last 4 frames' mean contrast kept against frame 1's and against structure 0's, and the
    mean warping error against structure 0's."""
    kept, off = curves[with_structure]["contrast_kept"], curves[without]["contrast_kept"]
    errors, errors_off = curves[with_structure]["warping_error"][1:], curves[without]["warping_error"][1:]
    return {"last 4 / frame 1": float(np.mean(kept[-4:]) / kept[0]),
            "last 4 / structure 0's": float(np.mean(kept[-4:]) / np.mean(off[-4:])),
            "warping error / structure 0's": float(np.mean(errors) / np.mean(errors_off))}


if __name__ == "__main__":
    sys.exit(main())

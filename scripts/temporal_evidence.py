"""Evidence for flicker-free animation: frame-by-frame vs temporal stylization of a rendered shot, measured with
the render's own motion vectors (warping error), plus per-frame style distances, a plot and a side-by-side GIF.

Scenes: 'occluder' (built here: camera pans while a pillar crosses in front of a textured ball) or any folder of
renders from the add-on (`--renders DIR` holding frame_NNNN.png + frame_NNNN.exr, e.g. out/demo/render).
Usage: python scripts/temporal_evidence.py [--renders DIR] [--size 192] [--iterations 100] [--out out/temporal]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.sheets import caption, join  # noqa: E402
from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import plot_warping_errors, style_distance, warping_errors  # noqa: E402
from engine.shots.temporal import SequenceFrame, SequenceSettings, frame_motion, stylize_sequence  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402

STYLE = REPO / "styles" / "starry_night.jpg"


def render_occluder_scene(folder: Path, frames: int, width: int, height: int) -> None:
    """Camera pans across a textured ball on a checker floor while a pillar crosses in front of the ball."""
    from bench.scenes import (
        add_camera,
        add_light,
        add_mesh,
        empty_scene,
        enable_passes,
        keyframes,
        ramp_textured,
        render_frames,
    )

    scene = empty_scene((width, height), samples=8, frames=frames, denoise=True, world_rgb=(0.5, 0.6, 0.75))
    add_mesh("plane", ramp_textured("Floor", "ShaderNodeTexChecker", ((0.8, 0.75, 0.6), (0.3, 0.35, 0.4)), 12),
             name="Floor", pass_index=1, size=20)
    add_mesh("uv_sphere", ramp_textured("Ball", "ShaderNodeTexNoise", ((0.9, 0.4, 0.1), (0.2, 0.5, 0.8)), 4),
             name="Ball", pass_index=2, smooth=True, radius=1.0, location=(0, 0, 1))
    pillar = add_mesh("cylinder", ramp_textured("Pillar", "ShaderNodeTexWave", ((0.9, 0.9, 0.85), (0.4, 0.2, 0.3)), 3),
                      name="Pillar", pass_index=3, radius=0.25, depth=4, location=(-2.5, -2.2, 2))
    keyframes(pillar, "location", {1: (-2.5, -2.2, 2), frames: (2.5, -2.2, 2)})
    camera = add_camera(scene, location=(-1.5, -8, 3), rotation=(1.3, 0, -0.15))
    keyframes(camera, "location", {1: (-1.5, -8, 3), frames: (1.5, -8, 3)})
    keyframes(camera, "rotation_euler", {1: (1.3, 0, -0.15), frames: (1.3, 0, 0.15)})
    add_light("SUN", 3.0, rotation=(0.7, 0.3, 0.5))
    enable_passes(scene, object_index=True)
    render_frames(scene, folder)


def side_by_side_gif(left: list[Path], right: list[Path], path: Path, labels=("frame by frame", "temporal")) -> None:
    """An animated GIF of two frame sequences side by side, each under its label."""
    frames = [join([caption(Image.open(a), labels[0], 18), caption(Image.open(b), labels[1], 18)], gap_px=6)
              for a, b in zip(left, right)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=125, loop=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", help="folder of frame_NNNN.png + frame_NNNN.exr (default: render the occluder "
                                          "scene)")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--temporal-weight", type=float, default=50.0)
    parser.add_argument("--out", default=str(REPO / "out" / "temporal"))
    args = parser.parse_args()
    out = Path(args.out)
    renders = Path(args.renders) if args.renders else out / "render"
    if not args.renders and not (renders / f"frame_{args.frames:04d}.exr").exists():
        render_occluder_scene(renders, args.frames, args.size, args.size * 9 // 16)
    pngs = sorted(renders.glob("frame_*.png"))
    exrs = sorted(renders.glob("frame_*.exr"))
    style = read_rgb(STYLE)
    engine = StyleTransfer()
    figures, curves = {}, {}
    for name, temporal in (("frame_by_frame", False), ("temporal", True)):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        frames = [SequenceFrame(p, folder / p.name, e) for p, e in zip(pngs, exrs)]
        settings = SequenceSettings(temporal=temporal, temporal_weight=args.temporal_weight,
                                    stylize_options=dict(size_px=args.size, iterations=args.iterations))
        started = time.perf_counter()
        stylize_sequence(engine, frames, [style], settings)
        images = [read_rgb(f.output) for f in frames]
        cache: dict = {}
        motions = [frame_motion(b, a, None, None, "vectors", cache) for a, b in zip(frames, frames[1:])]
        curves[name] = warping_errors(images, motions)
        figures[name] = {"warping_error": float(np.mean(curves[name])),
                         "style_distance": [style_distance(i, style) for i in images],
                         "seconds": round(time.perf_counter() - started, 1)}
    renders_images = [read_rgb(p) for p in pngs]
    cache = {}
    items = [SequenceFrame(p, p, e) for p, e in zip(pngs, exrs)]
    motions = [frame_motion(b, a, None, None, "vectors", cache) for a, b in zip(items, items[1:])]
    curves["render"] = warping_errors(renders_images, motions)
    figures["render"] = {"warping_error": float(np.mean(curves["render"]))}
    plot_warping_errors(curves, out / "warping_error.png")
    ratio = figures["temporal"]["warping_error"] / figures["frame_by_frame"]["warping_error"]
    worst_style = max(t / f for t, f in zip(figures["temporal"]["style_distance"],
                                            figures["frame_by_frame"]["style_distance"]))
    figures["summary"] = {"temporal_over_frame_by_frame_warping_error": round(ratio, 3),
                          "worst_frame_style_distance_ratio": round(worst_style, 3)}
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    side_by_side_gif(sorted((out / "frame_by_frame").glob("*.png")), sorted((out / "temporal").glob("*.png")),
                     out / "side_by_side.gif")
    print(json.dumps(figures["summary"]), json.dumps({k: v["warping_error"] for k, v in figures.items()
                                                       if "warping_error" in v}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: the whole pipeline on the CPU. Builds a scene in Blender, renders a short animation with passes,
stylizes it through the engine worker with per-object styles and one object kept original, and writes
frames, a GIF and a contact sheet under out/demo/ (timings in out/demo/timings.json).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import bpy  # noqa: E402 - the real Blender, as a Python module
from PIL import Image  # noqa: E402

import nst_addon  # noqa: E402
from bench.scenes import add_camera, add_light, add_mesh, empty_scene, keyframes, principled  # noqa: E402
from bench.sheets import caption, join, save  # noqa: E402
from nst_addon import batch  # noqa: E402

STYLES = REPO / "styles"
WIDTH_PX, HEIGHT_PX = 256, 144
FRAMES = 8


def build_scene(path: Path, samples: int) -> None:
    """A floor, a still life (tower, ball, ring) and a camera that swings around it."""
    scene = empty_scene((WIDTH_PX, HEIGHT_PX), samples=samples, frames=FRAMES, denoise=True,
                        world_rgb=(0.45, 0.55, 0.7))
    add_mesh("plane", principled("Meadow", (0.35, 0.5, 0.2), roughness=0.9), name="Floor", size=40)
    tower = add_mesh("cylinder", principled("Stone", (0.75, 0.7, 0.6), roughness=0.7), name="Tower", smooth=True,
                     radius=0.7, depth=3.0, location=(-1.8, 0.8, 1.5))
    ball = add_mesh("uv_sphere", principled("Red Paint", (0.8, 0.08, 0.05), roughness=0.3), name="Ball",
                    smooth=True, radius=0.9, location=(1.6, -0.2, 0.9))
    ring = add_mesh("torus", principled("Gold", (0.9, 0.65, 0.2), roughness=0.25, metallic=1.0), name="Ring",
                    smooth=True, location=(0.0, -1.2, 0.45), major_radius=0.9, minor_radius=0.3)
    ring.rotation_euler = (math.radians(70), 0, 0)

    bpy.ops.object.empty_add(location=(0, 0, 1))
    pivot = bpy.context.object
    camera = add_camera(scene, location=(0, -11, 4.0))
    camera.parent = pivot
    camera.constraints.new("TRACK_TO").target = pivot
    keyframes(pivot, "rotation_euler", {1: (0, 0, math.radians(-25)), FRAMES: (0, 0, math.radians(25))})
    add_light("SUN", 3.5, rotation=(math.radians(50), 0, math.radians(30)))

    # The per-object look: the tower gets its own painting, the ball stays as rendered, the rest takes the scene's.
    tower.nst.mode, tower.nst.style_path = "OWN", str(STYLES / "shipwreck.jpg")
    ball.nst.mode = "KEEP"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))


def gif_and_contact_sheet(folder: Path, frames: list[int]) -> None:
    """demo.gif (render | stylized), stylized.gif, and contact_sheet.png: up to five frames, render over stylized."""
    rendered = [Image.open(folder / "render" / f"frame_{f:04d}.png").convert("RGB") for f in frames]
    stylized = [Image.open(folder / "stylized" / f"frame_{f:04d}.png").convert("RGB") for f in frames]
    pairs = [join([left, right.resize(left.size)]) for left, right in zip(rendered, stylized)]
    pairs[0].save(folder / "demo.gif", save_all=True, append_images=pairs[1:], duration=120, loop=0)
    stylized[0].save(folder / "stylized.gif", save_all=True, append_images=stylized[1:], duration=120, loop=0)

    columns = min(5, len(frames))
    picked = [frames[round(i * (len(frames) - 1) / max(1, columns - 1))] for i in range(columns)]
    size = rendered[0].size
    cells = [[caption(images[frames.index(frame)].resize(size), f"frame {frame} {what}", 14) for frame in picked]
             for images, what in ((rendered, "render"), (stylized, "stylized"))]
    save(join([join(row) for row in cells], vertical=True), folder / "contact_sheet.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(REPO / "out" / "demo"))
    parser.add_argument("--iterations", type=int, default=100,
                        help="optimizer iterations per scale for the first frame (later frames: half)")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--resume", action="store_true", help="keep finished frames from an earlier run")
    args = parser.parse_args()
    folder = Path(args.output)
    if folder.exists() and not args.resume:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    blend = folder / "demo.blend"
    nst_addon.register()
    build_scene(blend, args.samples)
    built = time.perf_counter()
    status = batch.main([str(blend), "--style", str(STYLES / "starry_night.jpg"), "--output", str(folder),
                         "--size", str(WIDTH_PX), "--iterations", str(args.iterations), "--strength", "1.0",
                         "--seed", "1"])
    if status != 0:
        print(f"demo failed (status {status})", file=sys.stderr)
        return status
    stylized = time.perf_counter()
    gif_and_contact_sheet(folder, list(range(1, FRAMES + 1)))
    finished = time.perf_counter()
    timings = {"frames": FRAMES, "size_px": [WIDTH_PX, HEIGHT_PX], "cycles_samples": args.samples,
               "iterations_per_scale": args.iterations, "scene_s": round(built - started, 1),
               "render_and_stylize_s": round(stylized - built, 1), "gif_and_sheet_s": round(finished - stylized, 1),
               "total_s": round(finished - started, 1)}
    (folder / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"demo: {FRAMES} frames in {timings['total_s']} s -> {folder}/demo.gif, {folder}/contact_sheet.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

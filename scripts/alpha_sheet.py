"""The README's transparent-render picture: a Film > Transparent render, stylized the old way (alpha dropped: an RGB
frame with a black, stylized background) and now (alpha kept, composited over a colour) -> docs/images/alpha_sheet.jpg.

.venv/bin/python scripts/alpha_sheet.py [--model starry_night | --iterations 60]   (Cycles on the CPU, then the
engine CLI: a fast model by default, seconds on a CPU; --model none optimizes, minutes)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.sheets import caption, join, save  # noqa: E402

BACKGROUND = (0.42, 0.1, 0.12)  # crimson: apart from the painting's blues and yellows


def render(path: Path, width: int, height: int) -> None:
    """Suzanne and a torus, lit by a sun, on a transparent film; written as Blender writes an RGBA PNG."""
    import bpy

    from bench.scenes import add_camera, add_light, add_mesh, empty_scene, principled

    scene = empty_scene((width, height), samples=32, standard_view=True, transparent=True,
                        world_rgb=(0.25, 0.25, 0.25))
    monkey = add_mesh("monkey", principled("Suzanne", (0.8, 0.45, 0.2)), smooth=True, location=(-0.7, 0, 0),
                      rotation=(0, 0, 0.35))
    monkey.modifiers.new("smooth", "SUBSURF").levels = 2
    torus = add_mesh("torus", principled("Torus", (0.85, 0.8, 0.75)), smooth=True, location=(1.3, 0.6, -0.1),
                     rotation=(1.2, 0.3, 0))
    torus.scale = (0.8, 0.8, 0.8)
    add_camera(scene, location=(0.3, -6.5, 0.6), rotation=(1.5, 0, 0))
    add_light("SUN", 4.0, rotation=(0.7, -0.3, -0.5))
    bpy.ops.render.render()
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGBA", "8"
    bpy.data.images["Render Result"].save_render(str(path), scene=scene)


def over(rgba: np.ndarray, background) -> np.ndarray:
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + np.asarray(background, np.float32) * (1 - alpha)


def checker(height: int, width: int, px: int = 12) -> np.ndarray:
    rows, cols = np.indices((height, width)) // px
    return np.where(((rows + cols) % 2 == 0)[..., None], 0.8, 0.6).astype(np.float32) * np.ones(3, np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model", default="starry_night", help="fast model, or 'none' to optimize")
    parser.add_argument("--iterations", type=int, default=60, help="with --model none: iterations per scale")
    parser.add_argument("--output", default=str(REPO / "docs" / "images" / "alpha_sheet.jpg"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alpha-sheet-"))
    content = work / "render.png"
    render(content, args.size, args.size * 3 // 4)
    rgba = np.asarray(Image.open(content), np.float32) / 255
    before = work / "before.png"  # what the engine did before: the render over black, alpha dropped
    Image.fromarray(np.rint(rgba[..., :3] * rgba[..., 3:] * 255).astype(np.uint8)).save(before)
    common = (["--style", str(REPO / "styles" / "starry_night.jpg"), "--iterations", str(args.iterations), "--scales",
               "2", "--seed", "1"] if args.model == "none" else ["--model", args.model])
    common += ["--size", str(args.size), "--quiet"]
    for source, output in ((before, work / "before_out.png"), (content, work / "now_out.png")):
        subprocess.run([sys.executable, "-m", "engine", "stylize", "--content", str(source), "--output", str(output),
                        *common], cwd=REPO, check=True)
    before_out = np.asarray(Image.open(work / "before_out.png").convert("RGB"), np.float32) / 255
    now_out = np.asarray(Image.open(work / "now_out.png"), np.float32) / 255
    height, width = rgba.shape[:2]
    panels = [over(rgba, checker(height, width)), before_out, over(now_out, BACKGROUND)]
    labels = ["render, Film > Transparent", "before: RGB, its black background stylized",
              "now: alpha kept, over crimson"]
    sheet = save(join([caption(panel, label) for panel, label in zip(panels, labels)], gap_px=6), Path(args.output),
                 quality=90)
    print(f"wrote {sheet}; files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

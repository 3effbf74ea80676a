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
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
BACKGROUND = (0.42, 0.1, 0.12)  # crimson: apart from the painting's blues and yellows


def render(path: Path, width: int, height: int) -> None:
    """Suzanne and a torus, lit by a sun, on a transparent film; written as Blender writes an RGBA PNG."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 32, False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.film_transparent = True
    scene.view_settings.view_transform = "Standard"

    def add(operator, colour, **place):
        operator(**place)
        ob = bpy.context.object
        material = bpy.data.materials.new(ob.name)
        material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*colour, 1.0)
        ob.data.materials.append(material)
        bpy.ops.object.shade_smooth()
        return ob

    monkey = add(bpy.ops.mesh.primitive_monkey_add, (0.8, 0.45, 0.2), location=(-0.7, 0, 0), rotation=(0, 0, 0.35))
    monkey.modifiers.new("smooth", "SUBSURF").levels = 2
    torus = add(bpy.ops.mesh.primitive_torus_add, (0.85, 0.8, 0.75), location=(1.3, 0.6, -0.1), rotation=(1.2, 0.3, 0))
    torus.scale = (0.8, 0.8, 0.8)
    bpy.ops.object.camera_add(location=(0.3, -6.5, 0.6), rotation=(1.5, 0, 0))
    scene.camera = bpy.context.object
    bpy.ops.object.light_add(type="SUN", rotation=(0.7, -0.3, -0.5))
    bpy.context.object.data.energy = 4.0
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.25, 0.25, 0.25)
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
    gap, caption = 6, 22
    sheet = Image.new("RGB", (3 * width + 2 * gap, height + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (panel, label) in enumerate(zip(panels, labels)):
        x = index * (width + gap)
        sheet.paste(Image.fromarray(np.rint(np.clip(panel, 0, 1) * 255).astype(np.uint8)), (x, caption))
        draw.text((x + 4, 5), label, fill="black")
    sheet.save(args.output, quality=90)
    print(f"wrote {args.output} ({sheet.width}x{sheet.height}); files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

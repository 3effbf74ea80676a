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

from engine.imageio import read_rgb  # noqa: E402
from engine.metrics import plot_warping_errors, style_distance, warping_errors  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402
from engine.temporal import SequenceFrame, SequenceSettings, frame_motion, stylize_sequence  # noqa: E402

STYLE = REPO / "styles" / "starry_night.jpg"


def render_occluder_scene(folder: Path, frames: int, width: int, height: int) -> None:
    """Camera pans across a textured ball on a checker floor while a pillar crosses in front of the ball."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 8, True
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.use_motion_blur = False
    scene.frame_start, scene.frame_end = 1, frames
    scene.world = bpy.data.worlds.new("Sky")
    scene.world.color = (0.5, 0.6, 0.75)

    def textured(name, texture, colors, scale):
        material = bpy.data.materials.new(name)
        tree = material.node_tree
        node = tree.nodes.new(texture)
        node.inputs["Scale"].default_value = scale
        ramp = tree.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color, ramp.color_ramp.elements[1].color = (*colors[0], 1), (*colors[1], 1)
        tree.links.new(node.outputs["Fac"], ramp.inputs["Fac"])
        tree.links.new(ramp.outputs["Color"], tree.nodes["Principled BSDF"].inputs["Base Color"])
        return material

    def add(op, name, material, index, **kwargs):
        op(**kwargs)
        ob = bpy.context.object
        ob.name, ob.pass_index = name, index
        ob.data.materials.append(material)
        return ob

    add(bpy.ops.mesh.primitive_plane_add, "Floor", textured("Floor", "ShaderNodeTexChecker",
                                                            ((0.8, 0.75, 0.6), (0.3, 0.35, 0.4)), 12), 1, size=20)
    add(bpy.ops.mesh.primitive_uv_sphere_add, "Ball", textured("Ball", "ShaderNodeTexNoise",
                                                                     ((0.9, 0.4, 0.1), (0.2, 0.5, 0.8)), 4), 2,
               radius=1.0, location=(0, 0, 1))
    bpy.ops.object.shade_smooth()
    pillar = add(bpy.ops.mesh.primitive_cylinder_add, "Pillar", textured("Pillar", "ShaderNodeTexWave",
                                                                         ((0.9, 0.9, 0.85), (0.4, 0.2, 0.3)), 3), 3,
                 radius=0.25, depth=4, location=(-2.5, -2.2, 2))
    for frame, x in ((1, -2.5), (frames, 2.5)):
        pillar.location.x = x
        pillar.keyframe_insert("location", frame=frame)
    bpy.ops.object.camera_add(location=(-1.5, -8, 3), rotation=(1.3, 0, -0.15))
    camera = bpy.context.object
    scene.camera = camera
    for frame, x, z_rotation in ((1, -1.5, -0.15), (frames, 1.5, 0.15)):
        camera.location.x, camera.rotation_euler.z = x, z_rotation
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    bpy.ops.object.light_add(type="SUN", rotation=(0.7, 0.3, 0.5))
    bpy.context.object.data.energy = 3.0
    layer = scene.view_layers[0]
    layer.use_pass_vector = layer.use_pass_z = layer.use_pass_object_index = True
    settings = scene.render.image_settings
    folder.mkdir(parents=True, exist_ok=True)
    for frame in range(1, frames + 1):
        scene.frame_set(frame)
        bpy.ops.render.render()
        result = bpy.data.images["Render Result"]
        settings.media_type, settings.file_format, settings.color_depth = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER", "32"
        result.save_render(str(folder / f"frame_{frame:04d}.exr"), scene=scene)
        settings.media_type, settings.file_format = "IMAGE", "PNG"
        settings.color_mode, settings.color_depth = "RGB", "8"
        result.save_render(str(folder / f"frame_{frame:04d}.png"), scene=scene)


def side_by_side_gif(left: list[Path], right: list[Path], path: Path, labels=("frame by frame", "temporal")) -> None:
    from PIL import ImageDraw

    frames = []
    for a, b in zip(left, right):
        one, two = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
        canvas = Image.new("RGB", (one.width + two.width + 6, one.height + 18), "white")
        canvas.paste(one, (0, 18))
        canvas.paste(two, (one.width + 6, 18))
        draw = ImageDraw.Draw(canvas)
        draw.text((4, 3), labels[0], fill="black")
        draw.text((one.width + 10, 3), labels[1], fill="black")
        frames.append(canvas)
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

"""Evidence for the structure term: boundary contrast kept and style distance at structure 0, the default and 1.

Renders still scenes in Blender (Cycles; Depth, Object Index and Normal passes), stylizes each at every structure
value and prints one table row per scene plus the ratios against structure 0, and writes a contact sheet.
The 'tuning' scenes are the ones the default was chosen on; the 'held_out' scenes (other objects, cameras and
backgrounds) are used by nothing else, so they are the acceptance figures.
`--shot occluder|orbit` instead checks flicker: a shot (the occluder pan of scripts/temporal_evidence.py, or the
orbit shot rendered here) stylized temporal without and with the default structure (and frame by frame if asked),
scored with both flicker masks (share of pixels measured), the error split between boundaries and surfaces.
Usage: python scripts/structure_evidence.py [--scenes held_out|tuning] [--size 128] [--iterations 50] [--scales 1]
                                           [--out DIR] [--sheet docs/images/structure_sheet.jpg]
       python scripts/structure_evidence.py --shot occluder|orbit [--frames 8] [--size 96] [--iterations 40] [--resume]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from engine.imageio.images import read_rgb, write_image  # noqa: E402
from engine.measures.metrics import contrast_kept, measured_shares, standard_motion, style_distance, warping_errors
from engine.shapes.structure import DEFAULT_STRUCTURE, edge_map, read_structure_passes, structure_map  # noqa: E402
from engine.shots.flow import warp  # noqa: E402
from engine.shots.temporal import SequenceFrame, SequenceSettings, frame_motion, stylize_sequence  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402

STYLES = REPO / "styles"


def _textured(name: str, texture: str, colors, scale: float, roughness: float = 0.6):
    import bpy

    material = bpy.data.materials.new(name)
    tree = material.node_tree
    node = tree.nodes.new(texture)
    node.inputs["Scale"].default_value = scale
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color, ramp.color_ramp.elements[1].color = (*colors[0], 1), (*colors[1], 1)
    tree.links.new(node.outputs["Distance" if "Voronoi" in texture else "Fac"], ramp.inputs["Fac"])
    bsdf = tree.nodes["Principled BSDF"]
    tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = roughness
    return material


def _add(op, name: str, material, index: int, smooth: bool = False, **kwargs):
    import bpy

    op(**kwargs)
    ob = bpy.context.object
    ob.name, ob.pass_index = name, index
    ob.data.materials.append(material)
    if smooth:
        bpy.ops.object.shade_smooth()
    return ob


def _scene_still_life(variant: str) -> None:
    """Tuning scenes: a ball, a box and a column on a checker floor under a sky, two camera angles."""
    import bpy

    _add(bpy.ops.mesh.primitive_plane_add, "Floor", _textured("Floor", "ShaderNodeTexChecker",
                                                              ((0.8, 0.75, 0.6), (0.35, 0.35, 0.4)), 10), 1, size=20)
    _add(bpy.ops.mesh.primitive_uv_sphere_add, "Ball", _textured("Ball", "ShaderNodeTexNoise",
                                                                 ((0.9, 0.4, 0.1), (0.6, 0.2, 0.1)), 4), 2, True,
         radius=1.0, location=(0, 0, 1))
    _add(bpy.ops.mesh.primitive_cube_add, "Box", _textured("Box", "ShaderNodeTexNoise",
                                                           ((0.3, 0.5, 0.8), (0.2, 0.3, 0.5)), 6), 3,
         size=1.4, location=(2.2, 0.8, 0.7), rotation=(0, 0, 0.5))
    _add(bpy.ops.mesh.primitive_cylinder_add, "Column", _textured("Column", "ShaderNodeTexWave",
                                                                  ((0.85, 0.85, 0.8), (0.6, 0.55, 0.5)), 3), 4, True,
         radius=0.4, depth=3.5, location=(-2.2, 1.2, 1.75))
    camera = {"front": ((0, -8, 3), (1.25, 0, 0)), "side": ((6, -5, 4), (1.1, 0, 0.85))}[variant]
    _camera_light(*camera, world=(0.5, 0.6, 0.75), sun=(0.7, 0.3, 0.5))


def _scene_held_out(variant: str) -> None:
    """Held-out scenes: other objects (torus, cone, monkey, rings), other cameras and backgrounds."""
    import bpy

    if variant == "dusk":
        _add(bpy.ops.mesh.primitive_plane_add, "Ground", _textured("Ground", "ShaderNodeTexVoronoi",
                                                                   ((0.25, 0.3, 0.2), (0.45, 0.5, 0.3)), 5), 1, size=30)
        _add(bpy.ops.mesh.primitive_torus_add, "Torus", _textured("Torus", "ShaderNodeTexNoise",
                                                                  ((0.8, 0.7, 0.2), (0.5, 0.3, 0.1)), 5), 2, True,
             location=(-1.2, 0, 0.5), major_radius=1.0, minor_radius=0.35, rotation=(0.4, 0, 0))
        _add(bpy.ops.mesh.primitive_cone_add, "Cone", _textured("Cone", "ShaderNodeTexWave",
                                                                ((0.7, 0.2, 0.3), (0.4, 0.1, 0.2)), 4), 3,
             radius1=0.9, depth=2.4, location=(1.6, 1.0, 1.2))
        _camera_light((3.5, -7, 2.2), (1.35, 0, 0.45), world=(0.12, 0.1, 0.2), sun=(0.9, -0.4, 1.8))
    else:  # "overhead": a monkey and blocks seen from above on a bright wall-like background
        _add(bpy.ops.mesh.primitive_plane_add, "Table", _textured("Table", "ShaderNodeTexWave",
                                                                  ((0.55, 0.35, 0.2), (0.4, 0.25, 0.15)), 2), 1,
             size=9)
        _add(bpy.ops.mesh.primitive_monkey_add, "Monkey", _textured("Monkey", "ShaderNodeTexNoise",
                                                                    ((0.6, 0.65, 0.7), (0.3, 0.35, 0.45)), 3), 2, True,
             size=1.6, location=(0, 0, 0.8), rotation=(0.9, 0, 0.3))
        for number, (x, y) in enumerate(((2.3, -1.0), (-2.2, 1.3), (1.6, 1.9)), start=3):
            _add(bpy.ops.mesh.primitive_cube_add, f"Block{number}",
                 _textured(f"Block{number}", "ShaderNodeTexChecker", ((0.2, 0.6, 0.4), (0.1, 0.4, 0.3)), 4), number,
                 size=0.9, location=(x, y, 0.45), rotation=(0, 0, 0.3 * number))
        _camera_light((0.5, -4.5, 7.5), (0.55, 0, 0.1), world=(0.9, 0.9, 0.85), sun=(0.3, 0.5, 0.2))


def _scene_lamplight(variant: str) -> None:
    """A third held-out scene, added after the default was chosen: a low camera on an ico sphere, a torus knot-like
    ring stack and a slab under a warm point lamp and a dim red-brown world."""
    import bpy

    _add(bpy.ops.mesh.primitive_plane_add, "Slab", _textured("Slab", "ShaderNodeTexMagic",
                                                             ((0.3, 0.3, 0.35), (0.5, 0.45, 0.4)), 3), 1, size=12)
    _add(bpy.ops.mesh.primitive_ico_sphere_add, "Ico", _textured("Ico", "ShaderNodeTexVoronoi",
                                                                 ((0.2, 0.6, 0.6), (0.1, 0.3, 0.4)), 6), 2,
         subdivisions=2, radius=0.9, location=(-0.9, 0.6, 0.9))
    for number, height in enumerate((0.2, 0.55, 0.9), start=3):
        _add(bpy.ops.mesh.primitive_torus_add, f"Ring{number}", _textured(f"Ring{number}", "ShaderNodeTexChecker",
                                                                          ((0.9, 0.8, 0.5), (0.6, 0.3, 0.2)), 8),
             number, True, location=(1.3, -0.4, height), major_radius=0.7 - 0.15 * (number - 3), minor_radius=0.14)
    _camera_light((0.4, -4.2, 0.9), (1.48, 0, 0.05), world=(0.15, 0.06, 0.04), sun=(0.6, 0.2, -0.6))
    bpy.ops.object.light_add(type="POINT", location=(-2.0, -2.0, 2.5))
    bpy.context.object.data.energy, bpy.context.object.data.color = 400.0, (1.0, 0.8, 0.55)


def _camera_light(location, rotation, world, sun) -> None:
    import bpy

    scene = bpy.context.scene
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = world
    bpy.ops.object.camera_add(location=location, rotation=rotation)
    scene.camera = bpy.context.object
    bpy.ops.object.light_add(type="SUN", rotation=sun)
    bpy.context.object.data.energy = 3.0


SCENES = {"tuning": {"front": (_scene_still_life, "front"), "side": (_scene_still_life, "side")},
          "held_out": {"dusk": (_scene_held_out, "dusk"), "overhead": (_scene_held_out, "overhead"),
                       "lamplight": (_scene_lamplight, "lamplight")}}
STYLE_FOR = {"front": "starry_night.jpg", "side": "shipwreck.jpg", "dusk": "starry_night.jpg",
             "overhead": "shipwreck.jpg", "lamplight": "woman_with_hat.jpg"}


def render_scene(name: str, folder: Path, width: int, height: int) -> tuple[Path, Path]:
    """One still of a scene: display PNG and multilayer EXR (Depth, Object Index, Normal)."""
    import bpy

    png, exr = folder / f"{name}.png", folder / f"{name}.exr"
    if png.exists() and exr.exists():
        return png, exr
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, True
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    builder, variant = {k: v for group in SCENES.values() for k, v in group.items()}[name]
    builder(variant)
    layer = scene.view_layers[0]
    layer.use_pass_z = layer.use_pass_object_index = layer.use_pass_normal = True
    folder.mkdir(parents=True, exist_ok=True)
    _render_and_save(scene, exr, png)
    return png, exr


def render_orbit_shot(folder: Path, frames: int, width: int, height: int) -> None:
    """A second shot, other than the occluder pan: the dusk scene's torus spins while the camera dollies in and
    arcs round it (rotation and zoom instead of a pan; Vector, Depth, Object Index and Normal passes)."""
    import bpy

    scene = empty_shot(frames, width, height)
    _scene_held_out("dusk")
    torus, camera = bpy.data.objects["Torus"], scene.camera
    for frame, spin, location, turn in ((1, 0.0, (3.5, -7, 2.2), 0.45), (frames, 0.9, (1.2, -6.0, 2.0), 0.15)):
        torus.rotation_euler.z = spin
        torus.keyframe_insert("rotation_euler", frame=frame)
        camera.location, camera.rotation_euler.z = location, turn
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    render_shot(scene, folder, frames)


def empty_shot(frames: int, width: int, height: int):
    """An empty Cycles scene of `frames` frames at width x height (16 denoised samples, no motion blur)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, True
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.use_motion_blur = False
    scene.frame_start, scene.frame_end = 1, frames
    return scene


def render_shot(scene, folder: Path, frames: int) -> None:
    """Each frame's display PNG and multilayer EXR (Vector, Depth, Object Index and Normal passes) into `folder`."""
    layer = scene.view_layers[0]
    layer.use_pass_vector = layer.use_pass_z = layer.use_pass_object_index = layer.use_pass_normal = True
    folder.mkdir(parents=True, exist_ok=True)
    for frame in range(1, frames + 1):
        scene.frame_set(frame)
        _render_and_save(scene, folder / f"frame_{frame:04d}.exr", folder / f"frame_{frame:04d}.png")


def _render_and_save(scene, exr: Path, png: Path) -> None:
    """Render, then save the multilayer EXR (32-bit passes) and the display PNG."""
    import bpy

    bpy.ops.render.render()
    result = bpy.data.images["Render Result"]
    settings = scene.render.image_settings
    settings.media_type, settings.file_format, settings.color_depth = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER", "32"
    result.save_render(str(exr), scene=scene)
    settings.media_type, settings.file_format = "IMAGE", "PNG"
    settings.color_mode, settings.color_depth = "RGB", "8"
    result.save_render(str(png), scene=scene)


def contact_sheet(rows: list[list[Path]], labels: list[str], path: Path) -> None:
    tiles = [[Image.open(p).convert("RGB") for p in row] for row in rows]
    w, h = tiles[0][0].size
    sheet = Image.new("RGB", (len(labels) * (w + 4), 16 + len(rows) * (h + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, label in enumerate(labels):
        draw.text((column * (w + 4) + 3, 2), label, fill="black")
    for r, row in enumerate(tiles):
        for column, tile in enumerate(row):
            sheet.paste(tile.resize((w, h)), (column * (w + 4), 16 + r * (h + 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)


SHOTS = {"occluder": "the temporal evidence shot: the camera pans while a pillar crosses in front of a ball",
         "orbit": "the dusk scene: the torus spins while the camera dollies in and arcs round it"}


def shot_renders(name: str, frames: int) -> Path:
    """The folder of a shot's renders (frame_NNNN.png + .exr), rendered in Blender the first time."""
    if name == "occluder":
        renders = REPO / "out" / "temporal" / "render"
        if not (renders / f"frame_{frames:04d}.exr").exists():
            from temporal_evidence import render_occluder_scene

            render_occluder_scene(renders, 12, 192, 108)
        return renders
    renders = REPO / "out" / "structure" / "orbit_render"
    if not (renders / f"frame_{frames:04d}.exr").exists():
        render_orbit_shot(renders, max(frames, 8), 192, 108)
    return renders


def boundary_split(images, motions, edges) -> tuple[float, float, float]:
    """Warping error on pixels within 2 px of a boundary, on the rest, and the boundary pixels' share of those
    measured (the error is the reliability-masked squared difference to the warped previous frame)."""
    sums, counts = np.zeros(2), np.zeros(2)
    for previous, current, motion, edge in zip(images, images[1:], motions, edges[1:]):
        motion = motion.resized(*current.shape[:2])
        difference = ((current - warp(previous, motion.flow)) ** 2).sum(-1) * motion.reliable
        for kind, mask in enumerate((edge, ~edge)):
            sums[kind] += difference[mask].sum()
            counts[kind] += motion.reliable[mask].sum()
    return sums[0] / max(counts[0], 1), sums[1] / max(counts[1], 1), counts[0] / max(counts.sum(), 1)


def flicker_check(args, engine: StyleTransfer) -> int:
    """Warping error of temporal and temporal + structure (and frame by frame if asked) on a shot, both masks, with
    the error split between boundaries and surfaces."""
    renders = shot_renders(args.shot, args.frames)
    pngs, exrs = sorted(renders.glob("frame_*.png"))[: args.frames], sorted(renders.glob("frame_*.exr"))[: args.frames]
    style = read_rgb(STYLES / "starry_night.jpg")
    out = Path(args.out) / f"shot_{args.shot}_{args.size}"
    runs = {"temporal": (True, 0.0), f"temporal, structure {DEFAULT_STRUCTURE:g}": (True, DEFAULT_STRUCTURE)}
    if args.frame_by_frame:
        runs = {"frame by frame": (False, 0.0), **runs}
    renders_rgb = [read_rgb(p) for p in pngs]
    sequences = {}
    for name, (temporal, structure) in runs.items():
        folder = out / name.replace(" ", "_").replace(",", "")
        folder.mkdir(parents=True, exist_ok=True)
        frames = [SequenceFrame(p, folder / p.name, e) for p, e in zip(pngs, exrs)]
        stylize_sequence(engine, frames, [style], SequenceSettings(
            temporal=temporal, structure=structure, overwrite=not args.resume,
            stylize_options=dict(size_px=args.size, iterations=args.iterations)))
        sequences[name] = [read_rgb(f.output) for f in frames]
    height, width = next(iter(sequences.values()))[0].shape[:2]
    sequences = {"render": [cv2.resize(r, (width, height), interpolation=cv2.INTER_AREA) for r in renders_rgb],
                 **sequences}
    items, cache = [SequenceFrame(p, p, e) for p, e in zip(pngs, exrs)], {}
    masks = {"engine": [frame_motion(b, a, None, None, "vectors", cache) for a, b in zip(items, items[1:])]}
    masks["standard"] = [standard_motion(cache[b.passes], cache[a.passes]) for a, b in zip(items, items[1:])]
    structures = [read_structure_passes(e, r.shape[:2]) for e, r in zip(exrs, renders_rgb)]
    edges = [edge_map(s.resized(height, width), radius_px=2) > 0 for s in structures]
    figures = {}
    print(f"{args.shot} shot ({SHOTS[args.shot]}), {len(pngs)} frames, {width}x{height} px, {args.iterations} "
          "iterations\n| sequence | warping error, standard mask | measured | warping error, engine mask | measured | "
          "boundaries / surfaces (standard) | contrast kept | style distance |\n|---|---|---|---|---|---|---|---|")
    for name, images in sequences.items():
        row = {mask: (float(np.mean(warping_errors(images, motions))), float(np.mean(measured_shares(images, motions))))
               for mask, motions in masks.items()}
        boundary, surface, share = boundary_split(images, masks["standard"], edges)
        kept = np.mean([contrast_kept(i, r, s) for i, r, s in zip(images, renders_rgb, structures)])
        distance = np.mean([style_distance(i, style) for i in images])
        figures[name] = {"standard": row["standard"], "engine": row["engine"], "contrast_kept": float(kept),
                         "style_distance": float(distance), "boundaries": float(boundary), "surfaces": float(surface),
                         "boundary_share": float(share)}
        print(f"| {name} | {row['standard'][0]:.4f} | {row['standard'][1]:.0%} | {row['engine'][0]:.4f} | "
              f"{row['engine'][1]:.0%} | {boundary:.4f} / {surface:.4f} ({share:.0%} of measured px) | {kept:.3f} | "
              f"{distance:.4f} |", flush=True)
    with_structure, without = figures[f"temporal, structure {DEFAULT_STRUCTURE:g}"], figures["temporal"]
    print(f"structure {DEFAULT_STRUCTURE:g} vs 0, temporal: warping error (standard mask) "
          f"{with_structure['standard'][0] / without['standard'][0]:.2f}x, contrast kept "
          f"{with_structure['contrast_kept'] / without['contrast_kept']:.2f}x")
    (out / "figures.json").write_text(json.dumps(figures, indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes", choices=sorted(SCENES), default="held_out")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--scales", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--structure", type=float, nargs="+", default=[0.0, DEFAULT_STRUCTURE, 1.0])
    parser.add_argument("--out", default=str(REPO / "out" / "structure"))
    parser.add_argument("--sheet", help="also write the contact sheet here (e.g. docs/images/structure_sheet.jpg)")
    parser.add_argument("--shot", choices=sorted(SHOTS), help="check flicker with and without structure on a shot")
    parser.add_argument("--frame-by-frame", action="store_true", help="--shot: also stylize frame by frame")
    parser.add_argument("--resume", action="store_true", help="--shot: keep the frames an earlier run wrote")
    parser.add_argument("--frames", type=int, default=8, help="--shot: frames of the shot used")
    args = parser.parse_args()
    out = Path(args.out) / args.scenes
    torch.set_num_threads(args.threads)
    engine = StyleTransfer(device="auto", cache_dir=None)
    if args.shot:
        return flicker_check(args, engine)
    figures, rows = {}, []
    print("| scene | structure | contrast kept | style distance |\n|---|---|---|---|")
    for name in SCENES[args.scenes]:
        png, exr = render_scene(name, out / "render", 160, 106)
        render = read_rgb(png)
        passes = read_structure_passes(exr, render.shape[:2])
        style = read_rgb(STYLES / STYLE_FOR[name])
        row = [png]
        for value in args.structure:
            result = engine.stylize(render, [style], size_px=args.size, iterations=args.iterations,
                                    scales=args.scales,
                                    structure_map=structure_map(passes, value))
            path = out / f"{name}_structure_{value:g}.png"
            write_image(path, result.image, result.settings)
            row.append(path)
            kept, distance = contrast_kept(result.image, render, passes), style_distance(result.image, style)
            figures[f"{name} {value:g}"] = {"contrast_kept": kept, "style_distance": distance}
            print(f"| {name} | {value:g} | {kept:.3f} | {distance:.4f} |", flush=True)
        rows.append(row)
    for value in args.structure[1:]:
        kept = np.mean([figures[f"{n} {value:g}"]["contrast_kept"] / figures[f"{n} 0"]["contrast_kept"]
                        for n in SCENES[args.scenes]])
        distance = np.mean([figures[f"{n} {value:g}"]["style_distance"] / figures[f"{n} 0"]["style_distance"]
                            for n in SCENES[args.scenes]])
        print(f"structure {value:g} vs 0 ({args.scenes}): contrast kept {kept:.2f}x, style distance {distance:.2f}x")
    (out / "figures.json").write_text(json.dumps(figures, indent=1))
    labels = ["render"] + [f"structure {v:g}" for v in args.structure]
    contact_sheet(rows, labels, out / "structure_sheet.jpg")
    if args.sheet:
        contact_sheet(rows, labels, Path(args.sheet))
    print(f"contact sheet: {out / 'structure_sheet.jpg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Live Preview latency on this machine: from a scene change to the stylized image, at 480x270 with Workbench; and
the time of Make Style Sheet (the shipped library, 512 px tiles).

Runs the add-on in the real bpy (the tests' tiny scene), moves the Cube, lets the handler see the change and drives
the preview's timer function until the new image is shown. Prints a table; run with `.venv/bin/python
scripts/live_preview_latency.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "blender")]

import bpy  # noqa: E402 - after the path

import nst_addon  # noqa: E402
from blender_kit import build_tiny_scene  # noqa: E402
from nst_addon import preview  # noqa: E402


def one_change(scene, live) -> tuple[float, float, float]:
    """Move the Cube, then tick like Blender's timer until the new image is shown; (latency, render, stylize) ms."""
    state = preview.state()
    shown = state.shown
    bpy.data.objects["Cube"].location.x += 0.05
    bpy.context.view_layer.update()  # Blender's main loop evaluates the change: the handler notes it
    while state.shown == shown:
        preview._tick()
        time.sleep(preview.TICK_S)
    return live.latency_ms, live.render_ms, live.stylize_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    nst_addon.register()
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs); debounce {preview.DEBOUNCE_S} s")
    print(f"{'scene':<34} {'latency ms (median, min-max)':>30} {'render ms':>10} {'stylize ms':>11}")
    for label, per_object in (("scene style only", False), ("per-object (own style + kept)", True)):
        scene = build_tiny_scene()
        if not per_object:
            for ob in scene.objects:
                ob.nst.mode = "INHERIT"
        live = scene.nst_live
        live.width_px, live.height_px, live.engine = 480, 270, "BLENDER_WORKBENCH"
        live.enabled = True
        bpy.ops.nst.live_preview_step()  # start-up: the worker imports torch, the first render warms up
        one_change(scene, live)
        rows = [one_change(scene, live) for _ in range(args.rounds)]
        latency, render, stylize = (sorted(column) for column in zip(*rows))
        print(f"{label:<34} {statistics.median(latency):>10.0f} ({latency[0]:.0f}-{latency[-1]:.0f}){'':>8} "
              f"{statistics.median(render):>10.0f} {statistics.median(stylize):>11.0f}")
        live.enabled = False
    scene = build_tiny_scene()
    scene.render.resolution_x, scene.render.resolution_y = 960, 540
    scene.render.engine = "BLENDER_WORKBENCH"
    bpy.ops.nst.check_engine()  # the shared worker is up and has torch loaded
    began = time.monotonic()
    bpy.ops.nst.style_sheet()
    print(f"Make Style Sheet, {len(scene.nst_sheet.tiles)} paintings at {scene.nst_sheet.tile_px} px tiles "
          f"(960x540 Workbench frame): {time.monotonic() - began:.1f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    nst_addon.unregister()
    return 0


if __name__ == "__main__":
    sys.exit(main())

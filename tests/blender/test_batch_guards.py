"""The batch entry (in the real Blender) against hostile numbers and paths: every numeric option of its parser
refuses -1 and nan with one `error:` line and exit 2, and a style inside the output folder is refused before
anything is written, its bytes unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
from support import REPO, draw_content

BATCH_SCRIPT = r"""
import argparse, contextlib, io, json, sys
from pathlib import Path
import bpy
from nst_addon import batch
from protocol import numbers
root = Path(sys.argv[1])
results = {}
bpy.ops.wm.read_factory_settings(use_empty=False)
bpy.ops.wm.save_as_mainfile(filepath=str(root / "scene.blend"))
parser = batch.build_parser(with_blend_file=True)
for action in parser._actions:
    assert action.type not in (int, float) or action.dest == "structure", action.dest
    if numbers.is_checked(action.type) or action.dest == "structure":
        for value in ("-1", "nan"):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                try:
                    code = batch.main([str(root / "scene.blend"), action.option_strings[0], value])
                except SystemExit as exc:
                    code = exc.code
            results[f"{action.option_strings[0]} {value}"] = [code, err.getvalue()]
style = root / "out" / "stylized" / "frame_0001.png"
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = batch.main([str(root / "scene.blend"), "--style", str(style), "--output", str(root / "out"),
                       "--frames", "1-2", "--size", "32", "--iterations", "1"])
results["style inside the output"] = [code, err.getvalue()]
print(json.dumps(results))
"""


def test_the_batch_entry_refuses_bad_numbers_and_an_input_among_its_outputs(tmp_path):
    (tmp_path / "out" / "stylized").mkdir(parents=True)
    style = tmp_path / "out" / "stylized" / "frame_0001.png"
    Image.fromarray((draw_content(64, 48) * 255).astype(np.uint8)).save(style)
    before = style.read_bytes()
    done = subprocess.run([sys.executable, "-c", BATCH_SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) >= 15
    for case, (code, err) in results.items():
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, (case, err)
    assert "would destroy" in results["style inside the output"][1]
    assert style.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["frame_0001.png", "stylized"]


GUARDS_SCRIPT = r"""
import contextlib, io, json, sys
from pathlib import Path
import bpy
from nst_addon import batch
root = Path(sys.argv[1])
bpy.ops.wm.read_factory_settings(use_empty=False)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 3
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 32, 24, 100
bpy.ops.wm.save_as_mainfile(filepath=str(root / "scene.blend"))
blend = str(root / "scene.blend")
style, out = str(root / "style.png"), str(root / "out")
cases = {
    "empty blend": [str(root / "empty.blend"), "--style", style, "--output", out],
    "junk blend": [str(root / "junk.blend"), "--style", style, "--output", out],
    "truncated blend": [str(root / "truncated.blend"), "--style", style, "--output", out],
    "output is a file": [blend, "--style", style, "--output", str(root / "style.png")],
    "output under a file": [blend, "--style", style, "--output", str(root / "style.png" / "out")],
    "output in /proc": [blend, "--style", style, "--output", "/proc/nst-no-such/out"],
    "style not an image": [blend, "--style", str(root / "text.png"), "--output", out],
    "style truncated": [blend, "--style", str(root / "truncated.png"), "--output", out],
    "no style": [blend, "--output", out],
    "frames beyond Blender": [blend, "--style", style, "--output", out, "--frames", "1-99999999999"],
    "shot beyond Blender": [blend, "--style", style, "--output", out, "--stage", "stylize", "--shot", "1-2000000"],
    "object style not an image": [blend, "--style", style, "--output", out, "--object-style",
                                  "Cube=" + str(root / "text.png")],
    "frames outside the scene": [blend, "--style", style, "--output", str(root / "style.png"), "--frames", "100-101"],
    "render stage without a style": [blend, "--output", str(root / "render_only"), "--stage", "render",
                                     "--frames", "1-1"],
}
results = {}
for name, argv in cases.items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = batch.main(argv)
        except SystemExit as exc:
            code = exc.code
    results[name] = [code, err.getvalue()]
print(json.dumps(results))
"""


def test_the_batch_checks_every_argument_and_input_before_the_first_render(tmp_path):
    """Issue 25, findings 5, 13 and 15: a damaged .blend, an unwritable --output, a non-image style, no style and
    frames beyond Blender's limits are one line and exit 2, before anything is rendered; frames outside the scene's
    range are named with the scene's range; the render stage needs no style."""
    Image.fromarray((draw_content(32, 24) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    full = (tmp_path / "style.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(full[: len(full) // 2])
    (tmp_path / "text.png").write_text("not a picture\n")
    (tmp_path / "empty.blend").write_bytes(b"")
    (tmp_path / "junk.blend").write_bytes(os.urandom(4000))
    (tmp_path / "truncated.blend").write_bytes(b"BLENDER-v405RENDH" + bytes(64))
    done = subprocess.run([sys.executable, "-c", GUARDS_SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    names = {"empty blend": ".blend", "junk blend": ".blend", "truncated blend": ".blend",
             "output is a file": "--output", "output under a file": "--output", "output in /proc": "--output",
             "style not an image": "--style", "style truncated": "--style", "no style": "--style",
             "frames beyond Blender": "--frames", "shot beyond Blender": "--shot",
             "object style not an image": "--object-style"}
    for case, word in names.items():
        code, err = results[case]
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, (case, err)
        assert word in err, (case, err)
    code, err = results["frames outside the scene"]
    assert "warning: --frames 100-101" in err and "scene's range 1-3" in err, err
    code, err = results["render stage without a style"]
    assert code == 0 and "style" not in err, err
    assert (tmp_path / "render_only" / "render").is_dir()
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "style.png").read_bytes() == full

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

"""Every failure of a stylize or engine operator reaches the user as exactly one line, in Blender's report and the
panel's status, never as a Python traceback: no camera, a missing style, Own Style without a file, an engine Python
without torch (Stylize and Check Engine), a worker that dies mid-job, and a style inside the job folder. The reports
are read where Blender prints them (stdout, in background mode), so the test sees what the user sees, not only the
text of bpy.ops' RuntimeError.
"""

from __future__ import annotations

import importlib
import re
import shutil

import pytest
from blender_kit import ADDON, STYLES

import bpy

pytestmark = pytest.mark.blender
NO_TORCH_STYLIZE = ("the engine Python {python} has no PyTorch; use Install engine in the add-on preferences, or set "
                    "the engine Python to one that has PyTorch (Check engine tells you what it finds)")
NO_TORCH_CHECK = ("the engine Python {python} has no PyTorch. Fix: press Install engine, or choose Custom and give a "
                  "Python with torch (for example a venv made with 'python3.11 -m venv nst && nst/bin/pip install "
                  "torch')")


@pytest.fixture
def reports(capfd):
    return capfd


def fails_with(operator: str, message: str | re.Pattern, reports: pytest.CaptureFixture) -> str:
    """Runs bpy.ops.nst.<operator>, which must fail with exactly `message` (a string, or a pattern the whole line
    matches) as its one report (in background mode Blender prints each report as a line "Error: ..."), as the panel's
    status and as the error bpy.ops raises, with no traceback anywhere; returns the message."""
    reports.readouterr()
    with pytest.raises(RuntimeError) as caught:
        getattr(bpy.ops.nst, operator)()
    out, err = reports.readouterr()
    reported = [line.removeprefix("Error: ") for line in out.splitlines() if line.startswith("Error: ")]
    assert len(reported) == 1, out
    if isinstance(message, str):
        assert reported[0] == message
    else:
        assert message.fullmatch(reported[0]), reported[0]
    assert "Traceback" not in out + err + str(caught.value)
    assert str(caught.value) == f"Error: {reported[0]}\n"
    assert bpy.context.scene.nst.status == f"failed: {reported[0]}"
    return reported[0]


def test_no_camera(tiny_scene, reports, tmp_path):
    tiny_scene.camera = None
    tiny_scene.nst.output_folder = str(tmp_path / "out")
    expected = (f"the scene '{tiny_scene.name}' has no active camera; add one (Add > Camera) and make it active "
                "(View > Cameras > Set Active Object as Camera)")
    fails_with("stylize_render", expected, reports)
    fails_with("stylize_animation", expected, reports)
    assert not (tmp_path / "out").exists()


def test_missing_style(tiny_scene, reports, tmp_path):
    missing = tmp_path / "no-such-painting.jpg"
    tiny_scene.nst.styles[0].filepath = str(missing)
    fails_with("stylize_render", f"style 1: the style image {missing} does not exist; choose another file", reports)


def test_own_style_without_a_file_and_with_a_missing_one(tiny_scene, reports, tmp_path):
    cube = bpy.data.objects["Cube"]
    cube.nst.mode, cube.nst.style_path = "OWN", ""
    fails_with("stylize_render", "object 'Cube' has no style image; choose one", reports)
    cube.nst.style_path = str(tmp_path / "gone.png")
    fails_with("stylize_animation",
               f"object 'Cube': the style image {tmp_path / 'gone.png'} does not exist; choose another file", reports)
    cube.nst.style_path = str(STYLES / "shipwreck.jpg")


def test_engine_python_without_torch(tiny_scene, prefs, python_without_torch, reports):
    prefs.engine_python_mode, prefs.engine_python = "CUSTOM", str(python_without_torch)
    fails_with("stylize_render", NO_TORCH_STYLIZE.format(python=python_without_torch), reports)
    message = fails_with("check_engine", NO_TORCH_CHECK.format(python=python_without_torch), reports)
    assert prefs.engine_report == f"Problem: {message}"


def test_a_worker_that_dies(tiny_scene, prefs, dying_python, reports):
    prefs.engine_python_mode, prefs.engine_python = "CUSTOM", str(dying_python)
    tiny_scene.nst.preview_iterations = 2000  # longer than the 4 s the dying worker lives
    fails_with("stylize_render", re.compile(r"the engine worker stopped unexpectedly: it was killed by signal 9 "
                                            r"\(the system may have run out of memory; try a smaller size\)"
                                            r"(; last message: [^\n]*)?"), reports)


def test_style_inside_the_job_folder_is_kept(tiny_scene, reports):
    """A style picked from an earlier result (in the job folder that Stylize Render empties) is refused, not
    deleted: the folder is left as it was."""
    folder = importlib.import_module(f"{ADDON}.nst_addon.preferences").user_folder("jobs", "render", "stylized")
    earlier = folder / "earlier.png"
    shutil.copyfile(STYLES / "shipwreck.jpg", earlier)
    tiny_scene.nst.styles[0].filepath = str(earlier)
    fails_with("stylize_render", re.compile(r"a style \(.+/earlier\.png\) is inside the add-on's job folder .+, which "
                                            r"is emptied before every run: save a copy elsewhere and choose that copy"),
               reports)
    assert earlier.read_bytes() == (STYLES / "shipwreck.jpg").read_bytes()
    earlier.unlink()

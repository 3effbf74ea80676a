"""The tests that need the real Blender (bpy 5.0.1) live here, and each carries the `blender` marker (given below).
Fixtures: the built extension, installed and enabled in a throw-away user folder, its preferences, the tiny scene,
and engine Pythons that fail in real ways.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The extension installs into Blender's user folders: keep them out of the developer's own (set before bpy loads).
_USER = tempfile.mkdtemp(prefix="nst-blender-user-")
os.environ.setdefault("BLENDER_USER_RESOURCES", _USER)
atexit.register(shutil.rmtree, _USER, True)
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bpy  # noqa: E402 - after the user folder is set
import addon_utils  # noqa: E402 - Blender's own module: bpy loads first  # isort: skip
from blender_kit import ADDON, REPO, REPO_MODULE, blender_ext, build_tiny_scene  # noqa: E402


def pytest_collection_modifyitems(items) -> None:
    """Every test in this folder needs bpy: mark it `blender` (`-m "not blender"` runs the rest)."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.blender)


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([*blender_ext(), "build", "--source-dir", str(REPO), "--output-dir", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (zip_path,) = out.glob("*.zip")
    return zip_path


@pytest.fixture(scope="session")
def addon(extension_zip, tmp_path_factory) -> str:
    """The built extension, installed into a fresh repository and enabled; its module name."""
    repo = bpy.context.preferences.extensions.repos.new(
        name=REPO_MODULE, module=REPO_MODULE, custom_directory=str(tmp_path_factory.mktemp("repo")), source="USER")
    assert bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo=repo.module,
                                                    enable_on_install=True) == {"FINISHED"}
    assert ADDON in bpy.context.preferences.addons
    yield ADDON
    addon_utils.disable(ADDON)


@pytest.fixture
def prefs(addon):
    """The add-on's preferences (looked up afresh: re-enabling the add-on replaces them), reset after the test."""
    preferences = bpy.context.preferences.addons[addon].preferences
    yield preferences
    preferences = bpy.context.preferences.addons[addon].preferences
    preferences.engine_python_mode, preferences.engine_python, preferences.hang_timeout_s = "AUTO", "", 600


@pytest.fixture
def tiny_scene(addon):
    return build_tiny_scene()


@pytest.fixture
def python_without_torch(tmp_path) -> Path:
    """A real Python with no torch: a bare venv."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    return tmp_path / "bare" / "bin" / "python"


@pytest.fixture
def dying_python(tmp_path) -> Path:
    """The real engine Python, but the worker it starts is killed (SIGKILL, like the OOM killer) after 4 s."""
    script = tmp_path / "dying-python"
    script.write_text("#!/bin/sh\n"
                      'if [ "$1" = "-m" ]; then ( sleep 4; kill -9 $$ ) >/dev/null 2>&1 </dev/null & fi\n'
                      f'exec "{sys.executable}" "$@"\n')
    script.chmod(0o755)
    return script

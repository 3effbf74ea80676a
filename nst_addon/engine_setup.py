"""Preferences actions: Check engine (torch version and device, or how to fix what is missing) and Install engine.

Install engine makes a venv in the extension's user folder and pip-installs the engine's pinned requirements into
it on a background thread, reporting pip's progress; it needs Blender's online access.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import bpy

from .operators import Step, WorkerOperator
from .properties import ENGINE_VENV_FOLDER, engine_settings, installed_engine_python, preferences, user_folder
from .worker_client import EXTENSION_ROOT, AddonError, python_has_torch

INSTALL_TIMEOUT_S = 3600


def _set_report(text: str) -> None:
    prefs = preferences()
    if prefs is not None:
        prefs.engine_report = text


class NST_OT_check_engine(WorkerOperator):
    """Start the engine and report its PyTorch version and device, or what is missing and how to fix it"""

    bl_idname = "nst.check_engine"
    bl_label = "Check Engine"

    def plan(self, context):
        engine = engine_settings()
        ok, why = python_has_torch(engine.python)
        if not ok:
            raise AddonError(f"{why}. Fix: press Install engine, or choose Custom and give a Python with torch "
                             "(for example a venv made with 'python3.11 -m venv nst && nst/bin/pip install torch')")

        def found(result: dict) -> None:
            self.found = (f"Engine OK: torch {result.get('torch_version')}, device {result.get('device')}, "
                          f"Python {result.get('python')} at {engine.python}")
            _set_report(self.found)

        return [Step("engine check", lambda: {"type": "check", "device": engine.device, "weights": engine.weights},
                     found)]

    def finished(self, context, done, skipped):
        return self.found

    def _fail(self, context, message):
        _set_report(f"Problem: {message}")
        return super()._fail(context, message)


class _Install:
    """The install running on its background thread: its last line of output and how it ended."""

    thread: threading.Thread | None = None
    lines = 0
    last_line = ""
    error: str | None = None
    done = False


def _install(python: str, venv: Path, requirements: Path) -> None:
    try:
        commands = [[python, "-m", "venv", str(venv)],
                    [str(installed_engine_python()), "-m", "pip", "install", "--upgrade", "pip"],
                    [str(installed_engine_python()), "-m", "pip", "install", "-r", str(requirements)]]
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env.pop("PYTHONPATH", None)
        for command in commands:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            assert process.stdout is not None
            for line in process.stdout:
                _Install.lines += 1
                _Install.last_line = line.strip()[:120]
            if process.wait(timeout=INSTALL_TIMEOUT_S) != 0:
                _Install.error = f"'{' '.join(command[-3:])}' failed: {_Install.last_line}"
                return
        ok, why = python_has_torch(str(installed_engine_python()))
        if not ok:
            _Install.error = why
    except (OSError, subprocess.TimeoutExpired) as exc:
        _Install.error = str(exc)
    finally:
        _Install.done = True


class NST_OT_install_engine(bpy.types.Operator):
    """Make a Python environment with PyTorch for the engine in the extension's user folder (a large download)"""

    bl_idname = "nst.install_engine"
    bl_label = "Install Engine"

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Blender is set to work offline; allow online access in Preferences > System > "
                                   "Network, or install torch into a Python yourself and choose it as Custom")
            return {"CANCELLED"}
        if _Install.thread is not None and _Install.thread.is_alive():
            self.report({"WARNING"}, "the engine is already being installed")
            return {"CANCELLED"}
        venv = user_folder(ENGINE_VENV_FOLDER)
        _Install.lines, _Install.last_line, _Install.error, _Install.done = 0, "", None, False
        _Install.thread = threading.Thread(target=_install, daemon=True,
                                           args=(sys.executable, venv, EXTENSION_ROOT / "requirements.txt"))
        _Install.thread.start()
        if bpy.app.background:
            _Install.thread.join()
            return self._report_end()
        bpy.app.timers.register(_poll_install, first_interval=1.0)
        _set_report("Installing the engine (PyTorch is about 2 GB; this takes several minutes)")
        return {"FINISHED"}

    def _report_end(self):
        if _Install.error:
            self.report({"ERROR"}, f"Install engine failed: {_Install.error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"the engine is installed in {installed_engine_python().parent.parent}")
        return {"FINISHED"}


def _poll_install() -> float | None:
    if not _Install.done:
        _set_report(f"Installing the engine: {_Install.lines} lines of pip output; {_Install.last_line}")
        return 1.0
    _set_report(f"Install engine failed: {_Install.error}" if _Install.error
                else "Engine installed; press Check Engine")
    return None


CLASSES = (NST_OT_check_engine, NST_OT_install_engine)

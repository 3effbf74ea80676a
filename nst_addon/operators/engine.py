"""The preferences' actions: Check Engine (torch version and device, or how to fix what is missing) and Install
Engine (a venv with PyTorch in the extension's user folder, made on a background thread; see engine_setup.py)."""

from __future__ import annotations

import bpy

from ..engine_setup import (InstallError, check_disk_space, install_running, report_install_progress, start_install,
                            wait_for_install)
from ..preferences import ENGINE_VENV_FOLDER, engine_settings, set_engine_report, user_folder
from ..worker_client import AddonError, python_has_torch
from .runner import Step, WorkerOperator


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
            set_engine_report(self.found)

        return [Step("engine check", lambda: {"type": "check", **engine.request_fields(cache=False)}, found)]

    def finished(self, context, done, skipped):
        return self.found

    def _fail(self, context, message):
        set_engine_report(f"Problem: {message}")
        return super()._fail(context, message)


class NST_OT_install_engine(bpy.types.Operator):
    """Make a Python environment with PyTorch for the engine in the extension's user folder (a large download)"""

    bl_idname = "nst.install_engine"
    bl_label = "Install Engine"

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Blender is set to work offline; allow online access in Preferences > System > "
                                   "Network, or install torch into a Python yourself and choose it as Custom")
            return {"CANCELLED"}
        if install_running():
            self.report({"WARNING"}, "the engine is already being installed")
            return {"CANCELLED"}
        venv = user_folder(ENGINE_VENV_FOLDER)
        try:
            check_disk_space(venv.parent)
        except InstallError as exc:
            return self._failed(str(exc))
        start_install(venv)
        if bpy.app.background:
            error = wait_for_install()
            if error:
                return self._failed(error)
            self.report({"INFO"}, f"the engine is installed in {venv}")
            return {"FINISHED"}
        report_install_progress()
        set_engine_report(f"Installing the engine into {venv} (PyTorch: several GB; this takes minutes)")
        return {"FINISHED"}

    def _failed(self, message: str):
        set_engine_report(f"Install Engine failed: {message}")
        self.report({"ERROR"}, f"Install Engine failed: {message}")
        return {"CANCELLED"}

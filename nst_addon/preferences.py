"""The add-on's preferences (engine Python, device, folders, weights) and the plain values the operators read.

`engine_settings` turns the preferences into an `EngineSettings`, with defaults when the add-on runs unregistered
as a module (batch runs), and with the overrides a batch command line gives.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from .worker_client import AddonError, protocol

ADDON_ID = (__package__ or "nst_addon").rpartition(".")[0] or "nst_addon"
ENGINE_VENV_FOLDER = "engine-venv"


def user_folder(*parts: str) -> Path:
    """A folder of ours: the extension's user folder when installed as an extension, else the temp folder."""
    try:
        base = Path(bpy.utils.extension_path_user(ADDON_ID, create=True))
    except (ValueError, RuntimeError, AttributeError):
        base = Path(tempfile.gettempdir()) / "nst-blender"
    folder = base.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fresh_job_folder(name: str, inputs: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Our job folder `name`, emptied first, so nothing from an earlier run is taken for this one's. AddonError, and
    nothing removed, when one of the job's `inputs` ({'a style': [paths]}) lies inside it."""
    folder = user_folder("jobs", name)
    try:
        protocol.refuse_emptying(folder, inputs or {}, "the add-on's job folder")
    except protocol.OverwritesInput as exc:
        raise AddonError(str(exc)) from None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def installed_engine_python() -> Path:
    venv = user_folder(ENGINE_VENV_FOLDER)
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


class NST_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    engine_python_mode: EnumProperty(  # type: ignore[valid-type]
        name="Engine Python",
        items=[("AUTO", "Automatic", "Blender's own Python if it has PyTorch, else the one Install engine made"),
               ("CUSTOM", "Custom", "A Python of your choice that has PyTorch")],
        default="AUTO")
    engine_python: StringProperty(  # type: ignore[valid-type]
        name="Python Executable", subtype="FILE_PATH",
        description="Path to a python executable with torch installed (python, python3 or python.exe)")
    device: EnumProperty(  # type: ignore[valid-type]
        name="Device",
        items=[("auto", "Automatic", "The GPU (CUDA) if there is one, else the CPU"),
               ("cuda", "CUDA GPU", "An NVIDIA GPU"), ("cpu", "CPU", "The processor; slow but always there")],
        default="auto")
    cache_folder: StringProperty(  # type: ignore[valid-type]
        name="Cache Folder", subtype="DIR_PATH",
        description="Where jobs and style statistics are kept; empty = the extension's user folder")
    models_folder: StringProperty(  # type: ignore[valid-type]
        name="Models Folder", subtype="DIR_PATH",
        description="Where downloaded network weights are kept; empty = the extension's user folder")
    weights: EnumProperty(  # type: ignore[valid-type]
        name="Weights",
        items=[("caffe", "Original VGG-19 (offline)", "The original VGG-19 weights shipped with the engine"),
               ("torchvision", "torchvision VGG-19 (download)", "torchvision's retrained VGG-19; needs a download"),
               ("FILE", "File", "A VGG-19 weights file on disk")],
        default="caffe")
    weights_file: StringProperty(name="Weights File", subtype="FILE_PATH")  # type: ignore[valid-type]
    hang_timeout_s: IntProperty(  # type: ignore[valid-type]
        name="Hang Timeout (s)", default=600, min=0,
        description="Stop the engine when it says nothing for this long (0 = never)")
    engine_report: StringProperty(name="Engine Report", default="")  # type: ignore[valid-type]

    def draw(self, context):
        from .ui.preferences import draw_preferences  # the ui package's panels import this module

        draw_preferences(self, self.layout)


@dataclass
class EngineSettings:
    """Preferences as plain values, for the worker client and batch runs."""

    python: str
    device: str = "auto"
    weights: str = "caffe"
    cache_folder: str = ""
    models_folder: str = ""
    hang_timeout_s: float = 600.0

    def request_fields(self, *, weights: bool = True, cache: bool = True) -> dict[str, str]:
        """The engine's process-wide choices as a request's fields: the device, and (where the request takes them)
        the loss network's weights and the folder of cached style statistics."""
        fields = {"device": self.device}
        if weights:
            fields["weights"] = self.weights
        if cache:
            fields["cache_dir"] = str(Path(self.cache_folder) / "styles")
        return fields


def preferences() -> NST_AddonPreferences | None:
    addon = bpy.context.preferences.addons.get(ADDON_ID)
    return None if addon is None else addon.preferences


def set_engine_report(text: str) -> None:
    """The line under Check Engine and Install Engine in the preferences (nothing when the add-on is unregistered)."""
    prefs = preferences()
    if prefs is not None:
        prefs.engine_report = text


def auto_engine_python() -> str:
    """Blender's own Python when it has torch (found without importing it), else the installed engine."""
    if importlib.util.find_spec("torch") is not None:
        return sys.executable
    installed = installed_engine_python()
    return str(installed) if installed.is_file() else sys.executable


_overrides: dict[str, object] = {}


def override_engine_settings(**values: object) -> None:
    """Settings that win over the preferences for this session (batch runs' --engine-python, --device)."""
    _overrides.update(values)


def engine_settings() -> EngineSettings:
    return dataclasses.replace(_preferred_engine_settings(), **_overrides)  # type: ignore[arg-type]


def _preferred_engine_settings() -> EngineSettings:
    prefs = preferences()
    if prefs is None:
        return EngineSettings(python=auto_engine_python(), cache_folder=str(user_folder("cache")),
                              models_folder=str(user_folder("models")))
    python = (bpy.path.abspath(prefs.engine_python) if prefs.engine_python_mode == "CUSTOM"
              else auto_engine_python())
    weights = bpy.path.abspath(prefs.weights_file) if prefs.weights == "FILE" else prefs.weights
    return EngineSettings(
        python=python, device=prefs.device, weights=weights,
        cache_folder=bpy.path.abspath(prefs.cache_folder) if prefs.cache_folder else str(user_folder("cache")),
        models_folder=bpy.path.abspath(prefs.models_folder) if prefs.models_folder else str(user_folder("models")),
        hang_timeout_s=float(prefs.hang_timeout_s))

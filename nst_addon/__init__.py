"""The Blender add-on: registers the settings, operators and panels, and stops the engine worker on unregister.

Never imports torch: all PyTorch work happens in the engine worker process (see worker_client).
"""

from __future__ import annotations

import atexit

import bpy

from . import (engine_setup, farm, farm_task, library, operators, preview, properties, style_sheet, texture_operator,
               ui)
from .worker_client import shutdown_shared

CLASSES = (*properties.CLASSES, *operators.CLASSES, *farm_task.CLASSES, *texture_operator.CLASSES,
           *engine_setup.CLASSES, *ui.CLASSES, *farm.CLASSES, *preview.CLASSES,
           *style_sheet.CLASSES)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    texture_operator.register()
    farm.register()
    preview.register()
    style_sheet.register()
    atexit.register(shutdown_shared)


def unregister() -> None:
    atexit.unregister(shutdown_shared)
    shutdown_shared()
    style_sheet.unregister()
    preview.unregister()
    library.clear_thumbnails()
    farm.unregister()
    texture_operator.unregister()
    properties.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

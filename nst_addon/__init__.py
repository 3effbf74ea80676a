"""The Blender add-on: registers the preferences, settings, operators and panels, and stops the engine workers on
unregister. Laid out by role: property_groups/ (settings kept in .blend files), operators/ (one module per job
family), ui/ (panels), farm/ (Submit to Farm's job and HTTP), and the Blender-side helpers beside them.

Never imports torch: all PyTorch work happens in the engine worker process (see worker_client). bpy and the modules
that need it are imported inside register and unregister, so the bpy-free ones (worker_client, extension) import
in plain Python.
"""

from __future__ import annotations

import atexit

from .worker_client import shutdown_shared


def classes() -> tuple[type, ...]:
    """Every class the add-on registers, in registration order (a class before any class that uses it)."""
    from . import operators, preferences, property_groups, ui

    return (preferences.NST_AddonPreferences, *property_groups.CLASSES, *operators.CLASSES, *ui.CLASSES)


def register() -> None:
    import bpy

    from . import preview, property_groups, stylize_on_render, viewport_overlay

    for cls in classes():
        bpy.utils.register_class(cls)
    property_groups.register()
    preview.register()
    stylize_on_render.register()
    viewport_overlay.register()
    atexit.register(shutdown_shared)


def unregister() -> None:
    import bpy

    from . import library, preview, property_groups, stylize_on_render, viewport_overlay

    atexit.unregister(shutdown_shared)
    shutdown_shared()
    viewport_overlay.unregister()
    preview.unregister()
    stylize_on_render.unregister()
    library.clear_thumbnails()
    property_groups.unregister()
    for cls in reversed(classes()):
        bpy.utils.unregister_class(cls)

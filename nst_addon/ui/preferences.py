"""The add-on's preferences, as laid out in Preferences > Add-ons: engine Python, device, weights, folders, and
the Check Engine and Install Engine buttons with their report."""

from __future__ import annotations

from typing import Any

import bpy


def draw_preferences(prefs: Any, layout: bpy.types.UILayout) -> None:
    """Lay out `prefs`: the NST_AddonPreferences of nst_addon.preferences, handed in by its own `draw` (typed Any so
    that this module need not import that one, which opens this one)."""
    layout.use_property_split = True
    layout.prop(prefs, "engine_python_mode")
    if prefs.engine_python_mode == "CUSTOM":
        layout.prop(prefs, "engine_python")
    layout.prop(prefs, "device")
    layout.prop(prefs, "weights")
    if prefs.weights == "FILE":
        layout.prop(prefs, "weights_file")
    layout.prop(prefs, "cache_folder")
    layout.prop(prefs, "models_folder")
    layout.prop(prefs, "hang_timeout_s")
    row = layout.row()
    row.operator("nst.check_engine", icon="CHECKMARK")
    row.operator("nst.install_engine", icon="IMPORT")
    if prefs.engine_report:
        layout.label(text=prefs.engine_report, icon="INFO")

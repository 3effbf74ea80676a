"""The add-on's settings stored in .blend files: the property groups and where they hang (scene.nst, object.nst,
scene.nst_live, scene.nst_texture, scene.nst_sheet, scene.nst_farm).

CLASSES is in registration order: a group is registered before any group that points to it.
"""

from __future__ import annotations

import bpy

from .farm import NST_FarmSettings
from .live_preview import NST_LivePreviewSettings
from .objects import NST_ObjectSettings
from .scene import NST_SceneSettings, NST_StyleItem
from .style_sheet import NST_SheetTile, NST_StyleSheetSettings
from .texture import NST_TextureSettings

CLASSES = (NST_StyleItem, NST_SceneSettings, NST_ObjectSettings, NST_LivePreviewSettings, NST_TextureSettings,
           NST_SheetTile, NST_StyleSheetSettings, NST_FarmSettings)

# (the Blender type, the attribute, the group it holds), added by register() in this order
ATTACHED = ((bpy.types.Scene, "nst", NST_SceneSettings), (bpy.types.Object, "nst", NST_ObjectSettings),
            (bpy.types.Scene, "nst_live", NST_LivePreviewSettings),
            (bpy.types.Scene, "nst_texture", NST_TextureSettings),
            (bpy.types.Scene, "nst_sheet", NST_StyleSheetSettings), (bpy.types.Scene, "nst_farm", NST_FarmSettings))


def register() -> None:
    """Attach the groups to scenes and objects (after CLASSES are registered)."""
    for owner, attribute, group in ATTACHED:
        setattr(owner, attribute, bpy.props.PointerProperty(type=group))  # type: ignore[func-returns-value]


def unregister() -> None:
    for owner, attribute, _ in reversed(ATTACHED):
        delattr(owner, attribute)

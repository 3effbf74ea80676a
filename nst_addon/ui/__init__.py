"""The add-on's panels: Render properties > Neural Style and its sub-panels, Object properties, the Shader Editor's
sidebar, and the preferences' layout.

CLASSES is in registration order: the parent panel first; its sub-panels show in the order they are registered.
"""

from __future__ import annotations

from .farm import NST_PT_farm
from .library import NST_PT_library
from .live_preview import NST_PT_live_preview
from .objects import NST_PT_object
from .render import NST_PT_render, NST_UL_styles
from .style_sheet import NST_PT_style_sheet
from .texture import NST_PT_texture

CLASSES = (NST_UL_styles, NST_PT_render, NST_PT_library, NST_PT_object, NST_PT_texture, NST_PT_farm,
           NST_PT_live_preview, NST_PT_style_sheet)

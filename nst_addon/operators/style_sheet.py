"""The Style Sheet's operators: make the sheet (the frame rendered once, stylized with every painting in the style
library by the any-style network, the image "NST Style Sheet"), and pick a tile (its Use button, or a click on the
sheet in an Image Editor) to make its painting the scene's style.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty

from .. import library, rendering
from ..images import load_result, show_in_image_editor
from ..property_groups.scene import scene_settings
from ..property_groups.style_sheet import sheet_settings, tile_at
from ..worker_client import AddonError
from .runner import Step, WorkerOperator
from .shot import current_frame_shot

SHEET_IMAGE = "NST Style Sheet"


class NST_OT_style_sheet(WorkerOperator):
    """Render the frame once and stylize it with every painting in the style library (any-style network) into one
    labelled sheet, the image 'NST Style Sheet'; then pick a tile to use its painting"""

    bl_idname = "nst.style_sheet"
    bl_label = "Make Style Sheet"

    def plan(self, context):
        scene = context.scene
        shot = current_frame_shot(scene, "style-sheet")
        styles = library.library_styles()
        if not styles:
            raise AddonError("the style library is empty; put paintings in the user folder's styles/ (Style Library)")
        ((_, files),) = shot.files()
        sheet = sheet_settings(scene)
        self.count = len(styles)

        def prepare():
            rendering.render_frame(scene, files)
            return {"type": "style_sheet", "content": str(files.display),
                    "output": str(shot.folder / "style_sheet.png"), "styles": [str(style.path) for style in styles],
                    "names": [style.name for style in styles], "size_px": sheet.tile_px,
                    **self.engine.request_fields(weights=False)}

        def finish(result):
            image = load_result(Path(result["output"]), SHEET_IMAGE)
            image["nst_content"] = str(files.display)
            licences = {str(style.path): style.licence for style in styles}
            sheet.tiles.clear()
            for placed in result["tiles"]:
                tile = sheet.tiles.add()
                tile.name, tile.style_path, tile.box = placed["name"], placed["style"], placed["box"]
                tile.licence = licences.get(placed["style"], "")
            show_in_image_editor(context, image)

        return [Step(f"style sheet of {len(styles)} paintings", prepare, finish)]

    def finished(self, context, done, skipped):
        return f"made the image '{SHEET_IMAGE}' with {self.count} paintings; pick one to make it the scene's style"


class NST_OT_pick_sheet_tile(bpy.types.Operator):
    """Make this tile's painting the scene's style (it replaces the scene's styles)"""

    bl_idname = "nst.pick_sheet_tile"
    bl_label = "Use This Style"
    bl_options = {"REGISTER", "UNDO"}

    name: StringProperty(name="Tile", description="The painting's title on the sheet")  # type: ignore[valid-type]

    def execute(self, context):
        tile = sheet_settings(context.scene).tiles.get(self.name)
        if tile is None:
            self.report({"ERROR"}, f"the style sheet has no tile '{self.name}'; make the style sheet again")
            return {"CANCELLED"}
        settings = scene_settings(context.scene)
        settings.styles.clear()
        item = settings.styles.add()
        item.filepath, item.licence = tile.style_path, tile.licence
        settings.active_style_index = 0
        self.report({"INFO"}, f"the scene's style is now '{tile.name}'")
        return {"FINISHED"}


def sheet_point(screen: bpy.types.Screen, x: int, y: int) -> tuple[float, float] | None:
    """Where a window point falls on the style sheet shown in an Image Editor (pixels from its top left)."""
    for area in screen.areas:
        image = getattr(area.spaces.active, "image", None) if area.type == "IMAGE_EDITOR" else None
        if image is None or image.name != SHEET_IMAGE:
            continue
        for region in area.regions:
            if region.type == "WINDOW" and 0 <= x - region.x < region.width and 0 <= y - region.y < region.height:
                u, v = region.view2d.region_to_view(x - region.x, y - region.y)  # 0..1 across the image
                return u * image.size[0], (1.0 - v) * image.size[1]
    return None


class NST_OT_pick_on_sheet(bpy.types.Operator):
    """Click a painting on the style sheet (shown in an Image Editor) to make it the scene's style; Esc cancels"""

    bl_idname = "nst.pick_on_sheet"
    bl_label = "Pick on Sheet"

    def invoke(self, context, event):
        if not sheet_settings(context.scene).tiles or SHEET_IMAGE not in bpy.data.images:
            self.report({"ERROR"}, "there is no style sheet yet; press Make Style Sheet first")
            return {"CANCELLED"}
        context.window.cursor_modal_set("EYEDROPPER")
        context.workspace.status_text_set("Click a painting on the style sheet in an Image Editor (Esc cancels)")
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type in {"ESC", "RIGHTMOUSE"}:
            return self._end(context, {"CANCELLED"})
        if event.type != "LEFTMOUSE" or event.value != "PRESS":
            return {"RUNNING_MODAL"}
        point = sheet_point(context.window.screen, event.mouse_x, event.mouse_y)
        tile = tile_at(sheet_settings(context.scene), *point) if point is not None else None
        if tile is None:
            return {"RUNNING_MODAL"}
        bpy.ops.nst.pick_sheet_tile(name=tile.name)
        self.report({"INFO"}, f"the scene's style is now '{tile.name}'")
        return self._end(context, {"FINISHED"})

    @staticmethod
    def _end(context, result):
        context.window.cursor_modal_restore()
        context.workspace.status_text_set(None)
        return result

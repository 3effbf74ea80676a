"""The add-on's operators, one module per job family; the worker-driven ones run on runner.WorkerOperator.

CLASSES is in registration order.
"""

from __future__ import annotations

from .compositor import NST_OT_add_mix_node
from .engine import NST_OT_check_engine, NST_OT_install_engine
from .farm_submit import NST_OT_farm_export_flamenco, NST_OT_farm_submit
from .farm_task import NST_OT_farm_task
from .live_preview import NST_OT_live_preview_step
from .runner import NST_OT_cancel
from .style_sheet import NST_OT_pick_on_sheet, NST_OT_pick_sheet_tile, NST_OT_style_sheet
from .styles import NST_OT_add_style, NST_OT_remove_style
from .stylize import NST_OT_stylize_animation, NST_OT_stylize_render
from .texture import NST_OT_stylize_texture
from .train import NST_OT_train_from_scene, NST_OT_tune_to_painting, NST_OT_tune_to_shot

CLASSES = (NST_OT_stylize_render, NST_OT_stylize_animation, NST_OT_train_from_scene, NST_OT_cancel,
           NST_OT_add_style, NST_OT_remove_style, NST_OT_farm_task, NST_OT_stylize_texture, NST_OT_check_engine,
           NST_OT_install_engine, NST_OT_farm_submit, NST_OT_farm_export_flamenco, NST_OT_live_preview_step,
           NST_OT_style_sheet, NST_OT_pick_sheet_tile, NST_OT_pick_on_sheet, NST_OT_tune_to_painting, NST_OT_tune_to_shot,
           NST_OT_add_mix_node)

"""Submit to Farm's operators: export the OpenJD job bundle or send the job to a Flamenco Manager, and write the
Flamenco job as JSON to submit later."""

from __future__ import annotations

import json
from pathlib import Path

import bpy
from bpy.props import BoolProperty, StringProperty

from ..farm.flamenco import submit_to_flamenco
from ..farm.job import flamenco_job, job_from_scene, save_blend, write_bundle
from ..property_groups.farm import farm_settings
from ..rendering import job_inputs
from ..worker_client import AddonError, protocol, refuse_writing
from .runner import Result


class NST_OT_farm_submit(bpy.types.Operator):
    """Export the OpenJD job bundle, or send the job to the Flamenco Manager"""

    bl_idname = "nst.farm_submit"
    bl_label = "Submit to Farm"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> Result:
        farm = farm_settings(context.scene)
        try:
            if farm.target == "FLAMENCO" and not bpy.app.online_access:
                raise ValueError("Blender is set to work offline, so nothing was sent; allow online access in "
                                 "Preferences > System > Network, or use Export Flamenco Job")
            job = job_from_scene(context.scene)
            saved = save_blend()
            if farm.target == "OPENJD":
                folder = write_bundle(job, Path(bpy.path.abspath(farm.bundle_folder)))
                message = f"Job bundle written to {folder}{saved}; submit it with: deadline bundle submit {folder}"
            else:
                job_id = submit_to_flamenco(farm.manager_url, flamenco_job(job, farm.worker_python))
                message = f"Submitted '{job.job_name}' to Flamenco as job {job_id}{saved}"
        except (ValueError, OSError) as exc:
            farm.status = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        farm.status = message
        self.report({"INFO"}, message)
        return {"FINISHED"}


class NST_OT_farm_export_flamenco(bpy.types.Operator):
    """Write the Flamenco job as JSON (the body of POST /api/v3/jobs), to submit later or by another tool"""

    bl_idname = "nst.farm_export_flamenco"
    bl_label = "Export Flamenco Job"
    bl_options = {"REGISTER"}
    filepath: StringProperty(subtype="FILE_PATH")  # type: ignore[valid-type]
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]
    check_existing: BoolProperty(default=True, options={"HIDDEN"})  # type: ignore[valid-type]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Result:
        if not self.filepath:
            self.filepath = str(Path(bpy.data.filepath or "untitled.blend").with_suffix("")) + "-flamenco.json"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> Result:
        farm = farm_settings(context.scene)
        try:
            body = flamenco_job(job_from_scene(context.scene), farm.worker_python)
            saved = save_blend()
            protocol.guard_job_inputs({**job_inputs(context.scene), "the .blend file": [bpy.data.filepath]})
            refuse_writing(self.filepath, "the Flamenco job file")
            Path(self.filepath).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        except (ValueError, OSError, AddonError) as exc:
            farm.status = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        farm.status = f"Flamenco job written to {self.filepath}{saved}"
        self.report({"INFO"}, farm.status)
        return {"FINISHED"}

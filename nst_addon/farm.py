"""Submit to Farm: the scene's farm settings, the panel, and the operators that export or submit a stylize job.

Two farms: an Open Job Description bundle folder for AWS Deadline Cloud or any OpenJD runner (written by
farm/openjd/bundle.py), and a Flamenco Manager, which gets the job JSON of its "nst-stylize" job type
(farm/flamenco/nst_stylize.js) by POST {manager}/api/v3/jobs. Nothing goes over the network unless the user
clicks Submit with a Flamenco target and Blender allows online access. Never imports torch.
"""

from __future__ import annotations

import getpass
import importlib
import json
import platform
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from .properties import engine_settings, scene_settings
from .worker_client import EXTENSION_ROOT

if TYPE_CHECKING:
    from farm.openjd import bundle as openjd
else:  # farm/ sits beside nst_addon/: inside the installed extension's package, or top-level when the repository
    # root is on sys.path (python -m nst_addon.batch)
    openjd = importlib.import_module(f"{(__package__ or '').rpartition('.')[0]}.farm.openjd.bundle".lstrip("."))

FLAMENCO_JOB_TYPE = "nst-stylize"
HTTP_TIMEOUT_S = 10.0
Result = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]


class NST_FarmSettings(bpy.types.PropertyGroup):
    target: EnumProperty(  # type: ignore[valid-type]
        name="Farm",
        items=[("OPENJD", "Deadline Cloud / OpenJD", "Write an Open Job Description job bundle folder; submit it "
                                                     "with `deadline bundle submit FOLDER`"),
               ("FLAMENCO", "Flamenco", "Send the job to a Flamenco Manager (needs the nst-stylize job type)")],
        default="OPENJD")
    manager_url: StringProperty(  # type: ignore[valid-type]
        name="Manager URL", default="http://localhost:8080",
        description="The Flamenco Manager's address, as its web interface shows it")
    bundle_folder: StringProperty(  # type: ignore[valid-type]
        name="Bundle Folder", subtype="DIR_PATH", default="//farm/",
        description="Each export makes a new job bundle folder in here (existing ones are never overwritten)")
    chunk_size: IntProperty(  # type: ignore[valid-type]
        name="Chunk Size", default=12, min=1, description="Frames per render task and per stylize task")
    chunking: EnumProperty(  # type: ignore[valid-type]
        name="Chunking",
        items=[("strict", "Strict", "Chunks are stylized one after another, each continuing from the previous "
                                    "chunk's last frame: exactly the one-machine result, no parallel stylizing"),
               ("overlap", "Overlap", "Chunks are stylized side by side; each starts Warmup frames early and is "
                                      "crossfaded into the one before"),
               ("anchors", "Anchors", "A network trained on keyframes of the shot stylizes all chunks side by side")],
        default="strict")
    warmup: IntProperty(  # type: ignore[valid-type]
        name="Warmup", default=4, min=0,
        description="Overlap and anchors: frames before each chunk that it runs again, so the look carries across")
    keyframes: IntProperty(  # type: ignore[valid-type]
        name="Keyframes", default=4, min=1, description="Anchors: keyframes the shot's network is trained on")
    priority: IntProperty(name="Priority", default=50, min=0, max=100)  # type: ignore[valid-type]
    worker_command: EnumProperty(  # type: ignore[valid-type]
        name="Workers Run",
        items=[("BLENDER", "Blender", f"blender -b scene.blend {' '.join(openjd.BLENDER_EXIT_CODE)} -P "
                                      f"{openjd.BATCH_SCRIPT}"),
               ("PYTHON", "Python with bpy", "The worker Python runs Blender as a module (pip install bpy)")],
        default="BLENDER", description="OpenJD: how the workers open the scene")
    worker_blender: StringProperty(  # type: ignore[valid-type]
        name="Worker Blender", default="blender",
        description="OpenJD: the Blender executable on the workers (Flamenco uses its own {blender} variable)")
    worker_python: StringProperty(  # type: ignore[valid-type]
        name="Worker Python", default="",
        description="A Python with PyTorch on the workers (OpenJD also encodes the video with it); empty = the "
                    "engine Python of the add-on's preferences")
    worker_code_folder: StringProperty(  # type: ignore[valid-type]
        name="Worker Code Folder", default="",
        description="This add-on's folder (with scripts/blender_batch.py) as the workers see it; empty = where "
                    "it is installed here")
    fps: FloatProperty(name="FPS", default=0.0, min=0.0,  # type: ignore[valid-type]
                       description="Frame rate of the video; 0 = the scene's")
    status: StringProperty(default="")  # type: ignore[valid-type]


def farm_settings(scene: bpy.types.Scene | None) -> NST_FarmSettings:
    """The scene's farm settings (`scene.nst_farm`, added at registration)."""
    assert scene is not None, "no scene in this context"
    return getattr(scene, "nst_farm")


def job_from_scene(scene: bpy.types.Scene | None) -> openjd.NstJob:
    """The farm job for the .blend and its scene's settings; raises ValueError saying what to fix."""
    assert scene is not None, "no scene in this context"
    if not bpy.data.filepath:
        raise ValueError("the .blend has never been saved: save it where the farm's workers can read it")
    settings, farm = scene_settings(scene), farm_settings(scene)
    if not len(settings.styles):
        raise ValueError("the scene has no style: add one in Render Properties > Neural Style")
    if any(item.image is None and not item.filepath for item in settings.styles):
        raise ValueError("a style in the list has no file: choose a file or remove it")
    if scene.camera is None:
        raise ValueError(f"the scene '{scene.name}' has no active camera: the workers could not render it")
    code = farm.worker_code_folder or str(EXTENSION_ROOT)
    job = openjd.NstJob(
        blend_file=bpy.data.filepath, output_dir="",
        frames=(scene.frame_start, scene.frame_end), styles=[], chunk_size=farm.chunk_size, chunking=farm.chunking,
        warmup=farm.warmup, keyframes=farm.keyframes, method=settings.method.lower(), size=settings.final_size_px,
        iterations=settings.final_iterations, fps=farm.fps or scene.render.fps / scene.render.fps_base,
        python=farm.worker_python or engine_settings().python, code_folder=code,
        blender=farm.worker_blender if farm.worker_command == "BLENDER" else "", priority=farm.priority)
    # One sub-folder of the scene's output folder per job, as Flamenco's own add-on names it for nst-stylize.
    job.output_dir = str(Path(bpy.path.abspath(settings.output_folder)) / job.job_name)
    job.validate()
    return job


def flamenco_job(job: openjd.NstJob, engine_python: str) -> dict:
    """The body of POST /api/v3/jobs for the nst-stylize job type (settings named as in nst_stylize.js).
    `engine_python` empty: each worker uses its add-on preference, else Blender's own Python."""
    return {
        "name": job.job_name,
        "type": FLAMENCO_JOB_TYPE,
        "priority": job.priority,
        "submitter_platform": platform.system().lower(),
        "settings": {
            "frames": job.frame_range, "chunk_size": job.chunk_size, "chunking": job.chunking,
            "warmup": job.warmup, "keyframes": job.keyframes, "styles": ";".join(job.styles),
            "method": job.method, "size": job.size, "iterations": job.iterations, "device": job.device,
            "engine_python": engine_python, "batch_script": f"{job.code_folder}/{openjd.BATCH_SCRIPT}",
            "output_dir": job.output_dir, "blendfile": job.blend_file, "fps": job.fps,
        },
        "metadata": {"user.name": _user_name(), "project": Path(job.blend_file).stem,
                     "blender.version": bpy.app.version_string},
    }


def save_blend() -> str:
    """Saves the open .blend when it has unsaved changes (the farm renders the saved file); returns a note."""
    if not bpy.data.is_dirty:
        return ""
    bpy.ops.wm.save_mainfile()
    return f" (saved {Path(bpy.data.filepath).name} first)"


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


def submit_to_flamenco(manager_url: str, body: dict) -> str:
    """POSTs the job to the Manager; returns the new job's id. Raises ValueError with a message for the user."""
    url = manager_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the Manager URL '{manager_url}' must start with http:// or https://")
    request = urllib.request.Request(f"{url}/api/v3/jobs", data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise ValueError(f"the Flamenco Manager refused the job (HTTP {exc.code}): {_error_text(exc)}"
                         + (f"; is {FLAMENCO_JOB_TYPE} installed? copy farm/flamenco/nst_stylize.js into the "
                            "Manager's scripts/ folder and restart it" if exc.code in (400, 404, 412) else "")) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise ValueError(f"the Flamenco Manager at {url} did not answer within {HTTP_TIMEOUT_S:g} s; check "
                             "that it is running and reachable") from None
        raise ValueError(f"cannot reach the Flamenco Manager at {url} ({reason}); check the URL and that the "
                         "Manager is running") from None
    except json.JSONDecodeError:
        raise ValueError(f"{url} answered, but not as a Flamenco Manager (no JSON); check the URL") from None
    return str(answer.get("id", "?"))


def _error_text(exc: urllib.error.HTTPError) -> str:
    text = exc.read().decode("utf-8", "replace")
    try:
        return str(json.loads(text).get("message", text))
    except (json.JSONDecodeError, AttributeError):
        return text.strip()[:300] or str(exc.reason)


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
                folder = openjd.write_bundle(job, Path(bpy.path.abspath(farm.bundle_folder)))
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
            Path(self.filepath).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        except (ValueError, OSError) as exc:
            farm.status = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        farm.status = f"Flamenco job written to {self.filepath}{saved}"
        self.report({"INFO"}, farm.status)
        return {"FINISHED"}


class NST_PT_farm(bpy.types.Panel):
    bl_label = "Submit to Farm"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_parent_id = "NST_PT_render"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        farm = farm_settings(context.scene)
        layout.prop(farm, "target")
        if farm.target == "FLAMENCO":
            layout.prop(farm, "manager_url")
        else:
            layout.prop(farm, "bundle_folder")
        layout.prop(farm, "chunk_size")
        layout.prop(farm, "chunking")
        if farm.chunking in ("overlap", "anchors"):
            layout.prop(farm, "warmup")
        if farm.chunking == "anchors":
            layout.prop(farm, "keyframes")
        layout.prop(farm, "priority")
        layout.prop(farm, "fps")
        workers = layout.column(heading="Workers")
        if farm.target == "OPENJD":
            workers.prop(farm, "worker_command")
            if farm.worker_command == "BLENDER":
                workers.prop(farm, "worker_blender")
        workers.prop(farm, "worker_python")
        workers.prop(farm, "worker_code_folder")
        row = layout.row()
        if farm.target == "FLAMENCO":
            row.operator("nst.farm_submit", icon="EXPORT")
            row.operator("nst.farm_export_flamenco", icon="FILE")
            if not bpy.app.online_access:
                layout.label(text="Offline: allow online access in Preferences > System to submit", icon="ERROR")
        else:
            row.operator("nst.farm_submit", text="Export Job Bundle", icon="EXPORT")
        if farm.status:
            layout.label(text=farm.status, icon="INFO")


CLASSES = (NST_FarmSettings, NST_OT_farm_submit, NST_OT_farm_export_flamenco, NST_PT_farm)


def register() -> None:
    setattr(bpy.types.Scene, "nst_farm", PointerProperty(type=NST_FarmSettings))  # type: ignore[func-returns-value]


def unregister() -> None:
    delattr(bpy.types.Scene, "nst_farm")

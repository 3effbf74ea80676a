"""The operators: stylize the render or the animation, cancel, and manage the scene's style list.

Each stylize operator is a list of steps (render or export on Blender's thread, then one worker job). Interactive
runs are modal, polled by a timer, so Blender stays responsive; `execute` (and `blender -b`) runs them in a loop.
"""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, cast

import bpy
from bpy.props import BoolProperty, StringProperty

from . import rendering
from .images import load_result, show_in_image_editor
from .properties import EngineSettings, engine_settings, scene_settings, user_folder
from .worker_client import CANCEL_GRACE_S, AddonError, Job, WorkerClient, shared_client

RESULT_IMAGE = "NST Stylized Render"
Result = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
TIMER_INTERVAL_S = 0.1


@dataclass
class Step:
    """One unit of work: `prepare` runs on Blender's thread and returns a worker request (None = skip it)."""

    label: str
    prepare: Callable[[], dict | None]
    finish: Callable[[dict], None]
    render_only: bool = False  # a render for a later job, not a frame of its own


class _Run:
    """The run in progress (one at a time), so the panel can show it and Cancel can reach it."""

    operator: "WorkerOperator | None" = None
    cancel_requested = False


def active_run() -> "WorkerOperator | None":
    return _Run.operator


class WorkerOperator(bpy.types.Operator):
    """Operators whose work runs in the engine worker: subclasses give `plan` (validate, list steps) and `finished`."""

    bl_options = {"REGISTER"}
    steps: list[Step]
    engine: EngineSettings
    client: WorkerClient
    job: Job | None = None
    timer: Any = None

    def plan(self, context: bpy.types.Context) -> list[Step]:
        raise NotImplementedError

    def finished(self, context: bpy.types.Context, done: int, skipped: int) -> str:
        return f"done: {done} stylized, {skipped} already there"

    # -- shared flow ---------------------------------------------------------------------------

    def _start(self, context: bpy.types.Context) -> None:
        if _Run.operator is not None:
            raise AddonError("a stylization is already running; wait for it or press Cancel")
        self.engine = engine_settings()
        self.steps = self.plan(context)
        self.client = shared_client(self.engine.python, self.engine.models_folder)
        self.started_s = time.monotonic()
        self.done = self.skipped = 0
        self.settings = scene_settings(context.scene)
        self.settings.progress, self.settings.status = 0.0, "starting"

    def _set_status(self, context: bpy.types.Context, text: str, fraction: float) -> None:
        self.settings.status, self.settings.progress = text, fraction
        workspace = getattr(context, "workspace", None)
        if workspace is not None and not bpy.app.background:
            workspace.status_text_set(f"Neural Style: {text} (Esc to cancel)")
        for area in (context.screen.areas if getattr(context, "screen", None) else ()):
            area.tag_redraw()

    def _end(self, context: bpy.types.Context) -> None:
        if _Run.operator is self or _Run.operator is None:  # a refused second run must not free the first's lock
            _Run.operator, _Run.cancel_requested = None, False
        workspace = getattr(context, "workspace", None)
        if workspace is not None and not bpy.app.background:
            workspace.status_text_set(None)

    def _fail(self, context: bpy.types.Context, message: str) -> Result:
        """Any failure, at any point of the run (before `_start` has set anything up too): one line in Blender's
        report and the panel's status."""
        scene_settings(context.scene).status = f"failed: {message}"
        self.report({"ERROR"}, message)
        self._end(context)
        return {"CANCELLED"}

    def _fail_unexpected(self, context: bpy.types.Context, exc: Exception) -> Result:
        """A bug, not the user's doing: still one line for the user; the traceback goes to the console."""
        traceback.print_exc()
        return self._fail(context, f"unexpected error ({exc.__class__.__name__}: {exc}); please report it with "
                                   "the console's output")

    @staticmethod
    def _prepare(step: Step) -> dict | None:
        """Run a step's Blender-side work, turning file and render failures into messages."""
        try:
            return step.prepare()
        except OSError as exc:
            raise AddonError(f"cannot write {exc.filename or 'a file'}: {exc.strerror or exc}; check the folder's "
                             "permissions and free space") from None
        except RuntimeError as exc:
            raise AddonError(f"Blender could not render {step.label}: {str(exc).strip()}") from None

    def _warn(self, step: Step, job: Job) -> None:
        """Tell the user what the engine had to give up for this step (e.g. smaller tiles or the CPU after running
        out of GPU memory): in Blender's report, and a line in the log for batch runs."""
        for warning in job.warnings:
            self.report({"WARNING"}, f"{step.label}: {warning}")
            print(f"[nst] warning: {step.label}: {warning}", flush=True)

    def _step_text(self, index: int, step: Step, job: Job | None) -> str:
        text = f"{step.label} ({index + 1}/{len(self.steps)})"
        return f"{text}: {job.message}" if job is not None else text

    def execute(self, context: bpy.types.Context) -> Result:
        """Synchronous: for scripts and `blender -b`, where timers never tick."""
        try:
            self._start(context)
            _Run.operator = self
            for index, step in enumerate(self.steps):
                request = self._prepare(step)
                if request is None:
                    if not step.render_only:
                        self.skipped += 1
                        print(f"[nst] {self._step_text(index, step, None)}: already stylized, skipped", flush=True)
                    continue
                begun = time.monotonic()
                started_frames: set[int] = set()

                def show(job: Job, index: int = index, step: Step = step) -> None:
                    fraction = (index + job.fraction) / len(self.steps)
                    self._set_status(context, self._step_text(index, step, job), fraction)
                    if job.fraction > 0 and job.frame not in started_frames:  # a line per frame, for logs and farms
                        started_frames.add(job.frame)
                        print(f"[nst] {step.label}: {job.message} ({time.monotonic() - begun:.0f} s)", flush=True)

                job = self.client.run(request, hang_timeout_s=self.engine.hang_timeout_s, on_progress=show)
                self._warn(step, job)
                if job.error or job.cancelled:
                    raise AddonError(job.error or "cancelled")
                assert job.result is not None
                step.finish(job.result)
                self.done += 1
                print(f"[nst] {self._step_text(index, step, None)}: done in {time.monotonic() - begun:.1f} s"
                      + (f" -> {job.result['output']}" if "output" in job.result else ""), flush=True)
        except AddonError as exc:
            return self._fail(context, str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            return self._fail_unexpected(context, exc)
        message = self.finished(context, self.done, self.skipped)
        self._set_status(context, message, 1.0)
        self.report({"INFO"}, message)
        self._end(context)
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Result:
        if bpy.app.background:
            return self.execute(context)
        try:
            self._start(context)
        except AddonError as exc:
            return self._fail(context, str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            return self._fail_unexpected(context, exc)
        _Run.operator = self
        self.index, self.job, self.cancel_sent_s = 0, None, 0.0
        self.timer = context.window_manager.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Result:
        if event.type == "ESC" and event.value == "PRESS":
            _Run.cancel_requested = True
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            return self._tick(context)
        except AddonError as exc:
            self._stop_timer(context)
            return self._fail(context, str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            self._stop_timer(context)
            return self._fail_unexpected(context, exc)

    def _tick(self, context: bpy.types.Context) -> Result:
        if _Run.cancel_requested:
            return self._cancel(context)
        if self.job is None:
            if self.index >= len(self.steps):
                self._stop_timer(context)
                message = self.finished(context, self.done, self.skipped)
                self._set_status(context, message, 1.0)
                self.report({"INFO"}, message)
                self._end(context)
                return {"FINISHED"}
            step = self.steps[self.index]
            self._set_status(context, self._step_text(self.index, step, None) + ": rendering",
                             self.index / len(self.steps))
            request = self._prepare(step)
            if request is None:
                self.skipped += 0 if step.render_only else 1
                self.index += 1
                return {"RUNNING_MODAL"}
            self.job = self.client.submit(request)
            return {"RUNNING_MODAL"}
        self.client.pump()
        self.client.check_hang(self.job, self.engine.hang_timeout_s)
        step = self.steps[self.index]
        job = self.job
        if job.done:
            self._warn(step, job)
        if job.error or job.cancelled:
            raise AddonError(job.error or "cancelled")
        if job.result is not None:
            step.finish(job.result)
            self.done += 1
            self.index += 1
            self.job = None
        self._set_status(context, self._step_text(self.index if job.result is None else self.index - 1, step, job),
                         (self.index + (0 if job.result else job.fraction)) / len(self.steps))
        return {"RUNNING_MODAL"}

    def _cancel(self, context: bpy.types.Context) -> Result:
        """Ask the worker to cancel; kill it if it has not stopped within the grace period."""
        if self.job is not None and not self.job.done:
            if not self.cancel_sent_s:
                self.cancel_sent_s = time.monotonic()
                self.client.cancel(self.job)
                self._set_status(context, "cancelling", self.settings.progress)
                return {"RUNNING_MODAL"}
            self.client.pump()
            if not self.job.done and time.monotonic() - self.cancel_sent_s < CANCEL_GRACE_S:
                return {"RUNNING_MODAL"}
            if not self.job.done:
                self.client.kill()
        self._stop_timer(context)
        self.settings.status = "cancelled"
        self.report({"WARNING"}, "Neural style cancelled; finished frames are kept")
        self._end(context)
        return {"CANCELLED"}

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal run itself (a file is loaded, the window closes): stop the job, free the lock."""
        if self.job is not None and not self.job.done and self.client.alive:
            self.client.cancel(self.job)
        self._stop_timer(context)
        self._end(context)

    def _stop_timer(self, context: bpy.types.Context) -> None:
        if getattr(self, "timer", None) is not None:
            context.window_manager.event_timer_remove(self.timer)
            self.timer = None


def object_regions(scene: bpy.types.Scene, with_motion: bool) -> tuple[dict[str, dict], list[str]]:
    """Check per-object style files, set up passes and pass indices; the worker's regions and what changed."""
    rendering.region_settings(scene)  # validates style files before anything in the scene changes
    changes = rendering.prepare_passes(scene, with_motion)
    if changes:
        scene_settings(scene).render_changes = "; ".join(changes)
    return rendering.region_settings(scene), changes


def render_steps(scene: bpy.types.Scene, frames: list[tuple[int, rendering.FrameFiles]], overwrite: bool
                 ) -> list[Step]:
    """A render step for each frame whose files are missing (or every frame, when overwriting)."""
    steps = []
    for frame, files in frames:
        if overwrite or not files.rendered:

            def render(frame=frame, files=files):
                scene.frame_set(frame)
                rendering.render_frame(scene, files)
                return None

            steps.append(Step(f"render frame {frame}", render, lambda result: None, render_only=True))
    return steps


class NST_OT_stylize_render(WorkerOperator):
    """Render the current frame with the passes the styles need and stylize it; the result opens in an Image Editor"""

    bl_idname = "nst.stylize_render"
    bl_label = "Stylize Render"

    def plan(self, context):
        scene = context.scene
        rendering.check_camera(scene)
        folder = user_folder("jobs", "render")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        styles, weights = rendering.scene_styles(scene_settings(scene), folder)
        regions, changes = object_regions(scene, with_motion=False)
        files = rendering.FrameFiles.in_folder(folder, scene.frame_current)
        use_last = scene_settings(scene).use_last_render and not changes  # a changed pass needs a new render

        def prepare():
            rendering.render_frame(scene, files, render=not use_last)
            files.stylized.parent.mkdir(parents=True, exist_ok=True)
            return rendering.stylize_request(scene, self.engine, files, styles, weights, regions)

        def finish(result):
            image = load_result(Path(result["output"]), RESULT_IMAGE, rendering.render_size(scene))
            image["nst_content"] = str(files.display)
            show_in_image_editor(context, image)

        return [Step(f"frame {scene.frame_current}", prepare, finish)]

    def finished(self, context, done, skipped):
        return f"stylized the render into the image '{RESULT_IMAGE}'"


class NST_OT_stylize_animation(WorkerOperator):
    """Render and stylize the scene's frame range into the output folder; frames already stylized are skipped"""

    bl_idname = "nst.stylize_animation"
    bl_label = "Stylize Animation"

    def plan(self, context):
        scene = context.scene
        rendering.check_camera(scene)
        if not scene_settings(scene).output_folder:
            raise AddonError("set an output folder for the animation")
        folder = Path(bpy.path.abspath(scene_settings(scene).output_folder))
        styles, weights = rendering.scene_styles(scene_settings(scene), user_folder("jobs", "animation-styles"))
        regions, _ = object_regions(scene, with_motion=True)
        overwrite = scene_settings(scene).overwrite
        self.folder = folder
        frames = [(frame, rendering.FrameFiles.in_folder(folder, frame))
                  for frame in range(scene.frame_start, scene.frame_end + 1, scene.frame_step)]
        if scene_settings(scene).temporal:
            return self._sequence_steps(scene, frames, styles, weights, regions, overwrite)
        steps = []
        for frame, files in frames:

            def prepare(frame=frame, files=files):
                if files.stylized.is_file() and not overwrite:
                    return None
                if overwrite or not files.rendered:
                    scene.frame_set(frame)
                    rendering.render_frame(scene, files)
                files.stylized.parent.mkdir(parents=True, exist_ok=True)
                return rendering.stylize_request(scene, self.engine, files, styles, weights, regions)

            steps.append(Step(f"frame {frame}", prepare, lambda result: None))
        return steps

    def _sequence_steps(self, scene, frames, styles, weights, regions, overwrite) -> list[Step]:
        """Flicker-free: render what is missing, then one sequence job (the engine skips finished frames)."""
        steps = render_steps(scene, frames, overwrite)

        def sequence():
            frames[0][1].stylized.parent.mkdir(parents=True, exist_ok=True)
            return rendering.sequence_request(scene, self.engine, [files for _, files in frames], styles, weights,
                                              regions)

        def finish(result):
            self.sequence_counts = (len(result["written"]), len(result["skipped"]))
            for path in result["skipped"]:
                print(f"[nst] {Path(path).name}: already stylized, skipped", flush=True)
            for path, motion in zip(result["written"], result.get("flow", [])):
                print(f"[nst] {Path(path).name}: stylized -> {path} (motion: {motion})", flush=True)

        steps.append(Step(f"frames {frames[0][0]}-{frames[-1][0]}", sequence, finish))
        return steps

    def finished(self, context, done, skipped):
        if hasattr(self, "sequence_counts"):
            done, skipped = self.sequence_counts
        return f"animation: {done} frame(s) stylized, {skipped} already done, in {self.folder / 'stylized'}"


class NST_OT_train_from_scene(WorkerOperator):
    """Train a Fast model for the scene's style on renders of this scene's frame range (in the engine worker)"""

    bl_idname = "nst.train_from_scene"
    bl_label = "Train from This Scene"

    def plan(self, context):
        scene = context.scene
        settings = scene_settings(scene)
        rendering.check_camera(scene)
        if not settings.output_folder:
            raise AddonError("set an output folder: the renders the model learns from go there")
        folder = Path(bpy.path.abspath(settings.output_folder))
        styles, _ = rendering.scene_styles(settings, user_folder("jobs", "training-styles"))
        if len(styles) != 1:
            raise AddonError("a Fast model learns one style; keep a single style in the list")
        name = f"{Path(styles[0]).stem}_{bpy.path.clean_name(scene.name)}"
        self.model_name, self.training_folder = name, folder / "training"
        frames = [(frame, rendering.FrameFiles.in_folder(folder, frame))
                  for frame in range(scene.frame_start, scene.frame_end + 1, scene.frame_step)]
        steps = render_steps(scene, frames, overwrite=False)

        def train():
            self.training_folder.mkdir(parents=True, exist_ok=True)
            for _, files in frames:  # the pictures as seen, without the passes' EXRs
                shutil.copyfile(files.display, self.training_folder / files.display.name)
            models = Path(self.engine.models_folder)
            models.mkdir(parents=True, exist_ok=True)
            return {"type": "train", "style": styles[0], "content_dirs": [str(self.training_folder)],
                    "output": str(models / f"{name}.safetensors"), "device": self.engine.device,
                    "settings": {"steps": settings.train_steps, "crop_px": settings.train_crop_px, "batch_size": 2,
                                 "weights": self.engine.weights}}

        def finish(result):
            settings.fast_model = name  # ready to use: the Fast method now picks this model

        steps.append(Step(f"train '{name}'", train, finish))
        return steps

    def finished(self, context, done, skipped):
        return f"trained the Fast model '{self.model_name}'; choose Method: Fast to use it"


def active_texture_node(context: bpy.types.Context) -> bpy.types.ShaderNodeTexImage:
    """The active material's active node, if it is an Image Texture with an image; else a clear error."""
    ob = context.object
    material = ob.active_material if ob is not None else None
    if material is None or material.node_tree is None:
        raise AddonError("select an object whose active material uses nodes")
    node = material.node_tree.nodes.active
    if node is None or node.bl_idname != "ShaderNodeTexImage":
        raise AddonError(f"select an Image Texture node in the material '{material.name}' (click it in the Shader "
                         "Editor)")
    texture = cast(bpy.types.ShaderNodeTexImage, node)
    if texture.image is None:
        raise AddonError(f"the Image Texture node '{node.name}' has no image")
    return texture


class NST_OT_cancel(bpy.types.Operator):
    """Stop the running stylization (finished frames are kept)"""

    bl_idname = "nst.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        _Run.cancel_requested = True
        return {"FINISHED"}


class NST_OT_add_style(bpy.types.Operator):
    """Add a style image to the scene's styles"""

    bl_idname = "nst.add_style"
    bl_label = "Add Style"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH")  # type: ignore[valid-type]
    licence: StringProperty(default="")  # type: ignore[valid-type]
    filter_image: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def invoke(self, context, event):
        if self.filepath:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        if not Path(bpy.path.abspath(self.filepath)).is_file():
            self.report({"ERROR"}, f"the style image {self.filepath} does not exist")
            return {"CANCELLED"}
        settings = scene_settings(context.scene)
        item = settings.styles.add()
        item.filepath, item.licence = self.filepath, self.licence
        settings.active_style_index = len(settings.styles) - 1
        return {"FINISHED"}


class NST_OT_remove_style(bpy.types.Operator):
    """Remove the selected style from the scene's styles"""

    bl_idname = "nst.remove_style"
    bl_label = "Remove Style"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = scene_settings(context.scene)
        if 0 <= settings.active_style_index < len(settings.styles):
            settings.styles.remove(settings.active_style_index)
            settings.active_style_index = max(0, settings.active_style_index - 1)
        return {"FINISHED"}


CLASSES = (NST_OT_stylize_render, NST_OT_stylize_animation, NST_OT_train_from_scene, NST_OT_cancel,
           NST_OT_add_style, NST_OT_remove_style)

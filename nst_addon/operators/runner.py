"""The worker-driven operator runner: an operator is a list of steps (render or export on Blender's thread, then one
worker job each), run one move at a time by `advance`.

Interactive runs are modal: a timer calls `advance` without waiting, so Blender stays responsive, and Esc or the
Cancel button stops the job. `execute` (scripts and `blender -b`, where timers never tick) calls the same `advance`
in a loop that waits on the worker. One run at a time, so the panel can show it and Cancel can reach it.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Literal

import bpy

from ..preferences import EngineSettings, engine_settings
from ..property_groups.scene import scene_settings
from ..worker_client import CANCEL_GRACE_S, AddonError, Job, WorkerClient, shared_client

Result = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
TIMER_INTERVAL_S = 0.1
BLOCKING_WAIT_S = 0.5  # `execute`: how long one move waits for the worker's next event


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
    index: int  # the step running or next
    done: int
    skipped: int
    cancel_sent_s: float
    step_began_s: float = 0.0
    frames_logged: set[int]  # the frames of the running step that have had their log line

    def plan(self, context: bpy.types.Context) -> list[Step]:
        raise NotImplementedError

    def finished(self, context: bpy.types.Context, done: int, skipped: int) -> str:
        return f"done: {done} stylized, {skipped} already there"

    # -- the two ways to run: blocking and modal -----------------------------------------------------------------

    def execute(self, context: bpy.types.Context) -> Result:
        """Synchronous: for scripts and `blender -b`, where timers never tick."""
        try:
            self._start(context)
            while not self.advance(context, wait_s=BLOCKING_WAIT_S):
                pass
        except AddonError as exc:
            return self._fail(context, str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            return self._fail_unexpected(context, exc)
        return self._succeed(context)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Result:
        if bpy.app.background:
            return self.execute(context)
        try:
            self._start(context)
        except AddonError as exc:
            return self._fail(context, str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            return self._fail_unexpected(context, exc)
        self.timer = context.window_manager.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Result:
        if event.type == "ESC" and event.value == "PRESS":
            _Run.cancel_requested = True
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            if _Run.cancel_requested:
                return self._cancel(context)
            if not self.advance(context, wait_s=0.0):
                return {"RUNNING_MODAL"}
        except AddonError as exc:
            self._stop_timer(context)
            return self._fail(context, str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            self._stop_timer(context)
            return self._fail_unexpected(context, exc)
        self._stop_timer(context)
        return self._succeed(context)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal run itself (a file is loaded, the window closes): stop the job, free the lock."""
        if self.job is not None and not self.job.done and self.client.alive:
            self.client.cancel(self.job)
        self._stop_timer(context)
        self._end(context)

    # -- one move of the run -------------------------------------------------------------------------------------

    def advance(self, context: bpy.types.Context, wait_s: float) -> bool:
        """Start the next step, or hand the worker's news (waiting up to `wait_s` for it) to the running one.
        Returns True once every step is done; AddonError when a step fails or is cancelled."""
        if self.job is None:
            if self.index >= len(self.steps):
                return True
            self._start_step(context, self.steps[self.index])
            return False
        self.client.pump(timeout_s=wait_s)
        self.client.check_hang(self.job, self.engine.hang_timeout_s)
        step, job = self.steps[self.index], self.job
        if job.done:
            self._warn(step, job)
        if job.error or job.cancelled:
            raise AddonError(job.error or "cancelled")
        if job.result is None:
            self._show_progress(context, step, job)
            return False
        step.finish(job.result)
        self.done += 1
        print(f"[nst] {self._step_text(self.index, step, None)}: done in {time.monotonic() - self.step_began_s:.1f} s"
              + (f" -> {job.result['output']}" if "output" in job.result else ""), flush=True)
        self._set_status(context, self._step_text(self.index, step, job), (self.index + 1) / len(self.steps))
        self.index, self.job = self.index + 1, None
        return False

    def _start_step(self, context: bpy.types.Context, step: Step) -> None:
        self._set_status(context, self._step_text(self.index, step, None) + ": rendering",
                         self.index / len(self.steps))
        request = self._prepare(step)
        if request is None:
            if not step.render_only:
                self.skipped += 1
                print(f"[nst] {self._step_text(self.index, step, None)}: already stylized, skipped", flush=True)
            self.index += 1
            return
        self.job = self.client.submit(request)
        self.step_began_s, self.frames_logged = time.monotonic(), set()

    def _show_progress(self, context: bpy.types.Context, step: Step, job: Job) -> None:
        """The panel's bar and status; a log line when a frame starts (for logs and farms)."""
        self._set_status(context, self._step_text(self.index, step, job),
                         (self.index + job.fraction) / len(self.steps))
        if job.fraction > 0 and job.frame not in self.frames_logged:
            self.frames_logged.add(job.frame)
            print(f"[nst] {step.label}: {job.message} ({time.monotonic() - self.step_began_s:.0f} s)", flush=True)

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

    # -- start and end -------------------------------------------------------------------------------------------

    def _start(self, context: bpy.types.Context) -> None:
        if _Run.operator is not None:
            raise AddonError("a stylization is already running; wait for it or press Cancel")
        self.engine = engine_settings()
        from .. import rendering
        from ..worker_client import protocol

        # every file the run writes (renders, pictures, previews) is checked against what it reads
        protocol.guard_job_inputs({**rendering.job_inputs(context.scene), "the .blend file": [bpy.data.filepath]})
        self.steps = self.plan(context)
        self.client = shared_client(self.engine.python, self.engine.models_folder)
        self.index, self.done, self.skipped, self.job, self.cancel_sent_s = 0, 0, 0, None, 0.0
        self.settings = scene_settings(context.scene)
        self.settings.progress, self.settings.status = 0.0, "starting"
        _Run.operator = self

    def _set_status(self, context: bpy.types.Context, text: str, fraction: float) -> None:
        self.settings.status, self.settings.progress = text, fraction
        workspace = getattr(context, "workspace", None)
        if workspace is not None and not bpy.app.background:
            workspace.status_text_set(f"Neural Style: {text} (Esc to cancel)")
        for area in (context.screen.areas if getattr(context, "screen", None) else ()):
            area.tag_redraw()

    def _succeed(self, context: bpy.types.Context) -> Result:
        message = self.finished(context, self.done, self.skipped)
        self._set_status(context, message, 1.0)
        self.report({"INFO"}, message)
        self._end(context)
        return {"FINISHED"}

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

    def _stop_timer(self, context: bpy.types.Context) -> None:
        if getattr(self, "timer", None) is not None:
            context.window_manager.event_timer_remove(self.timer)
            self.timer = None


class NST_OT_cancel(bpy.types.Operator):
    """Stop the running stylization (finished frames are kept)"""

    bl_idname = "nst.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        _Run.cancel_requested = True
        return {"FINISHED"}

"""Stylize on Render (`scene.nst.stylize_on_render`): F12, Ctrl+F12 and `blender -b -a` write the stylized frame to
the scene's own output path, with the method, styles, per-object settings and flicker-free setting of the panel.

Where the files go, for an output path `//out/shot_####.png`:
- `//out/shot_0001.png`: the stylized frame (only ever a stylized frame, so a rerun can skip it);
- `//out/raw/shot_0001.png`: the raw render, Blender's own file in the scene's format;
- `//out/raw/nst/render/frame_0001.{png,exr}`: what the engine reads (display PNG, multilayer passes);
- `//out/layers/shot_0001.exr` with Compositor Layers on: the render's passes and a `Stylized` layer, for the
  compositor's NST Mix (nst_addon/compositor.py).

Blender's render handlers do the Blender side and queue the worker's jobs:
- render_init checks the job (styles, passes, a format the engine writes, a writable folder). A failed check is one
  line in the status and the render goes on raw. Unless the panel's Overwrite is on, Blender's own Overwrite is
  off for the render, so an animation skips the frames already stylized.
- render_post saves the engine's inputs. In the UI this runs on the render thread, so it only saves files.
- render_write moves Blender's file from the output path to raw/ and, frame by frame, queues the frame: the worker
  stylizes it while Blender renders the next one.
- render_complete keeps F12's raw frame and queues it, and queues a flicker-free animation as one sequence job.
The jobs are driven on the main thread by a timer that never waits; under `blender -b` (where timers never tick)
render_complete drives them to the end, so Blender does not exit with frames unwritten. A render is never lost:
when stylization fails, the raw frame stays in raw/ and the failure is one line.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import bpy

from . import rendering
from .preferences import engine_settings
from .property_groups import scene as scene_hooks
from .property_groups.scene import scene_settings
from .rendering import FrameFiles
from .worker_client import AddonError, Job, protocol, refuse_writing, shared_client

TICK_S = 0.1
IDLE_TICK_S = 0.5
ENGINE_WRITES = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff"}  # engine.imageio's output formats
LABEL = "Stylize on Render"


@dataclass
class _Frame:
    number: int
    files: FrameFiles  # the engine's inputs; `stylized` is the scene's output path
    raw: Path  # where the raw render is kept
    written_by_blender: bool = False


@dataclass
class _RenderJob:
    """One render (F12 or an animation) with the toggle on, and the worker jobs it queued."""

    scene: str
    raw_folder: Path
    styles: list[str]
    weights: list[float]
    regions: dict[str, dict]
    temporal: bool
    restore_overwrite: bool | None  # Blender's use_overwrite before the render, when we turned it off
    frames: list[_Frame] = field(default_factory=list)
    queued: list[tuple[str, dict]] = field(default_factory=list)  # (what, request), not sent yet
    running: list[tuple[str, Job]] = field(default_factory=list)
    stylized: int = 0
    failed: str = ""
    rendering: bool = True


_lock = threading.Lock()  # render handlers may run on Blender's render thread, the timer on the main one
_current: _RenderJob | None = None
_jobs: list[_RenderJob] = []  # renders whose jobs are not all done
_messages: list[tuple[str, str]] = []  # (scene, status line) to set on the main thread


def _say(scene_name: str, line: str) -> None:
    """One status line: printed now (logs and farms), set in the panel on the main thread."""
    print(f"[nst] {LABEL}: {line}", flush=True)
    with _lock:
        _messages.append((scene_name, f"{LABEL}: {line}"))
    if threading.current_thread() is threading.main_thread():
        _show_messages()


def _show_messages() -> None:
    with _lock:
        pending, _messages[:] = list(_messages), []
    for scene_name, line in pending:
        scene = bpy.data.scenes.get(scene_name)
        if scene is not None:
            scene_settings(scene).status = line


def output_path(scene: bpy.types.Scene, frame: int) -> Path:
    return Path(bpy.path.abspath(scene.render.frame_path(frame=frame)))


def layers_path(scene: bpy.types.Scene, frame: int) -> Path:
    """The frame's compositor layers (Compositor Layers on): `layers/<name>.exr` beside the stylized frame."""
    stylized = output_path(scene, frame)
    return stylized.parent / "layers" / f"{stylized.stem}.exr"


def _check(scene: bpy.types.Scene) -> _RenderJob:
    """The job of this render, after the checks; AddonError with the fix."""
    rendering.check_camera(scene)
    settings = scene_settings(scene)
    first = output_path(scene, scene.frame_current)
    if scene.render.image_settings.media_type == "VIDEO":
        raise AddonError("it writes frames, not a movie; set Output > File Format to PNG, JPEG, TIFF or OpenEXR")
    if first.suffix.lower() not in ENGINE_WRITES:
        raise AddonError(f"the output {first.name} has no image extension the engine writes (PNG, JPEG, TIFF, EXR); "
                         "turn on Output > File Extensions or choose one of those formats")
    raw_folder = first.parent / "raw"
    try:
        (raw_folder / "nst").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AddonError(f"cannot write in the output folder {first.parent} ({exc.strerror or exc}); choose a "
                         "folder you can write to in Output Properties") from None
    protocol.guard_job_inputs({**rendering.job_inputs(scene), "the .blend file": [bpy.data.filepath]})
    styles, weights = rendering.scene_styles(settings, raw_folder / "nst")
    changes = rendering.prepare_passes(scene, with_motion=settings.temporal)
    if changes:  # a pass turned on now is in the next render, not this one
        raise AddonError(f"{'; '.join(changes)}; render again to stylize (this render is kept raw)")
    restore = None
    if not settings.overwrite and scene.render.use_overwrite:
        restore, scene.render.use_overwrite = True, False
    return _RenderJob(scene.name, raw_folder, styles, weights, rendering.region_settings(scene), settings.temporal,
                      restore)


@bpy.app.handlers.persistent
def _on_render_init(scene, *_args) -> None:
    global _current
    _current = None
    if not scene_settings(scene).stylize_on_render:
        return
    try:
        _current = _check(scene)
    except (AddonError, ValueError, OSError) as exc:
        _say(scene.name, f"not stylized: {exc}")


@bpy.app.handlers.persistent
def _on_render_post(scene, *_args) -> None:
    job = _current
    if job is None or job.failed:
        return
    number = scene.frame_current
    files = replace(FrameFiles.in_folder(job.raw_folder / "nst", number), stylized=output_path(scene, number))
    frame = _Frame(number, files, job.raw_folder / files.stylized.name)
    try:
        rendering.save_frame(scene, files)
    except (RuntimeError, OSError, AddonError) as exc:
        job.failed = f"frame {number}: cannot save the render for the engine ({exc})"
        _say(job.scene, f"{job.failed}; the raw render is kept")
        return
    job.frames.append(frame)


def _queue_frame(scene: bpy.types.Scene, job: _RenderJob, frame: _Frame) -> None:
    request = rendering.stylize_request(scene, engine_settings(), frame.files, job.styles, job.weights, job.regions)
    with _lock:
        job.queued.append((f"frame {frame.number}", request))
    _queue_layers(scene, job, [frame])


def _queue_layers(scene: bpy.types.Scene, job: _RenderJob, frames: list[_Frame]) -> None:
    """Compositor Layers on: after the frames' stylization (the worker runs jobs in order), their layers EXR."""
    if not scene_settings(scene).compositor_layers:
        return
    objects = {ob.name: ob.pass_index for ob in rendering.styled_objects(scene)} if job.regions else {}
    for frame in frames:
        target = layers_path(scene, frame.number)
        target.parent.mkdir(parents=True, exist_ok=True)
        request = {"type": "compositor_layers", "passes": str(frame.files.passes),
                   "stylized": str(frame.files.stylized), "output": str(target), "objects": objects or None}
        with _lock:
            job.queued.append((f"frame {frame.number}'s compositor layers", request))


@bpy.app.handlers.persistent
def _on_render_write(scene, *_args) -> None:
    """Blender has written the raw frame at the output path: it moves to raw/, where it is kept."""
    job = _current
    written = output_path(scene, scene.frame_current)
    if job is None or not written.is_file():
        return
    raw = job.raw_folder / written.name
    try:
        refuse_writing(raw, "the raw render")
        os.replace(written, raw)
    except (OSError, AddonError) as exc:
        _say(job.scene, f"frame {scene.frame_current}: the raw render stays at {written} ({exc})")
        return
    for frame in job.frames:
        if frame.number == scene.frame_current:
            frame.written_by_blender = True
            if not job.temporal:  # queued only now: the stylized frame must not be the file moved to raw/
                _queue_frame(scene, job, frame)
    if _drains_in_place():
        _advance()  # the worker starts on this frame while Blender renders the next


@bpy.app.handlers.persistent
def _on_render_complete(scene, *_args) -> None:
    global _current
    job, _current = _current, None
    if job is None:
        return
    if job.restore_overwrite is not None:
        scene.render.use_overwrite = job.restore_overwrite
    if not job.failed:
        stills = [frame for frame in job.frames if not frame.written_by_blender]
        for frame in stills:  # F12: Blender wrote nothing; the raw render is kept here, the frame stylized afresh
            try:
                _keep_raw(scene, frame)
            except (RuntimeError, OSError, AddonError) as exc:
                job.failed = f"frame {frame.number}: cannot keep the raw render ({exc}); it is still in Render Result"
                break
            _queue_frame(scene, job, frame)
        if job.temporal and len(stills) < len(job.frames):
            _queue_sequence(scene, job)
    job.rendering = False
    with _lock:
        _jobs.append(job)
    if _drains_in_place():
        while _advance(wait_s=0.5):
            pass


@bpy.app.handlers.persistent
def _on_render_cancel(scene, *_args) -> None:
    """Esc during the render: the frames rendered so far are still stylized."""
    _on_render_complete(scene)


def _keep_raw(scene: bpy.types.Scene, frame: _Frame) -> None:
    refuse_writing(frame.raw, "the raw render")
    temp = frame.raw.with_name(f".{frame.raw.stem}.part{frame.raw.suffix}")
    bpy.data.images["Render Result"].save_render(str(temp), scene=scene)
    os.replace(temp, frame.raw)


def _queue_sequence(scene: bpy.types.Scene, job: _RenderJob) -> None:
    """Flicker-free: one sequence job over the scene's frames that have the engine's inputs, so a frame rendered
    now is held to the ones stylized before; the engine skips frames already stylized."""
    frames = []
    for number in range(scene.frame_start, scene.frame_end + 1, scene.frame_step):
        files = replace(FrameFiles.in_folder(job.raw_folder / "nst", number), stylized=output_path(scene, number))
        if files.rendered:
            frames.append(files)
    request = rendering.sequence_request(scene, engine_settings(), frames, job.styles, job.weights, job.regions)
    request["overwrite"] = False  # the frames of earlier renders stay; this render's have no output yet
    with _lock:
        job.queued.append((f"frames {job.frames[0].number}-{job.frames[-1].number}", request))
    _queue_layers(scene, job, job.frames)


def _drains_in_place() -> bool:
    """Under `blender -b` timers never tick: render_complete drives the jobs to the end itself."""
    return bpy.app.background


def _advance(wait_s: float = 0.0) -> bool:
    """Send queued jobs, hand the worker's news to them (waiting at most `wait_s`), and report the renders whose
    jobs are all done. True while work remains."""
    _show_messages()
    with _lock:
        jobs = [*_jobs, *([_current] if _current is not None else [])]
    if any(job.queued or job.running for job in jobs):
        engine = engine_settings()
        client = shared_client(engine.python, engine.models_folder)
        for job in jobs:
            with _lock:
                queued, job.queued = job.queued, []
            job.running += [(what, client.submit(request)) for what, request in queued if not job.failed]
        client.pump(timeout_s=wait_s)
        for job in jobs:
            for what, worker_job in list(job.running):
                client.check_hang(worker_job, engine.hang_timeout_s)
                if worker_job.done:
                    job.running.remove((what, worker_job))
                    _finish(job, what, worker_job)
    for job in jobs:
        if not job.rendering and not job.queued and not job.running:
            _report(job)
    with _lock:
        return bool(_jobs) or (_current is not None and bool(_current.queued or _current.running))


def _finish(job: _RenderJob, what: str, worker_job: Job) -> None:
    if worker_job.error or worker_job.cancelled:
        if not job.failed:
            job.failed = f"{what} failed: {worker_job.error or 'cancelled'}"
        return
    result = worker_job.result or {}
    if worker_job.request["type"] != "compositor_layers":
        job.stylized += len(result["written"]) if "written" in result else 1


def _report(job: _RenderJob) -> None:
    with _lock:
        if job in _jobs:
            _jobs.remove(job)
    raw = f"the raw render(s) are in {job.raw_folder}"
    if job.failed:
        _say(job.scene, f"{job.failed}; {raw}")
    elif job.frames:
        _say(job.scene, f"{job.stylized} frame(s) stylized to the output path; {raw}")
    else:
        _say(job.scene, "every frame is stylized already; nothing rendered (turn on Overwrite to redo them)")


def _tick() -> float:
    """The timer (always registered, so a render on Blender's render thread needs nothing from the main one): one
    move that never waits on the worker."""
    try:
        busy = _advance(wait_s=0.0)
    except AddonError as exc:  # the worker cannot start or died: every waiting render gets the line
        with _lock:
            failed, _jobs[:] = list(_jobs), []
        for job in failed:
            _say(job.scene, f"not stylized: {exc}; the raw render(s) are in {job.raw_folder}")
        busy = False
    return TICK_S if busy else IDLE_TICK_S


_HANDLERS = ((bpy.app.handlers.render_init, _on_render_init), (bpy.app.handlers.render_post, _on_render_post),
             (bpy.app.handlers.render_write, _on_render_write),
             (bpy.app.handlers.render_complete, _on_render_complete),
             (bpy.app.handlers.render_cancel, _on_render_cancel))


def prepare_passes(scene: bpy.types.Scene) -> None:
    """The toggle turned on: the passes its renders need, on now (a pass turned on during a render misses it)."""
    settings = scene_settings(scene)
    try:
        changes = rendering.prepare_passes(scene, with_motion=settings.temporal)
    except AddonError as exc:
        settings.status = f"{LABEL}: {exc}"
        return
    if changes:
        settings.render_changes = "; ".join(changes)


def register() -> None:
    for handlers, handler in _HANDLERS:
        if handler not in handlers:
            handlers.append(handler)
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=IDLE_TICK_S, persistent=True)
    scene_hooks.STYLIZE_ON_RENDER_TURNED_ON = prepare_passes


def unregister() -> None:
    for handlers, handler in _HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    scene_hooks.STYLIZE_ON_RENDER_TURNED_ON = None

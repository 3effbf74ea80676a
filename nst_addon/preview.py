"""Live Preview: while it is on, each change to the scene is rendered small from the active camera and stylized by
the any-style network in an engine worker of its own; the newest result is the image "NST Live Preview".

A depsgraph handler notes changes; a timer waits until they settle (DEBOUNCE_S), renders, sends the request and
collects answers, so Blender never waits on the worker. Background mode has no timers: `nst.live_preview_step`
does one round synchronously (operators/live_preview.py). Per-object styles come from a flat-colour Workbench render
of the styled objects (preview_render.py). The settings are property_groups/live_preview.py, the panel
ui/live_preview.py.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import bpy

from . import rendering
from .images import load_result
from .preferences import engine_settings, fresh_job_folder, user_folder
from .preview_render import render_preview
from .property_groups import live_preview as live_hooks
from .property_groups.live_preview import live_settings
from .property_groups.objects import object_settings
from .property_groups.scene import ANY_STYLE_MODEL, scene_settings, tuned_model_names
from .worker_client import AddonError, Job, WorkerClient

PREVIEW_IMAGE = "NST Live Preview"
DEBOUNCE_S = 0.3  # a round starts once the scene has not changed for this long
TICK_S = 0.05
WAIT_TIMEOUT_S = 300.0  # the one-step operator gives up on an answer after this long
JOB_FOLDER = "live-preview"
MAX_REGIONS = 7  # per-object settings the flat-colour ID render tells apart (red, green, blue on or off)


@dataclass
class Round:
    """One preview request in flight: its job, when the change it shows happened, how long its render took, and
    its files (all in `folder`, removed once a newer round is shown)."""

    sequence: int
    job: Job
    changed_s: float
    render_s: float
    folder: Path
    content: Path
    output: Path
    mask: Path | None


@dataclass
class LiveState:
    """The running preview (one at a time): its worker, its scene and the rounds in flight."""

    client: WorkerClient | None = None
    process: Any = None  # the worker process, kept to learn how it ended after the client lets go of it
    scene: str = ""
    sequence: int = 0
    shown: int = 0
    shown_folder: Path | None = None
    rounds: dict[int, Round] = field(default_factory=dict)
    dirty: bool = False
    changed_s: float = 0.0
    own_changes: bool = False
    renders: int = 0
    stylized: int = 0
    superseded: int = 0

    def mark_changed(self) -> None:
        self.dirty, self.changed_s = True, time.monotonic()


_live = LiveState()


def state() -> LiveState:
    """The running preview's state (counts of renders, stylizations and dropped rounds), for tests and scripts."""
    return _live


def job_folder() -> Path:
    return user_folder("jobs", JOB_FOLDER)


def worker_died_message(returncode: int | None) -> str:
    how = (f"killed by signal {-returncode}" if returncode is not None and returncode < 0
           else f"exit status {returncode}")
    return f"Live Preview turned off: its engine worker stopped ({how}); turn Live Preview on to start a new one"


# -- on and off ----------------------------------------------------------------------------------------------------


def is_running(scene: bpy.types.Scene) -> bool:
    """Whether the preview runs for `scene` (the Live Preview checkbox reads this)."""
    return _live.client is not None and _live.scene == scene.name


def turn(scene: bpy.types.Scene, on: bool) -> None:
    """The Live Preview checkbox: start the preview for `scene`, or stop it; a failed start says why in the panel."""
    if not on:
        stop("Live Preview is off")
        return
    if is_running(scene):
        return
    try:
        start(scene)
    except AddonError as exc:
        stop(f"Live Preview could not start: {exc}")
        print(f"[nst] Live Preview could not start: {exc}", flush=True)


def register() -> None:
    live_hooks.PREVIEW_RUNNING, live_hooks.PREVIEW_TURNED = is_running, turn


def unregister() -> None:
    stop()
    live_hooks.PREVIEW_RUNNING = live_hooks.PREVIEW_TURNED = None


@contextlib.contextmanager
def own_changes() -> Iterator[None]:
    """Changes the preview makes itself (render settings, its status): evaluated here, so the handler ignores them."""
    previous, _live.own_changes = _live.own_changes, True
    try:
        yield
    finally:
        view_layer = getattr(bpy.context, "view_layer", None)
        if view_layer is not None:
            view_layer.update()
        _live.own_changes = previous


def _report(scene: bpy.types.Scene, flush: bool = True, **values: Any) -> None:
    """Write the panel's figures; `flush`: as the preview's own change (not needed once the handler is gone)."""
    with own_changes() if flush else contextlib.nullcontext():
        settings = live_settings(scene)
        for name, value in values.items():
            setattr(settings, name, value)


# -- start, stop, the handler and the timer -------------------------------------------------------------------------


def start(scene: bpy.types.Scene) -> None:
    """Start a worker for the preview, watch the scene, and ask for the first round."""
    stop()
    fresh_job_folder(JOB_FOLDER, rendering.job_inputs(scene))
    engine = engine_settings()
    client = WorkerClient(engine.python, engine.models_folder)
    client.start()
    global _live
    _live = LiveState(client=client, process=client.process, scene=scene.name)
    _live.mark_changed()
    for handlers, handler in _HANDLERS:
        if handler not in handlers:
            handlers.append(handler)
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=TICK_S)
    _report(scene, flush=False, status="Live Preview: starting the engine", latency_ms=0.0)


def stop(status: str | None = None) -> None:
    """Stop watching, stop the preview's worker, and leave `status` in the scene's panel."""
    global _live
    client, name = _live.client, _live.scene
    for handlers, handler in _HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    _live = LiveState()
    if client is not None:
        client.shutdown()
    scenes = getattr(bpy.data, "scenes", None)  # bpy.data is restricted while add-ons are being disabled
    scene = scenes.get(name) if scenes is not None and name else None
    if scene is not None and status is not None:
        _report(scene, flush=False, status=status)


@bpy.app.handlers.persistent
def _on_depsgraph_update(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
    if _live.own_changes or _live.client is None or scene.name != _live.scene:
        return
    if any(not isinstance(update.id, bpy.types.Image) for update in depsgraph.updates):
        _live.mark_changed()


@bpy.app.handlers.persistent
def _on_load(*args: Any) -> None:
    stop()


_HANDLERS = ((bpy.app.handlers.depsgraph_update_post, _on_depsgraph_update), (bpy.app.handlers.load_pre, _on_load))


def _tick() -> float | None:
    scene = bpy.data.scenes.get(_live.scene) if _live.client is not None else None
    if scene is None:
        stop()
        return None
    windows = bpy.context.window_manager.windows if bpy.context.window_manager is not None else []
    try:  # timers run without a window in their context: give them one, so rendering sees the screen's view layer
        with bpy.context.temp_override(window=windows[0]) if windows else contextlib.nullcontext():
            advance(scene, bpy.context)
    except AddonError as exc:
        print(f"[nst] {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001 - a timer that raises is dropped silently: say so, and stop cleanly
        traceback.print_exc()
        stop(f"Live Preview turned off by an unexpected error: {exc.__class__.__name__}: {exc}")
    return TICK_S if _live.client is not None else None


# -- one round ------------------------------------------------------------------------------------------------------


def advance(scene: bpy.types.Scene, context: bpy.types.Context, force: bool = False) -> None:
    """Show answers that arrived; once changes have settled (or `force`), render and send the next round.
    AddonError (after turning the preview off) when the worker has died."""
    collect(scene, context)
    if _live.dirty and (force or time.monotonic() - _live.changed_s >= DEBOUNCE_S):
        send_round(scene)


def _check_worker() -> None:
    returncode = _live.process.poll() if _live.process is not None else None
    if returncode is not None:
        message = worker_died_message(returncode)
        if _live.client is not None and _live.client.stderr_tail:
            print(f"[nst] the preview worker's last words: {_live.client.stderr_tail[-1]}", flush=True)
        stop(message)
        raise AddonError(message)


def collect(scene: bpy.types.Scene, context: bpy.types.Context) -> None:
    """Hand the worker's answers to their rounds; show the newest result; count dropped rounds."""
    client = _live.client
    if client is None:
        return
    client.pump()
    _check_worker()
    for sequence in sorted(_live.rounds):
        preview = _live.rounds[sequence]
        if not preview.job.done:
            continue
        del _live.rounds[sequence]
        if preview.job.result is not None:
            _live.stylized += 1
            if sequence > _live.shown:
                show(scene, context, preview, preview.job.result)
                continue
        elif preview.job.cancelled:
            _live.superseded += 1
        elif preview.job.error:
            _report(scene, status=f"Live Preview: {preview.job.error}")
        shutil.rmtree(preview.folder, ignore_errors=True)


def send_round(scene: bpy.types.Scene) -> None:
    """Render the preview (and the ID render for per-object settings) and send it; problems go to the status."""
    client = _live.client
    assert client is not None
    changed_s, _live.dirty = _live.changed_s, False
    sequence = _live.sequence + 1
    folder = job_folder() / f"round_{sequence:06d}"  # a round's own files: the worker may still read older ones
    folder.mkdir(parents=True, exist_ok=True)
    settings, live = scene_settings(scene), live_settings(scene)
    try:
        rendering.check_camera(scene)
        styles, weights = rendering.scene_styles(settings, folder)
        regions, labels = preview_regions(scene)
        began = time.monotonic()
        with own_changes():
            content, mask = render_preview(scene, live, folder, labels)
        render_s = time.monotonic() - began
    except AddonError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        _report(scene, status=f"Live Preview: {exc}")
        return
    except (RuntimeError, OSError, TypeError, ValueError) as exc:  # TypeError: an engine that is not available
        shutil.rmtree(folder, ignore_errors=True)
        _report(scene, status=f"Live Preview: Blender could not render the preview: {str(exc).strip()}")
        return
    engine = engine_settings()
    output = folder / "stylized.png"
    request: dict[str, Any] = {
        "type": "stylize", "preview": True, "model": ANY_STYLE_MODEL, "content": str(content), "output": str(output),
        "styles": styles, "style_blend": weights,
        "options": {"style_strength": settings.strength, "preserve_color": settings.preserve_color},
        **engine.request_fields(weights=False)}
    if mask is not None:
        request.update(mask=str(mask), regions=regions, ignore_absent_regions=True)
    elif len(styles) == 1 and Path(styles[0]).stem in tuned_model_names():  # the painting's tuned model
        request.update(model=Path(styles[0]).stem, styles=[], style_blend=None)
    try:
        job = client.submit(request)
    except AddonError:
        _check_worker()
        raise
    _live.rounds[sequence] = Round(sequence, job, changed_s, render_s, folder, content, output, mask)
    _live.sequence = sequence
    _live.renders += 1


def preview_regions(scene: bpy.types.Scene) -> tuple[dict[str, dict], dict[str, int]]:
    """Per-object settings as regions of the ID render; objects with the same setting share a label (1..7).
    Returns the worker's regions and each styled object's label."""
    keys: dict[tuple, int] = {}
    regions: dict[str, dict] = {}
    labels: dict[str, int] = {}
    for ob in rendering.styled_objects(scene):
        own = object_settings(ob)
        if own.mode == "KEEP":
            key: tuple = ("KEEP",)
            region: dict[str, Any] = {"keep_original": True}
        else:
            style = rendering.style_file(own.style_path, f"object '{ob.name}'")
            key, region = (style, round(own.strength, 4)), {"styles": [style], "strength": own.strength}
        label = keys.setdefault(key, len(keys) + 1)
        if label > MAX_REGIONS:
            raise AddonError(f"Live Preview tells apart up to {MAX_REGIONS} different per-object styles; give more "
                             "objects the same style and strength, or use Stylize Render")
        regions[str(label)], labels[ob.name] = region, label
    return regions, labels


def show(scene: bpy.types.Scene, context: bpy.types.Context, preview: Round, result: dict) -> None:
    """The round's result as the image "NST Live Preview" (in an Image Editor if there is one), with its latency."""
    live = live_settings(scene)
    image = load_result(Path(result["output"]), PREVIEW_IMAGE, (live.width_px, live.height_px))
    image["nst_content"], image["nst_sequence"] = str(preview.content), preview.sequence
    if preview.mask is not None:
        image["nst_ids"] = str(preview.mask)  # the region ids of the per-object settings
    elif image.get("nst_ids") is not None:
        del image["nst_ids"]
    latency_s = time.monotonic() - preview.changed_s
    if _live.shown_folder is not None:
        shutil.rmtree(_live.shown_folder, ignore_errors=True)
    _live.shown, _live.shown_folder = preview.sequence, preview.folder
    _report(scene, latency_ms=latency_s * 1000, render_ms=preview.render_s * 1000,
            stylize_ms=float(result.get("elapsed_s") or 0.0) * 1000,
            status=f"Live Preview: {latency_s * 1000:.0f} ms from the change to the image")
    _show_in_image_editor(image)


def _show_in_image_editor(image: bpy.types.Image) -> None:
    """Redraw the Image Editors that show the preview; if none does, show it in the first Image Editor."""
    window_manager = getattr(bpy.context, "window_manager", None)
    editors = [area for window in (window_manager.windows if window_manager is not None else ())
               for area in window.screen.areas if area.type == "IMAGE_EDITOR"]
    showing = [area for area in editors if getattr(area.spaces.active, "image", None) == image]
    if not showing and editors:
        editors[0].spaces.active.image = image
        showing = editors[:1]
    for area in showing:
        area.tag_redraw()


def wait_for_rounds(scene: bpy.types.Scene, context: bpy.types.Context, timeout_s: float = WAIT_TIMEOUT_S) -> None:
    """Block until every round sent has its answer (scripts and background mode only)."""
    deadline = time.monotonic() + timeout_s
    while _live.client is not None and _live.rounds:
        if time.monotonic() > deadline:
            raise AddonError(f"the Live Preview worker did not answer within {timeout_s:.0f} s")
        _live.client.pump(timeout_s=0.1)
        collect(scene, context)

"""The engine worker: a long-lived process that runs jobs sent as line-delimited JSON on stdin.

Every message is one JSON object per line with "v" (protocol.PROTOCOL_VERSION) and "type". Each request is
checked against protocol's schema before anything runs; any line that fails (not JSON, not UTF-8, too deeply nested,
a wrong or missing field) gets one `bad_input` error naming the field, and the worker reads on.
Requests: hello, check, stylize, stylize_sequence, join_chunks, stylize_texture, style_sheet, train, tune, cancel,
shutdown.
Events: ready, check, progress, result, error, cancelled. Jobs run one at a time in arrival order; cancel is
honoured at the next convolution the job runs (engine/runtime/cancel.py), well within a second. A stylize request marked
"preview" that has not started when a newer preview arrives is dropped (cancelled, "superseded": true).
End of input without a shutdown (the add-on or Blender died) cancels the running and queued jobs.
Stdout carries only protocol lines; anything else the engine prints goes to stderr.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

from protocol import (
    MAX_QUOTED_MESSAGE,
    PROTOCOL_VERSION,
    BadRequest,
    OverwritesInput,
    check_request,
    decode_request,
    excerpt,
    guard_job_inputs,
)
from protocol.paths import request_paths

from . import __version__
from .runtime.cancel import cancellable
from .runtime.errors import Cancelled, EngineError, OutOfMemory

PROGRESS_INTERVAL_S = 0.25
CHECKPOINT_EVERY = 100  # training steps between checkpoints in the add-on's jobs (the command line's: 200)
ENGINE_FIELDS = ("device", "weights", "pooling", "cache_dir")  # a request's fields that choose its StyleTransfer
SEQUENCE_FIELDS = ("temporal", "temporal_weight", "later_iterations", "long_term_frames", "multipass", "flow",
                   "overwrite", "model", "fast_blend", "structure")  # a request's fields of SequenceSettings


def given(fields: dict, *names: str, **renamed: str) -> dict:
    """Keyword arguments from the `names` a request gives (and `renamed`: {field: the callee's parameter}); fields
    it leaves out are left out, so the callee's own defaults apply and the worker keeps no copy of them."""
    arguments = {name: fields[name] for name in names if name in fields}
    arguments.update({parameter: fields[name] for name, parameter in renamed.items() if name in fields})
    return arguments


class Worker:
    """Reads requests on one thread, runs jobs on another, writes events under a lock."""

    def __init__(self, stdin, stdout):
        self.stdin = stdin
        self.stdout = stdout
        self.write_lock = threading.Lock()
        self.jobs: queue.Queue = queue.Queue()
        self.cancelled: set[str] = set()
        self.current_job: str | None = None
        self.newest_preview: str | None = None  # the live preview's latest request; older queued ones are stale
        self.engines: dict[tuple, object] = {}

    def send(self, message: dict) -> None:
        """One event line; its job and error message are quoted as excerpts (protocol.excerpt), never in full."""
        if message.get("job") is not None:
            message = dict(message, job=excerpt(message["job"]))
        if isinstance(message.get("message"), str):
            message = dict(message, message=excerpt(message["message"], MAX_QUOTED_MESSAGE))
        line = json.dumps({"v": PROTOCOL_VERSION, **message})
        with self.write_lock:
            self.stdout.write(line + "\n")
            self.stdout.flush()

    # -- request side --------------------------------------------------------------------------

    def read_requests(self) -> None:
        for line in self.stdin:  # bytes (stdin's buffer): a line that is not UTF-8 is answered like any bad line
            if not line.strip():
                continue
            try:
                request = decode_request(line)
            except BadRequest as exc:
                self.send({"type": "error", "job": exc.job, "kind": exc.kind, "field": exc.field, "message": str(exc)})
                continue
            if request.type == "cancel":
                self.cancelled.add(str(request.job))
            elif request.type == "shutdown":
                self._drop_pending_jobs()
                break
            else:
                if request.type == "stylize" and request.fields.get("preview"):
                    self.newest_preview = str(request.job)
                self.jobs.put(request.fields)
        else:  # stdin closed without a shutdown: the add-on (or Blender) is gone, so stop working for it
            self._drop_pending_jobs()
        self.jobs.put(None)

    def _drop_pending_jobs(self) -> None:
        if self.current_job is not None:
            self.cancelled.add(self.current_job)
        while True:
            try:
                self.jobs.get_nowait()
            except queue.Empty:
                return

    # -- job side ------------------------------------------------------------------------------

    def run_jobs(self) -> None:
        while True:
            request = self.jobs.get()
            if request is None:
                return
            job = str(request.get("job"))
            if request.get("preview") and job != self.newest_preview:
                self.send({"type": "cancelled", "job": job, "superseded": True})
                continue
            self.current_job = job
            try:
                if job in self.cancelled:
                    raise Cancelled()
                handler = {"hello": self.hello, "check": self.check, "stylize": self.stylize,
                           "stylize_sequence": self.stylize_sequence, "join_chunks": self.join_chunks,
                           "stylize_texture": self.stylize_texture, "style_sheet": self.style_sheet,
                           "train": self.train, "tune": self.tune,
                           "compositor_layers": self.compositor_layers}.get(request.get("type"))
                if handler is None:
                    raise EngineError(f"unknown request type '{request.get('type')}'")
                try:  # before any work: no job writes over one of its own inputs, now or later in the job
                    check_request(request)
                    outputs, inputs = request_paths(request)
                    guard_job_inputs(inputs, replace_others=bool(request.get("overwrite")))
                except OverwritesInput as exc:
                    raise EngineError(str(exc)) from None
                if outputs and request.get("type") != "stylize_sequence":  # a sequence keeps (skips) frames that exist
                    from .imageio.images import refuse_replacing, with_sidecar

                    for field, path in outputs:
                        for written in with_sidecar(path):
                            refuse_replacing(written, f"'{field}'")
                # hello stays free of torch (its import takes seconds); every other job can be cancelled mid-pass
                with nullcontext() if handler == self.hello else cancellable(lambda: job in self.cancelled):
                    handler(job, request)
            except Cancelled:
                self.send({"type": "cancelled", "job": job})
            except OutOfMemory as exc:  # every device and tile size tried; the message says what to change
                self.send({"type": "error", "job": job, "kind": "out_of_memory", "message": str(exc)})
            except EngineError as exc:
                self.send({"type": "error", "job": job, "kind": "bad_input", "message": str(exc)})
            except OSError as exc:  # a path the system refuses (too long, no permission, ...) is the request's fault
                name = str(exc.filename or "a file")
                shown = name if len(name) <= 200 else f"{name[:200]}... ({len(name)} characters)"
                self.send({"type": "error", "job": job, "kind": "bad_input",
                           "message": f"cannot use {shown}: {exc.strerror or exc}; check the path and its folder"})
            except Exception as exc:  # noqa: BLE001 - the worker must report, never die, on a job's failure
                out_of_memory = "out of memory" in str(exc).lower()
                message = ("the GPU ran out of memory; lower the size, or set the device to CPU in the add-on "
                           "preferences" if out_of_memory else f"engine failure: {exc.__class__.__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
                self.send({"type": "error", "job": job, "kind": "out_of_memory" if out_of_memory else "internal",
                           "message": message})
            finally:
                guard_job_inputs({})  # the job's inputs guard its own writes only
                self.cancelled.discard(job)
                self.current_job = None

    def hello(self, job: str, request: dict) -> None:
        self.send({"type": "ready", "job": job, "protocol": PROTOCOL_VERSION, "engine_version": __version__})

    def check(self, job: str, request: dict) -> None:
        import torch

        from .optimizer.vgg import load_vgg19
        from .runtime.device import describe_device, resolve_device

        device = resolve_device(**given(request, device="choice"))
        load_vgg19(**given(request, weights="source"))
        self.send({"type": "check", "job": job, "torch_version": torch.__version__, "device": describe_device(device),
                   "cuda_available": torch.cuda.is_available(), "python": sys.version.split()[0],
                   "engine_version": __version__})

    def engine_for(self, request: dict):
        """The optimization engine for the request's device, loss network and cache, made once and kept."""
        from .stylize import StyleTransfer

        settings = given(request, *ENGINE_FIELDS)
        key = tuple(settings.get(name) for name in ENGINE_FIELDS)
        if key not in self.engines:
            self.engines[key] = StyleTransfer(**settings)
        return self.engines[key]

    def progress_reporter(self, job: str, frame_count: int = 1):
        """A callback for optimizer progress (and, in sequences, the frame) that also honours cancel."""
        last_sent = [0.0]

        def on_progress(progress, frame: int = 0):
            if job in self.cancelled:
                raise Cancelled()
            now = time.monotonic()
            if now - last_sent[0] >= PROGRESS_INTERVAL_S or progress.iteration == progress.iterations:
                last_sent[0] = now
                frame_text = f"frame {frame + 1}/{frame_count}, " if frame_count > 1 else ""
                self.send({"type": "progress", "job": job,
                           "fraction": round((frame + progress.fraction_done) / frame_count, 4),
                           "frame": frame, "frames": frame_count, "scale": progress.scale, "scales": progress.scales,
                           "iteration": progress.iteration, "iterations": progress.iterations,
                           "loss": progress.loss, "elapsed_s": progress.elapsed_s,
                           "tile": progress.tile, "tiles": progress.tiles, "warnings": list(progress.notices),
                           "message": f"{frame_text}scale {progress.scale}/{progress.scales}, "
                                      f"iteration {progress.iteration}/{progress.iterations}"})

        return on_progress

    @staticmethod
    def structure_map(request: dict, shape: tuple[int, int]):
        """The structure term's map from `structure`, per-object overrides and `passes`; None when off."""
        from .optimizer.region_settings import request_region_structure
        from .shapes.structure import PASSES_NEEDED, read_structure_passes, structure_map

        strength, overrides = request.get("structure", 0.0), request_region_structure(request)
        if not strength and not any(overrides.values()):
            return None
        if not request.get("passes"):
            raise EngineError(f"structure needs the render's passes: give 'passes', {PASSES_NEEDED}")
        return structure_map(read_structure_passes(request["passes"], shape), strength, overrides or None)

    def stylize(self, job: str, request: dict) -> None:
        import numpy as np

        from .imageio.images import check_output_path, read_content, read_rgb, write_image
        from .imageio.passes import read_label_map
        from .optimizer.region_settings import ANY_STYLE_MODEL, request_regions

        output = check_output_path(request["output"])
        picture = read_content(request["content"])  # transparent renders: colour filled, alpha put back on writing
        content = picture.rgb
        styles = [read_rgb(path, "style image") for path in request.get("styles", [])]
        label_map, regions = None, {}
        if request.get("mask"):
            label_map = read_label_map(request["mask"])
            present = None
            if request.get("ignore_absent_regions"):  # objects out of shot in this frame
                present = ({int(i) for i in np.unique(label_map)} if label_map.ndim == 2 else
                           {i for i in range(label_map.shape[0]) if label_map[i].any()})
            regions = request_regions(request, present)
        options = dict(request.get("options") or {})
        if request.get("model") == ANY_STYLE_MODEL:
            from .anystyle import get_any_stylizer

            stylizer = get_any_stylizer(**given(request, "device", "cache_dir"))
            result = stylizer.stylize(content, styles, style_weights=request.get("style_blend"), mask=label_map,
                                      regions=regions or None,
                                      **given(options, "size_px", "preserve_color", style_strength="strength"))
        elif request.get("model"):
            from .fast.stylize_fast import stylize_fast

            result = stylize_fast(content, request["model"], label_map=label_map, regions=regions or None,
                                  **given(request, "device"),
                                  **given(options, "size_px", "style_strength", "preserve_color"))
        else:
            result = self.engine_for(request).stylize(content, styles, style_blend=request.get("style_blend"),
                                                      label_map=label_map, regions=regions or None,
                                                      coverage=picture.coverage,
                                                      structure_map=self.structure_map(request, content.shape[:2]),
                                                      callback=self.progress_reporter(job), **options)
        settings = dict(result.settings, content=request["content"], styles=request.get("styles"),
                        mask=request.get("mask"))
        rgb, alpha = picture.finish(result.image)
        write_image(output, rgb, settings, alpha=alpha)
        self.send({"type": "result", "job": job, "output": str(Path(output)), "elapsed_s": result.elapsed_s,
                   "width_px": result.settings["width_px"], "height_px": result.settings["height_px"],
                   "device": result.settings["device"], "cache_hits": getattr(result, "cache_hits", 0),
                   "warnings": result.settings.get("degraded", []),
                   "peak_memory_gb": result.settings.get("peak_memory_gb")})

    def stylize_sequence(self, job: str, request: dict) -> None:
        """Frames in order with temporal consistency; frames already written are kept (resume)."""
        from .imageio.images import check_output_path, read_rgb
        from .optimizer.region_settings import request_region_structure, request_regions
        from .shots.temporal import SequenceFrame, SequenceSettings, stylize_sequence

        frames = [SequenceFrame(Path(f["content"]), check_output_path(f["output"]),
                                Path(f["passes"]) if f.get("passes") else None) for f in request.get("frames", [])]
        if request.get("chunk"):
            frames = self.chunk_of(frames, request)
        styles = [read_rgb(path, "style image") for path in request.get("styles", [])]
        options = dict(request.get("options") or {}, style_blend=request.get("style_blend"),
                       **given(request, "device"))
        settings = SequenceSettings(**given(request, *SEQUENCE_FIELDS),
                                    region_structure=request_region_structure(request) or None, stylize_options=options,
                                    style_files=tuple(str(path) for path in request.get("styles", [])))
        step_reporter = self.progress_reporter(job, len(frames))

        def on_progress(progress):
            if progress.step is not None:
                step_reporter(progress.step, progress.frame)
            elif job in self.cancelled:
                raise Cancelled()

        engine = None if request.get("model") else self.engine_for(request)
        report = stylize_sequence(engine, frames, styles, settings,
                                  request_regions(request) or None, callback=on_progress)
        self.send({"type": "result", "job": job, "written": [str(p) for p in report.written],
                   "skipped": [str(p) for p in report.skipped], "flow": report.flow_sources,
                   "elapsed_s": report.elapsed_s})

    @staticmethod
    def chunk_of(frames: list, request: dict) -> list:
        """A farm chunk of the shot's frames (each with its "number"), see engine.shots.chunks."""
        from .shots.chunks import Chunk, ShotFrame, chunk_frames

        chunk = request["chunk"]
        shot = [ShotFrame(int(f["number"]), frame.content, frame.passes)
                for f, frame in zip(request["frames"], frames)]
        output_dir = frames[0].output.parent if frames else Path(".")
        resume_from = Path(chunk["resume_from"]) if chunk.get("resume_from") else None
        return chunk_frames(shot, Chunk(int(chunk["first"]), int(chunk["last"]), resume_from=resume_from,
                                        **given(chunk, "chunking", "warmup")),
                            output_dir, **given(request, "long_term_frames"))

    def join_chunks(self, job: str, request: dict) -> None:
        """Overlap chunks crossfaded into the final frames."""
        from .shots.chunks import join_overlaps

        written, kept = join_overlaps(Path(request["output_dir"]), overwrite=bool(request.get("overwrite")))
        self.send({"type": "result", "job": job, "written": [str(p) for p in written], "kept": [str(p) for p in kept]})

    def compositor_layers(self, job: str, request: dict) -> None:
        from .imageio.compositor_layers import write_compositor_layers

        output = write_compositor_layers(Path(request["passes"]), Path(request["stylized"]), Path(request["output"]),
                                         request.get("objects") or None)
        self.send({"type": "result", "job": job, "output": str(output)})

    def stylize_texture(self, job: str, request: dict) -> None:
        """A texture: flat (seamless, UV islands) without "views", else optimized through the rendered views."""
        from .textures.texture import TextureObjective, stylize_texture_files

        options = dict(request.get("options") or {})
        objective = TextureObjective(**given(options, "style_strength"), **given(request, "structure"))
        options.pop("style_strength", None)
        result = stylize_texture_files(self.engine_for(request), request["texture"], request.get("styles", []),
                                       request["output"], views=[Path(v) for v in request.get("views") or []],
                                       object_index=request.get("object_index"), uv_mask_path=request.get("uv_mask"),
                                       seamless=bool(request.get("seamless")), style_blend=request.get("style_blend"),
                                       objective=objective, callback=self.progress_reporter(job), **options)
        self.send({"type": "result", "job": job, "output": str(Path(request["output"])), "elapsed_s": result.elapsed_s,
                   "width_px": result.settings["width_px"], "height_px": result.settings["height_px"],
                   "changed_fraction": float(result.changed.mean())})

    def style_sheet(self, job: str, request: dict) -> None:
        """The picture stylized with each painting (any-style) as one labelled sheet, with each tile's box."""
        from .anystyle.sheet import TILE_PX, LibraryStyle, make_sheet
        from .imageio.images import check_output_path, read_rgb, write_image

        output = check_output_path(request["output"])
        content = read_rgb(request["content"], "content image")
        names = list(request.get("names") or [])
        styles = [LibraryStyle(Path(path).stem, names[i] if i < len(names) else Path(path).stem, Path(path))
                  for i, path in enumerate(request["styles"])]

        def on_painting(done: int, total: int, name: str) -> None:
            if job in self.cancelled:
                raise Cancelled()
            self.send({"type": "progress", "job": job, "fraction": round(done / total, 4),
                       "message": f"painting {done}/{total}: {name}"})

        size_px = request.get("size_px", TILE_PX)
        sheet = make_sheet(content, styles, size_px=size_px, callback=on_painting,
                           **given(request, "device", "cache_dir"))
        write_image(output, sheet.image, {"kind": "style sheet", "content": request["content"],
                                          "styles": request["styles"], "size_px": size_px})
        self.send({"type": "result", "job": job, "output": str(output), "elapsed_s": sheet.elapsed_s,
                   "tiles": [{"name": tile.name, "style": tile.path, "box": [tile.x, tile.y, tile.width, tile.height]}
                             for tile in sheet.tiles]})

    def progress_sender(self, job: str, what: str):
        """A training callback that sends progress at most every PROGRESS_INTERVAL_S and stops a cancelled job."""
        last_sent = [0.0]

        def on_progress(progress, fraction: float | None = None):
            if job in self.cancelled:
                raise Cancelled()
            now = time.monotonic()
            if now - last_sent[0] >= PROGRESS_INTERVAL_S or progress.step == progress.steps:
                last_sent[0] = now
                self.send({"type": "progress", "job": job,
                           "fraction": round(progress.fraction_done if fraction is None else fraction, 4),
                           "loss": progress.loss, "elapsed_s": progress.elapsed_s,
                           "message": f"{'keyframe' if progress.phase == 'keyframes' else what} "
                                      f"{progress.step}/{progress.steps}"})
        return on_progress

    def tune(self, job: str, request: dict) -> None:
        """Tune the any-style network to a painting on content folders, or with keyframes in the settings, to one
        shot on its frames; the fraction done is that of whichever budget (steps or minutes) ends first."""
        from .anystyle.tune import TuneSettings, tune_to_painting

        fields = dict(request.get("settings") or {})
        if "sizes_px" in fields:
            fields["sizes_px"] = tuple(fields["sizes_px"])
        settings = TuneSettings(**fields)
        send = self.progress_sender(job, "tuning step")

        def on_progress(progress):
            by_time = progress.elapsed_s / (settings.minutes * 60) if settings.minutes else 0.0
            send(progress, min(max(progress.fraction_done, by_time), 1.0))

        info = tune_to_painting(request["style"], request["content_dirs"], request["output"], settings,
                                checkpoint_every=request.get("checkpoint_every", CHECKPOINT_EVERY),
                                command="Blender: Tune to " + ("This Shot" if settings.keyframes else "Painting"),
                                callback=on_progress, **given(request, "device"))
        self.send({"type": "result", "job": job, "output": request["output"], "steps": info.training.get("steps"),
                   "elapsed_s": info.training.get("time_s")})

    def train(self, job: str, request: dict) -> None:
        """Train a fast-stylization model on the user's renders (Train from This Scene), or with keyframes in the
        settings, a per-shot network on the shot's frames (the farm's anchors)."""
        from .fast.train import TrainSettings, train_shot, train_style

        settings = TrainSettings(**(request.get("settings") or {}))
        options = dict(checkpoint_every=request.get("checkpoint_every", CHECKPOINT_EVERY),
                       callback=self.progress_sender(job, "training step"),
                       **given(request, "device"))
        if settings.keyframes:
            info = train_shot(request["style"], request["content_dirs"][0], request["output"], settings,
                              command="Blender: farm keyframe anchors", **options)
        else:
            info = train_style(request["style"], request["content_dirs"], request["output"], settings,
                               command="Blender: Train from This Scene", **options)
        self.send({"type": "result", "job": job, "output": request["output"], "steps": info.training.get("steps"),
                   "elapsed_s": info.training.get("time_s")})


def main() -> int:
    protocol_out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol stream
    worker = Worker(sys.stdin.buffer, protocol_out)
    runner = threading.Thread(target=worker.run_jobs, name="nst-jobs", daemon=True)
    runner.start()
    worker.read_requests()
    runner.join()
    return 0

"""One render-farm task on one chunk of a shot: render, stylize, train the shot's network, or join chunks.

The batch entry runs it (`--stage`, `--shot`, `--chunking`, ...); farm job types (Flamenco, OpenJD) chain these
tasks. Layout under the output folder: render/ (frames and passes), stylized/ (final frames), stylized/chunks/A-B/
(overlap chunks, warm-up included) and shot_model.safetensors (anchors).
"""

from __future__ import annotations

import shutil

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from .. import rendering
from ..preferences import user_folder
from ..property_groups.scene import scene_settings
from ..worker_client import AddonError, protocol, refuse_writing
from .runner import Step, WorkerOperator
from .shot import frame_range_shot, object_regions, render_steps

SHOT_MODEL = "shot_model.safetensors"
STAGES = [("ALL", "Render and Stylize", "Render the chunk's frames, then stylize them"),
          ("RENDER", "Render", "Only render the chunk's frames and passes"),
          ("STYLIZE", "Stylize", "Stylize the chunk from its renders"),
          ("TRAIN", "Train Shot Network", "Anchors: stylize keyframes of the shot and train its network"),
          ("JOIN", "Join Chunks", "Overlap: crossfade the chunks' warm-up frames into the final frames")]
CHUNKINGS = [("STRICT", "Strict Chain", "Continue the previous chunk's results: identical to one machine, chunks "
                                        "run in order"),
             ("OVERLAP", "Warm-up Overlap", "Start a few frames early and crossfade: chunks run in parallel"),
             ("ANCHORS", "Keyframe Anchors", "Train one network on keyframes, then every chunk runs alone")]


class NST_OT_farm_task(WorkerOperator):
    """Run one stage of a render-farm job on the scene's frame range (a chunk of the shot)"""

    bl_idname = "nst.farm_task"
    bl_label = "Farm Task"

    stage: EnumProperty(name="Stage", items=STAGES, default="ALL")  # type: ignore[valid-type]
    shot: StringProperty(  # type: ignore[valid-type]
        name="Shot", default="", description="The whole shot, 'S-E'; empty = the scene's frame range")
    chunking: EnumProperty(name="Chunking", items=CHUNKINGS, default="STRICT")  # type: ignore[valid-type]
    warmup: IntProperty(name="Warm-up Frames", default=4, min=0)  # type: ignore[valid-type]
    keyframes: IntProperty(name="Keyframes", default=4, min=1)  # type: ignore[valid-type]
    resume_from: StringProperty(  # type: ignore[valid-type]
        name="Resume From", subtype="DIR_PATH", default="",
        description="Strict chain: folder with the previous chunk's stylized frames, if not in stylized/")

    def plan(self, context):
        scene = context.scene
        settings = scene_settings(scene)
        task = frame_range_shot(scene, "for the shot")
        self.folder, self.message = task.folder, ""
        chunk = task.frames
        shot = self._shot(scene, chunk)
        if self.stage == "JOIN":
            return [self._join_step(settings.overwrite)]
        styles, weights = ([], []) if self.stage == "RENDER" else rendering.scene_styles(  # render uses no style
            settings, user_folder("jobs", "farm-styles"))
        regions, _ = object_regions(scene, with_motion=True)
        files = dict(task.files(shot))
        try:  # before any work: no file the task renders or stylizes is one of its styles or the .blend
            protocol.refuse_overwrite_all([p for f in files.values() for p in (f.display, f.passes, f.stylized)],
                                          {"a style": list(styles), "the .blend file": [bpy.data.filepath]},
                                          "the frame file")
        except protocol.OverwritesInput as exc:
            raise AddonError(str(exc)) from None
        steps = [] if self.stage in ("STYLIZE", "TRAIN") else render_steps(
            scene, [(frame, files[frame]) for frame in chunk], settings.overwrite)
        if self.stage == "RENDER":
            self.message = f"rendered frames {chunk[0]}-{chunk[-1]} into {self.folder / 'render'}"
            return steps
        if self.stage == "TRAIN":
            return [self._train_step(scene, files, styles)]
        if self.stage == "STYLIZE":
            history = {"STRICT": 2}.get(self.chunking, self.warmup)  # strict: the long-term frames
            missing = [f for f in shot if chunk[0] - history * scene.frame_step <= f <= chunk[-1]
                       and not files[f].rendered]
            if missing:
                raise AddonError(f"frame {missing[0]} has not been rendered into {self.folder / 'render'}; run the "
                                 "render stage for it first")
        return steps + [self._stylize_step(scene, files, chunk, styles, weights, regions)]

    def _shot(self, scene: bpy.types.Scene, chunk: range) -> range:
        if not self.shot:
            return chunk
        try:
            first, last = protocol.parse_frame_range(self.shot, "shot")
        except ValueError as exc:
            raise AddonError(str(exc)) from None
        shot = range(first, last + 1, scene.frame_step)
        if chunk[0] not in shot or chunk[-1] not in shot:
            raise AddonError(f"frames {chunk[0]}-{chunk[-1]} are not inside the shot {self.shot}")
        return shot

    def _stylize_step(self, scene, files, chunk, styles, weights, regions) -> Step:
        frames = list(files.values())

        def sequence():
            (self.folder / "stylized").mkdir(parents=True, exist_ok=True)
            request = rendering.sequence_request(scene, self.engine, frames, styles, weights, regions)
            request["frames"] = [dict(entry, number=number) for entry, number in zip(request["frames"], files)]
            request["chunk"] = {"first": chunk[0], "last": chunk[-1], "chunking": self.chunking.lower(),
                                "warmup": self.warmup, "resume_from": bpy.path.abspath(self.resume_from) or None}
            if self.chunking == "ANCHORS":
                model = self.folder / SHOT_MODEL
                if not model.is_file():
                    raise AddonError(f"the shot's network {model} is missing; run the train stage first")
                request.update(model=str(model), regions={})
            return request

        def finish(result):
            self.message = (f"frames {chunk[0]}-{chunk[-1]}: {len(result['written'])} stylized, "
                            f"{len(result['skipped'])} already done")

        return Step(f"stylize frames {chunk[0]}-{chunk[-1]} ({self.chunking.lower()})", sequence, finish)

    def _train_step(self, scene, files, styles) -> Step:
        settings = scene_settings(scene)
        if len(styles) != 1:
            raise AddonError("keyframe anchors train one network for one style; keep a single style in the list")
        model = self.folder / SHOT_MODEL
        size_px, iterations = settings.size_and_iterations(max(rendering.render_size(scene)))

        def train():
            if model.is_file() and not settings.overwrite:
                return None
            pictures = self.folder / "shot_frames"
            pictures.mkdir(parents=True, exist_ok=True)
            for number, frame in files.items():
                if not frame.rendered:
                    raise AddonError(f"frame {number} has not been rendered into {self.folder / 'render'}; render "
                                     "the whole shot before training its network")
                refuse_writing(pictures / frame.display.name, "a training picture")
                shutil.copyfile(frame.display, pictures / frame.display.name)
            return {"type": "train", "style": styles[0], "content_dirs": [str(pictures)], "output": str(model),
                    **self.engine.request_fields(weights=False, cache=False),
                    "settings": {"keyframes": self.keyframes, "keyframe_size_px": size_px,
                                 "keyframe_iterations": iterations, "steps": settings.train_steps,
                                 "crop_px": min(settings.train_crop_px, size_px), "batch_size": 2,
                                 "seed": settings.seed, "weights": self.engine.weights}}

        def finish(result):
            self.message = f"trained the shot's network {model}"

        return Step("train the shot's network", train, finish)

    def _join_step(self, overwrite: bool) -> Step:
        stylized = self.folder / "stylized"

        def finish(result):
            self.message = f"joined chunks: {len(result['written'])} frame(s) written, {len(result['kept'])} kept"

        return Step("join chunks", lambda: {"type": "join_chunks", "output_dir": str(stylized),
                                            "overwrite": overwrite}, finish)

    def finished(self, context, done, skipped):
        return self.message or f"{self.stage.lower()}: nothing to do (already done)"

"""Open Job Description (OpenJD) job bundles for the stylize pipeline: the job template and its parameter values.

`NstJob` describes one shot's farm job; `job_template` turns it into an OpenJD template (specification
jobtemplate-2023-09) and `write_bundle` into a Deadline Cloud job bundle folder (template.yaml,
parameter_values.yaml) that `deadline bundle submit FOLDER` sends and `openjd run FOLDER/template.yaml` runs
locally. No bpy and no third-party imports: the add-on calls it inside Blender.

The steps follow the chunking strategy (see README, "Open Job Description"):
  strict:  Render (one task per chunk) -> Stylize A-B, one step per chunk, each after the one before -> Encode
  overlap: Render -> Stylize (one task per chunk, in parallel) -> Join -> Encode
  anchors: Render -> Train -> Stylize (one task per chunk, in parallel) -> Encode
OpenJD orders steps, never the tasks inside a step, so strict's chain is a chain of steps: each chunk is its own
retryable, time-bounded unit that starts when the chunk before it has finished.

`python -m farm.openjd.bundle export|run --help`: export a bundle, or run one on this machine with `openjd run`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import protocol
else:  # protocol/ sits beside farm/: top-level (python -m farm.openjd.bundle), or in the installed extension's package
    protocol = importlib.import_module(".".join([*__name__.split(".")[:-3], "protocol"]))

CHUNKINGS, METHODS, DEVICES = protocol.CHUNKINGS, protocol.METHODS, protocol.DEVICES
numbers = protocol.numbers  # argparse types that refuse out-of-range numbers
CODE_ROOT = Path(__file__).resolve().parents[2]  # holds nst_addon/, engine/, protocol/, farm/ and scripts/
BATCH_SCRIPT = "scripts/blender_batch.py"  # the batch entry inside a Blender executable, relative to CODE_ROOT
# Blender ends with status 0 after a script that raised, unless told otherwise: a failed task must fail on the farm
BLENDER_EXIT_CODE = ["--python-exit-code", "1"]


@dataclass
class NstJob:
    """One shot's stylize job on a farm. Paths are as the farm's workers see them (or path-mapped by the farm)."""

    blend_file: str
    output_dir: str
    frames: tuple[int, int]
    styles: list[str]  # empty: the styles saved in the .blend
    chunk_size: int = 10
    chunking: str = "strict"
    warmup: int = 4
    keyframes: int = 4
    method: str = "quality"
    size: int = 0
    iterations: int = 300
    fps: float = 24.0
    device: str = "auto"
    python: str = "python3"
    blender: str = ""
    code_folder: str = str(CODE_ROOT)
    priority: int = 50
    name: str = ""

    def validate(self) -> None:
        """Raises ValueError naming the bad setting and what would fix it."""
        start, end = self.frames
        if end < start:
            raise ValueError(f"frames {start}-{end}: the last frame comes before the first")
        if self.chunk_size < 1:
            raise ValueError(f"chunk size {self.chunk_size}: give at least 1 frame per chunk")
        if self.chunking not in CHUNKINGS:
            raise ValueError(f"chunking '{self.chunking}' is not one of {', '.join(CHUNKINGS)}")
        if self.method not in METHODS:
            raise ValueError(f"method '{self.method}' is not one of {', '.join(METHODS)}")
        if self.device not in DEVICES:
            raise ValueError(f"device '{self.device}' is not one of {', '.join(DEVICES)}")
        if self.method == "fast" and len(self.styles) > 1:
            raise ValueError("the fast method uses one style's trained model: give one style, or use quality")
        if self.chunking in ("overlap", "anchors") and self.warmup < 0:
            raise ValueError(f"warmup {self.warmup}: give 0 or more frames")
        if self.chunking == "anchors" and self.keyframes < 1:
            raise ValueError(f"keyframes {self.keyframes}: give at least 1")
        if self.iterations < 1 or self.size < 0 or self.fps <= 0:
            raise ValueError("iterations must be at least 1, size at least 0 (0 = the render's size), fps above 0")
        if not self.python:
            raise ValueError("no worker Python: give the Python with torch that the farm's workers run")

    @property
    def frame_range(self) -> str:
        return f"{self.frames[0]}-{self.frames[1]}"

    @property
    def video_name(self) -> str:
        """The encoded video, in the output folder: <blend name>-<first>-<last>.mp4 (as the Flamenco job names it)."""
        return f"{Path(self.blend_file).stem}-{self.frame_range}.mp4"

    @property
    def job_name(self) -> str:
        return self.name or f"NST {Path(self.blend_file).stem} {self.frame_range} ({self.chunking})"


def _parameters(job: NstJob) -> list[dict]:
    """The job's parameters with this job's values as "value" (the template's defaults, except for paths, which
    OpenJD wants relative to the template when they have a default: those come from parameter_values.yaml)."""
    fixed = "Fixed when the bundle was exported (it shapes the steps); export again to change it."
    params: list[dict] = [
        {"name": "BlendFile", "type": "PATH", "objectType": "FILE", "dataFlow": "IN", "value": job.blend_file,
         "description": "The saved .blend the workers render"},
        {"name": "OutputDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "OUT", "value": job.output_dir,
         "description": "Shared output folder: render/, stylized/ and the video"},
        {"name": "CodeFolder", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "NONE",
         "value": job.code_folder,
         "description": "The nst-blender folder (nst_addon/, engine/, scripts/, farm/) as the workers see it"},
        {"name": "Python", "type": "STRING", "minLength": 1, "value": job.python,
         "description": "A Python with torch (and imageio-ffmpeg) on the workers" +
                        ("" if job.blender else "; it also needs the bpy module, which runs the scene")},
    ]
    if job.blender:
        params.append({"name": "Blender", "type": "STRING", "minLength": 1, "value": job.blender,
                       "description": "The Blender executable on the workers"})
    params += [
        {"name": "Frames", "type": "STRING", "value": job.frame_range, "allowedValues": [job.frame_range],
         "description": f"The shot's frames. {fixed}"},
        {"name": "ChunkSize", "type": "INT", "value": job.chunk_size, "allowedValues": [job.chunk_size],
         "description": f"Frames per task. {fixed}"},
        {"name": "Chunking", "type": "STRING", "value": job.chunking, "allowedValues": [job.chunking],
         "description": f"How chunks stay flicker-free across their borders. {fixed}"},
    ]
    if job.chunking in ("overlap", "anchors"):
        params.append({"name": "Warmup", "type": "INT", "minValue": 0, "value": job.warmup,
                       "description": "Frames each chunk runs before its first one, so the look carries across "
                                      "chunk borders"})
    if job.chunking == "anchors":
        params.append({"name": "Keyframes", "type": "INT", "minValue": 1, "value": job.keyframes,
                       "description": "Keyframes the per-shot network is trained on"})
    for index, style in enumerate(job.styles, 1):
        params.append({"name": f"Style{index}", "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
                       "value": style, "description": f"Style image {index} of {len(job.styles)}"})
    params += [
        {"name": "Method", "type": "STRING", "value": job.method, "allowedValues": list(METHODS),
         "description": "quality: optimization per frame; fast: the style's trained network"},
        {"name": "Size", "type": "INT", "minValue": 0, "value": job.size,
         "description": "Longest side of the stylized frames in px; 0 = the render's size"},
        {"name": "Iterations", "type": "INT", "minValue": 1, "value": job.iterations,
         "description": "Optimizer iterations per frame"},
        {"name": "Device", "type": "STRING", "value": job.device, "allowedValues": list(DEVICES),
         "description": "Where the engine runs on the workers"},
        {"name": "Fps", "type": "FLOAT", "minValue": 0.001, "value": job.fps, "description": "Frame rate of the video"},
    ]
    return params


def _definition(param: dict) -> dict:
    """A parameter definition of the template: the value becomes the default, except for paths."""
    definition = {key: item for key, item in param.items() if key != "value"}
    if param["type"] != "PATH":
        definition["default"] = param["value"]
    return definition


def _batch_command(job: NstJob, stage: str, frames: str) -> dict:
    """One run of the batch entry (nst_addon.batch) for a stage and frames, with the job's settings."""
    if job.blender:
        command, args = "{{Param.Blender}}", ["-b", "{{Param.BlendFile}}", *BLENDER_EXIT_CODE, "-P",
                                              f"{{{{Param.CodeFolder}}}}/{BATCH_SCRIPT}", "--"]
    else:
        command, args = "{{Param.Python}}", ["-m", "nst_addon.batch", "{{Param.BlendFile}}"]
    args += ["--stage", stage, "--frames", frames, "--shot", "{{Param.Frames}}", "--output", "{{Param.OutputDir}}",
             "--chunking", "{{Param.Chunking}}"]
    if job.chunking in ("overlap", "anchors"):
        args += ["--warmup", "{{Param.Warmup}}"]
    if job.chunking == "anchors":
        args += ["--keyframes", "{{Param.Keyframes}}"]
    for index in range(1, len(job.styles) + 1):
        args += ["--style", f"{{{{Param.Style{index}}}}}"]
    args += ["--method", "{{Param.Method}}", "--size", "{{Param.Size}}", "--iterations", "{{Param.Iterations}}",
             "--device", "{{Param.Device}}", "--engine-python", "{{Param.Python}}"]
    return {"actions": {"onRun": {"command": command, "args": args}}}


def _step(name: str, script: dict, after: list[str], chunk_list: list[str] | None = None) -> dict:
    step: dict = {"name": name}
    if chunk_list is not None:
        step["parameterSpace"] = {"taskParameterDefinitions": [{"name": "Chunk", "type": "STRING",
                                                                "range": chunk_list}]}
    step["script"] = script
    if after:
        step["dependencies"] = [{"dependsOn": other} for other in after]
    return step


def job_template(job: NstJob) -> dict:
    """The OpenJD job template (jobtemplate-2023-09) for this job; raises ValueError on bad settings."""
    job.validate()
    chunk_list = [f"{a}-{b}" for a, b in protocol.split_chunks(*job.frames, job.chunk_size)]
    chunk = "{{Task.Param.Chunk}}"
    steps = [_step("Render", _batch_command(job, "render", chunk), [], chunk_list)]
    if job.chunking == "strict":
        last = "Render"
        for frames in chunk_list:
            steps.append(_step(f"Stylize {frames}", _batch_command(job, "stylize", frames), [last]))
            last = f"Stylize {frames}"
    elif job.chunking == "overlap":
        steps.append(_step("Stylize", _batch_command(job, "stylize", chunk), ["Render"], chunk_list))
        steps.append(_step("Join", _batch_command(job, "join", "{{Param.Frames}}"), ["Stylize"]))
        last = "Join"
    else:
        steps.append(_step("Train", _batch_command(job, "train", "{{Param.Frames}}"), ["Render"]))
        steps.append(_step("Stylize", _batch_command(job, "stylize", chunk), ["Train"], chunk_list))
        last = "Stylize"
    encode = {"actions": {"onRun": {"command": "{{Param.Python}}", "args": [
        "-m", "farm.encode", "--frames", "{{Param.OutputDir}}/stylized", "--output",
        f"{{{{Param.OutputDir}}}}/{job.video_name}", "--fps", "{{Param.Fps}}"]}}}
    steps.append(_step("Encode", encode, [last]))
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": job.job_name,
        "description": (f"Neural style transfer of {Path(job.blend_file).name}, frames {job.frame_range} in chunks "
                        f"of {job.chunk_size} ({job.chunking}): render, stylize, encode {job.video_name}. Made "
                        "by nst-blender (farm/openjd/bundle.py)."),
        "parameterDefinitions": [_definition(p) for p in _parameters(job)],
        "jobEnvironments": [{"name": "NstCode", "description": "Puts the nst-blender code on the Python path",
                             "variables": {"PYTHONPATH": "{{Param.CodeFolder}}", "PYTHONUNBUFFERED": "1"}}],
        "steps": steps,
    }


def parameter_values(job: NstJob) -> dict:
    """parameter_values.yaml of a Deadline Cloud job bundle: the job's values and its priority."""
    values = [{"name": "deadline:priority", "value": job.priority}]
    values += [{"name": p["name"], "value": p["value"]} for p in _parameters(job)]
    return {"parameterValues": values}


def to_yaml(value, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists, strings, numbers and booleans (strings double-quoted, JSON-escaped)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}\n")
        return "".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        lines = []
        for item in value:
            text = to_yaml(item, indent + 2)
            lines.append(f"{pad}- {text[indent + 2:]}")
        return "".join(lines)
    return pad + _scalar(value) + "\n"


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(str(value), ensure_ascii=False)


def write_bundle(job: NstJob, parent: Path) -> Path:
    """Writes a new bundle folder under `parent` (never reusing one: <name>, <name>_2, ...) and returns it."""
    template = job_template(job)
    parent.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(job.blend_file).stem) or "job"
    base = f"nst_{stem}_{job.frames[0]}-{job.frames[1]}_{job.chunking}"
    for number in range(1, 10_000):
        folder = parent / (base if number == 1 else f"{base}_{number}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        from protocol import refuse_writing

        for name in ("template.yaml", "parameter_values.yaml"):
            refuse_writing(folder / name, "a bundle file")
        (folder / "template.yaml").write_text(to_yaml(template), encoding="utf-8")
        (folder / "parameter_values.yaml").write_text(to_yaml(parameter_values(job)), encoding="utf-8")
        return folder
    raise ValueError(f"{parent} already holds 9999 bundles named {base}: choose another bundle folder")


def _frame_range(text: str) -> tuple[int, int]:
    try:
        return protocol.parse_frame_range(text, "--frames")
    except protocol.FrameRangeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_bundle(folder: Path, openjd_args: list[str]) -> int:
    """Runs a bundle on this machine with `openjd run` (every step in dependency order, or as `openjd_args` say),
    with the values of its parameter_values.yaml; returns openjd's exit status."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise ValueError("running a bundle needs openjd-cli and PyYAML: pip install -r requirements-dev.txt") from None
    openjd = shutil.which("openjd") or shutil.which("openjd", path=str(Path(sys.executable).parent))
    if openjd is None:
        raise ValueError("the openjd command was not found: pip install openjd-cli (pinned in requirements-dev.txt)")
    values = yaml.safe_load((folder / "parameter_values.yaml").read_text(encoding="utf-8"))["parameterValues"]
    params = {item["name"]: item["value"] for item in values if not item["name"].startswith("deadline:")}
    command = [openjd, "run", str(folder / "template.yaml"), "--job-param", json.dumps(params), *openjd_args]
    return subprocess.run(command).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m farm.openjd.bundle",
        description="OpenJD / Deadline Cloud job bundles that render, stylize and encode a shot. `export` writes one "
                    "(submit it with `deadline bundle submit FOLDER`); `run` runs one on this machine.")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write a new bundle folder")
    export.add_argument("blend_file", help="the saved .blend (as the workers see it)")
    export.add_argument("--frames", type=_frame_range, required=True, metavar="A-B", help="the shot's frames")
    export.add_argument("--output", required=True, metavar="DIR", help="the shared output folder")
    export.add_argument("--style", action="append", default=[], metavar="PATH",
                        help="style image; repeatable (default: the styles saved in the .blend)")
    export.add_argument("--bundle-dir", required=True, metavar="DIR", help="a new bundle folder is made in here")
    export.add_argument("--chunk-size", type=numbers.whole(1, 100_000), default=10)
    export.add_argument("--chunking", choices=CHUNKINGS, default="strict")
    export.add_argument("--warmup", type=numbers.whole(0, 100_000), default=4, help="overlap, anchors: frames run before each chunk")
    export.add_argument("--keyframes", type=numbers.whole(1, 100_000), default=4, help="anchors: keyframes the shot network learns from")
    export.add_argument("--method", choices=METHODS, default="quality")
    export.add_argument("--size", type=numbers.whole(0, 65_536), default=0, help="longest side in px; 0 = the render's size")
    export.add_argument("--iterations", type=numbers.ITERATIONS, default=300)
    export.add_argument("--fps", type=numbers.number(above=0.0, maximum=1000.0), default=24.0)
    export.add_argument("--device", choices=DEVICES, default="auto")
    export.add_argument("--python", default="python3", help="the workers' Python with torch (and bpy without "
                                                             "--blender)")
    export.add_argument("--blender", default="", help="the workers' Blender executable (default: run bpy in "
                                                      "--python)")
    export.add_argument("--code-folder", default=str(CODE_ROOT), help="this repository as the workers see it")
    export.add_argument("--priority", type=numbers.whole(0, 100), default=50)
    run = commands.add_parser("run", help="run a bundle here with openjd run; arguments after the folder go to it")
    run.add_argument("folder", type=Path, help="a bundle folder written by export")
    run.add_argument("openjd_args", nargs=argparse.REMAINDER, help="e.g. --step Render --preserve")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run_bundle(args.folder, args.openjd_args)
        job = NstJob(blend_file=os.path.abspath(args.blend_file), output_dir=os.path.abspath(args.output),
                     frames=args.frames, styles=[os.path.abspath(path) for path in args.style],
                     chunk_size=args.chunk_size, chunking=args.chunking, warmup=args.warmup, keyframes=args.keyframes,
                     method=args.method, size=args.size, iterations=args.iterations, fps=args.fps,
                     device=args.device, python=args.python, blender=args.blender,
                     code_folder=os.path.abspath(args.code_folder), priority=args.priority)
        print(write_bundle(job, Path(args.bundle_dir)))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

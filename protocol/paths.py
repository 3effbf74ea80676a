"""The one guard against writing over an input: an output that is, or a folder that holds, one of the job's inputs.

Paths are compared as the operating system sees them: symlinks and '..' resolved, case folded where the OS folds
it (Windows by name; any case-insensitive volume by `os.path.samefile`, which also catches hard links). The engine's
command line and worker, the add-on's batch entry and texture operator and the farm stages all call it before any
work. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Union

PathLike = Union[str, "os.PathLike[str]"]
Inputs = Mapping[str, Union[PathLike, Iterable[PathLike], None]]


class OverwritesInput(ValueError):
    """An output that would replace one of the job's inputs; the message names both and the fix."""


def _key(path: PathLike) -> str:
    return os.path.normcase(os.path.realpath(os.path.expanduser(os.fspath(path))))


def same_path(a: PathLike, b: PathLike) -> bool:
    """Whether `a` and `b` name the same file or folder (after symlinks, '..' and the OS's case rules)."""
    if _key(a) == _key(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet): then they are not the same existing file
        return False


def _flatten(inputs: Inputs) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in inputs.items():
        if value is None or value == "":
            continue
        values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        pairs.extend((name, os.fspath(v)) for v in values if v not in (None, ""))
    return pairs


def refuse_overwrite(output: PathLike, inputs: Inputs, what: str = "the output") -> None:
    """Raise OverwritesInput if `output` is any of `inputs` ({'the content image': path, 'a style': [paths]}).

    A folder among the inputs (a frames or passes folder) is refused as the output too.
    """
    for name, path in _flatten(inputs):
        if same_path(output, path):
            raise OverwritesInput(f"{what} {os.fspath(output)} is {name} ({path}); writing it would destroy "
                                  "that input: choose another output name")


_running_job_inputs: dict = {}  # the inputs of the job this process runs now, for refuse_writing
_running_job_replaces_others = [False]  # whether the job may replace existing files it did not write (--overwrite)


def guard_job_inputs(inputs: Inputs, replace_others: bool = False) -> None:
    """Name the inputs of the job this process runs now: every later `refuse_writing` checks against them. With
    `replace_others` (the user's --overwrite) the job may also replace existing files that are not the engine's."""
    _running_job_inputs.clear()
    _running_job_inputs.update(inputs)
    _running_job_replaces_others[0] = bool(replace_others)


def may_replace_others() -> bool:
    """Whether the running job may replace an existing file that the engine did not write (the user said so)."""
    return _running_job_replaces_others[0]


def refuse_writing(path: PathLike, what: str = "a file the job writes") -> None:
    """The guard every writer calls before it creates or replaces `path` (snapshots, sidecars, frames, temporary
    files, cache entries, checkpoints, models): OverwritesInput if it is one of the running job's inputs."""
    refuse_overwrite(path, _running_job_inputs, what)


def refuse_overwrite_all(outputs: Iterable[PathLike], inputs: Inputs, what: str = "the output") -> None:
    """`refuse_overwrite` for each of several outputs (the frames of a sequence, say), in one pass."""
    pairs = _flatten(inputs)
    by_key = {_key(path): (name, path) for name, path in pairs}
    by_file = {}
    for name, path in pairs:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        by_file[(stat.st_dev, stat.st_ino)] = (name, path)
    for output in outputs:
        hit = by_key.get(_key(output))
        if hit is None:
            try:
                stat = os.stat(output)
            except OSError:
                continue
            hit = by_file.get((stat.st_dev, stat.st_ino))
        if hit is not None:
            raise OverwritesInput(f"{what} {os.fspath(output)} is {hit[0]} ({hit[1]}); writing it would destroy "
                                  "that input: choose another output folder")


def refuse_input_folder(folder: PathLike, inputs: Inputs, what: str = "the output folder") -> None:
    """Raise OverwritesInput if `folder` is an input folder or the folder that holds any of `inputs` (a sequence's
    output folder equal to its frames' or passes' folder), so no output can land among the inputs."""
    for name, path in _flatten(inputs):
        holder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        if same_path(folder, holder):
            raise OverwritesInput(f"{what} {os.fspath(folder)} is the folder of {name} ({Path(path)}); "
                                  "writing there could destroy those inputs: give the results a folder of their own")


def refuse_emptying(folder: PathLike, inputs: Inputs, what: str = "the job folder") -> None:
    """Raise OverwritesInput if any of `inputs` lies inside `folder`, at any depth: a folder that is emptied before a
    job must not hold what the job reads (a style picked from an earlier result, say)."""
    inside = _key(folder).rstrip(os.sep) + os.sep
    for name, path in _flatten(inputs):
        if _key(path).startswith(inside):
            raise OverwritesInput(f"{name} ({Path(path)}) is inside {what} {os.fspath(folder)}, which is emptied "
                                  "before every run: save a copy elsewhere and choose that copy")


def _region_styles(request: Mapping) -> list:
    regions = request.get("regions") or {}
    return [path for region in regions.values() if isinstance(region, Mapping) for path in region.get("styles") or []]


def _beside(views) -> list[str]:
    """A view EXR's display picture of the same name, which the texture job reads too."""
    return [os.path.splitext(os.fspath(v))[0] + ".png" for v in views or []]


def request_paths(request: Mapping) -> tuple[list[tuple[str, str]], dict[str, list]]:
    """The files a worker request writes, as (field, path), and those it reads, by field name."""
    kind = request.get("type")
    options = request.get("options") or {}
    init = options.get("init") if isinstance(options, Mapping) else None
    if kind == "stylize_sequence":
        frames = [f for f in request.get("frames") or [] if isinstance(f, Mapping)]
        outputs = [("frames[].output", f.get("output")) for f in frames]
        inputs = {"a frame ('content')": [f.get("content") for f in frames],
                  "a frame's passes ('passes')": [f.get("passes") for f in frames]}
    else:
        outputs = [("output", request.get("output"))]
        inputs = {"the content ('content')": [request.get("content")],
                  "the texture ('texture')": [request.get("texture")],
                  "the mask ('mask')": [request.get("mask")], "the passes ('passes')": [request.get("passes")],
                  "the stylized frame ('stylized')": [request.get("stylized")],
                  "the UV mask ('uv_mask')": [request.get("uv_mask")],
                  "a view ('views')": list(request.get("views") or []) + _beside(request.get("views")),
                  "the style ('style')": [request.get("style")], "a content folder ('content_dirs')":
                      list(request.get("content_dirs") or []),
                  "the init image ('options.init')": [init if init not in ("content", "noise", "any") else None]}
    inputs["a style ('styles')"] = list(request.get("styles") or [])
    inputs["a region's style ('regions')"] = _region_styles(request)
    model = request.get("model")
    inputs["the model ('model')"] = [model if isinstance(model, str) and model.endswith(".safetensors") else None]
    clean = {name: [p for p in paths if isinstance(p, str) and p] for name, paths in inputs.items()}
    return [(field, path) for field, path in outputs if isinstance(path, str) and path], clean


def check_request(request: Mapping) -> None:
    """Raise OverwritesInput if a worker request would write over one of its own inputs, or (a sequence) write its
    frames into the folder of its input frames or passes."""
    outputs, inputs = request_paths(request)
    if request.get("type") == "stylize_sequence":
        refuse_overwrite_all([path for _, path in outputs], inputs, "the output frame")
        frames = {name: paths for name, paths in inputs.items() if name.startswith("a frame")}
        for folder in {os.path.dirname(os.path.abspath(path)) for _, path in outputs}:
            refuse_input_folder(folder, frames, "the output frames' folder")
        return
    for field, path in outputs:
        refuse_overwrite(path, inputs, f"'{field}'")

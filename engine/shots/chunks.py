"""Cutting a shot into chunks for render-farm nodes, and joining the results without seams.

Three strategies:
- strict: a chunk starts from the stylized frames the previous chunk wrote (read from disk), so the shot comes
  out bit-identical to a one-machine run; chunks run one after another.
- overlap: a chunk starts `warmup` frames early, from scratch, and the join crossfades those warm-up frames into
  the previous chunk's last frames; all chunks run at once.
- anchors: a per-shot network is trained once on keyframes; every chunk then runs it, independent of the others
  (starting `warmup` frames early, cheaply, so the flow-guided blend between frames continues across borders).

Frames are named by number (the trailing digits of the file name, e.g. frame_0042.png is 42).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from protocol import CHUNKINGS, FrameRangeError, parse_frame_range

from ..imageio.images import read_image, read_rgb, read_settings, write_image
from ..runtime.errors import EngineError
from .temporal import SequenceFrame

CHUNKS_FOLDER = "chunks"  # overlap: each chunk's frames, warm-up included, in OUTPUT/chunks/FIRST-LAST/


@dataclass
class ShotFrame:
    """One frame of the whole shot: its number, the picture to stylize and its render passes."""

    number: int
    content: Path
    passes: Path | None = None


@dataclass
class Chunk:
    """The frames one farm task stylizes, and how it joins the rest of the shot."""

    first: int
    last: int
    chunking: str = "strict"
    warmup: int = 4  # overlap: frames stylized before `first` and crossfaded; anchors: frames run before `first`
    resume_from: Path | None = None  # strict: where the previous chunk's results are, if not in the output folder

    def __post_init__(self):
        if self.chunking not in CHUNKINGS:
            raise EngineError(f"unknown chunking '{self.chunking}'; use one of {', '.join(CHUNKINGS)}")
        if self.last < self.first:
            raise EngineError(f"chunk {self.first}-{self.last}: the last frame comes before the first")
        if self.warmup < 0:
            raise EngineError(f"--warmup {self.warmup}: give 0 or more frames")

    @property
    def name(self) -> str:
        return f"{self.first}-{self.last}"


def parse_range(text: str, option: str = "--chunk") -> tuple[int, int]:
    """'12-24' or '7' as (first, last) (protocol.parse_frame_range, as the engine's error)."""
    try:
        return parse_frame_range(text, option)
    except FrameRangeError as exc:
        raise EngineError(str(exc)) from None


def frame_number(path: Path) -> int:
    """The frame number a file name ends with (frame_0042.png -> 42)."""
    found = re.search(r"(\d+)$", Path(path).stem)
    if found is None:
        raise EngineError(f"{Path(path).name} has no frame number at the end of its name; name frames like "
                          "frame_0001.png to cut the shot into chunks")
    return int(found.group(1))


def mixed_kernels(outputs: Iterable[Path]) -> str | None:
    """A warning when stylized frames of one shot record different kernels (engine.runtime.device.describe_kernels): they
    are then not one machine's result bit for bit, and a chunk boundary between two kinds of node can show."""
    frames_by_kernels: dict[str, list[int]] = {}
    for path in outputs:
        try:
            kernels = (read_settings(path) or {}).get("kernels") if Path(path).is_file() else None
        except (OSError, ValueError):
            kernels = None  # unreadable settings say nothing about the kernels
        if kernels:
            frames_by_kernels.setdefault(kernels, []).append(frame_number(path))
    if len(frames_by_kernels) < 2:
        return None
    runs = sorted(frames_by_kernels.items(), key=lambda item: min(item[1]))
    listed = "; ".join(f"frames {min(numbers)}-{max(numbers)}: {kernels}" for kernels, numbers in runs)
    return (f"the shot's frames were stylized with different kernels ({listed}), so they are not one machine's "
            "result bit for bit and a chunk boundary between them can show other strokes; run a shot's stylize "
            "tasks on one kind of node (docs/render_farm.md)")


def chunk_frames(shot: Sequence[ShotFrame], chunk: Chunk, output_dir: Path, long_term_frames: int = 2
                 ) -> list[SequenceFrame]:
    """The sequence one chunk runs: its frames (plus warm-up or earlier results for context), indexed by shot position.

    strict: the `long_term_frames` frames before the chunk come first as context, read from the output folder (or
    `resume_from`); they must exist. overlap: the warm-up frames and the chunk go to OUTPUT/chunks/FIRST-LAST/.
    anchors: the chunk goes to the output folder, its warm-up frames to OUTPUT/chunks/FIRST-LAST/.
    """
    numbers = [frame.number for frame in shot]
    if len(set(numbers)) != len(numbers):
        raise EngineError("two frames of the shot have the same number; give each frame its own file")
    order = sorted(range(len(shot)), key=lambda i: numbers[i])
    shot = [shot[i] for i in order]
    positions = {frame.number: index for index, frame in enumerate(shot)}
    for end in (chunk.first, chunk.last):
        if end not in positions:
            raise EngineError(f"chunk {chunk.name}: frame {end} is not in the shot "
                              f"({shot[0].number}-{shot[-1].number}); check --chunk and the frames folder")
    start, stop = positions[chunk.first], positions[chunk.last] + 1
    output_dir = Path(output_dir)

    def sequence_frame(index: int, folder: Path, context: bool = False) -> SequenceFrame:
        frame = shot[index]
        return SequenceFrame(frame.content, folder / f"{frame.content.stem}.png", frame.passes, index=index,
                             context=context)

    if chunk.chunking == "overlap":
        folder = output_dir / CHUNKS_FOLDER / chunk.name
        folder.mkdir(parents=True, exist_ok=True)
        return [sequence_frame(i, folder) for i in range(max(0, start - chunk.warmup), stop)]
    frames = [sequence_frame(i, output_dir) for i in range(start, stop)]
    if chunk.chunking == "anchors":  # the warm-up rebuilds the flow-guided blend's history (its results are kept
        warmup = output_dir / CHUNKS_FOLDER / chunk.name  # apart); the network itself needs no history
        if start > 0 and chunk.warmup:
            warmup.mkdir(parents=True, exist_ok=True)
        return [sequence_frame(i, warmup) for i in range(max(0, start - chunk.warmup), start)] + frames
    context = []
    for index in range(max(0, start - long_term_frames), start):
        earlier = sequence_frame(index, output_dir, context=True)
        if not earlier.output.is_file() and chunk.resume_from is not None:
            earlier = sequence_frame(index, Path(chunk.resume_from), context=True)
        if not earlier.output.is_file():
            where = output_dir if chunk.resume_from is None else f"{output_dir} or {chunk.resume_from}"
            raise EngineError(f"chunk {chunk.name} continues frame {shot[index].number}, whose stylized result "
                              f"{shot[index].content.stem}.png is not in {where}; run the previous chunk first "
                              "(strict chain), or use --chunking overlap")
        context.append(earlier)
    return context + frames


def join_overlaps(output_dir: Path, overwrite: bool = False) -> tuple[list[Path], list[Path]]:
    """Write OUTPUT/NAME.png for every frame of OUTPUT/chunks/*/: a chunk's own frames as they are, and where the
    next chunk's warm-up covers them, a crossfade that hands over to the next chunk frame by frame.

    Returns (written, kept): frames already in the output folder are kept unless `overwrite`.
    """
    output_dir = Path(output_dir)
    root = output_dir / CHUNKS_FOLDER
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: parse_range(p.name, p.name)) \
        if root.is_dir() else []
    if not folders:
        raise EngineError(f"no chunk results in {root}; run the overlap chunks (--chunking overlap) first")
    own: dict[int, Path] = {}
    warmups: dict[int, tuple[Path, float]] = {}  # frame -> (warm-up result, its share in the crossfade)
    for folder in folders:
        first, last = parse_range(folder.name, folder.name)
        files = {frame_number(p): p for p in folder.glob("*.png")}
        for end in (first, last):
            if end not in files:
                raise EngineError(f"chunk {folder.name} is incomplete (no frame {end}); run that chunk again")
        warm = sorted(n for n in files if n < first)
        for step, number in enumerate(warm, start=1):
            warmups[number] = (files[number], step / (len(warm) + 1))
        for number, path in files.items():
            if first <= number <= last:
                if number in own:
                    raise EngineError(f"frame {number} is in two chunks ({own[number].parent.name} and "
                                      f"{folder.name}); chunks must not share frames")
                own[number] = path
    written, kept = [], []
    for number, path in sorted(own.items()):
        target = output_dir / path.name
        if target.exists() and not overwrite:
            kept.append(target)
            continue
        image, alpha = read_image(path, "chunk result")  # a transparent render's alpha is the same in both chunks
        record: dict = {"frame": number, "chunk": path.parent.name}
        if number in warmups:
            warm_path, share = warmups[number]
            warm = read_rgb(warm_path, "warm-up result")
            if warm.shape != image.shape:
                raise EngineError(f"{warm_path} and {path} differ in size; stylize every chunk at one size")
            image = (1 - share) * image + share * warm
            record.update(crossfade_with=warm_path.parent.name, crossfade_share=round(share, 4))
        write_image(target, np.clip(image, 0, 1), record, alpha=alpha)
        written.append(target)
    return written, kept

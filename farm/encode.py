"""The farm's last step: the stylized frames of a shot encoded into one H.264 video, written atomically.

`python -m farm.encode --frames OUTPUT/stylized --output OUTPUT/shot.mp4 --fps 24` (the FFmpeg binary comes with
the imageio-ffmpeg package). Refuses a shot with missing frames rather than encoding a jump.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from engine.shots.chunks import mixed_kernels
from protocol import OverwritesInput, refuse_overwrite, refuse_writing


class EncodeError(Exception):
    """A problem with the frames or the output, in words that name the fix."""


def shot_frames(folder: Path) -> list[Path]:
    """The folder's frame_NNNN.png files in frame order; refuses an empty folder or a gap in the numbers."""
    numbered = {}
    for path in folder.glob("*.png"):
        found = re.search(r"(\d+)$", path.stem)
        if found:
            numbered[int(found.group(1))] = path
    if not numbered:
        raise EncodeError(f"no numbered PNG frames in {folder}; stylize the shot first")
    numbers = sorted(numbered)
    steps = {b - a for a, b in zip(numbers, numbers[1:])}
    if len(steps) > 1:
        step = min(steps)
        missing = next(n + step for n in numbers if n + step not in numbered and n != numbers[-1])
        raise EncodeError(f"frame {missing} is missing from {folder}; run the task that stylizes it, then encode")
    return [numbered[n] for n in numbers]


def encode(frames_dir: Path, output: Path, fps: float) -> Path:
    """Encode the frames into `output` (replaced only once the new video is complete)."""
    import imageio_ffmpeg

    if not 0 < fps <= 1000:
        raise EncodeError(f"--fps {fps:g}: give a frame rate above 0, up to 1000")
    frames = shot_frames(frames_dir)
    try:
        refuse_overwrite(output, {"a frame of the shot": frames, "the frames folder": [frames_dir]}, "--output")
    except OverwritesInput as exc:
        raise EncodeError(str(exc)) from None
    if not output.parent.is_dir():
        raise EncodeError(f"the folder of {output} does not exist; create it first")
    listing = output.with_name(f".{output.name}.frames.txt")
    temp = output.with_name(f".{output.name}.part{output.suffix}")
    try:
        for written in (output, listing, temp):
            refuse_writing(written, "a file the encoder writes")
    except OverwritesInput as exc:
        raise EncodeError(str(exc)) from None
    listing.write_text("".join(f"file '{path.resolve()}'\nduration {1 / fps:.9f}\n" for path in frames))
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0",
               "-i", str(listing), "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-r", f"{fps:g}", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-crf", "18", str(temp)]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise EncodeError(f"FFmpeg could not encode {frames_dir}: {done.stderr.strip()[-400:]}")
        os.replace(temp, output)
    finally:
        listing.unlink(missing_ok=True)
        temp.unlink(missing_ok=True)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m farm.encode", description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=Path, required=True, help="folder of stylized frames (frame_NNNN.png)")
    parser.add_argument("--output", type=Path, required=True, help="the video to write (.mp4)")
    parser.add_argument("--fps", type=float, default=24.0)
    args = parser.parse_args(argv)
    try:
        path = encode(args.frames, args.output, args.fps)
    except EncodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frames = shot_frames(args.frames)
    mixed = mixed_kernels(frames)
    if mixed:
        print(f"warning: {mixed}", file=sys.stderr)
    print(f"wrote {path} ({len(frames)} frames at {args.fps:g} fps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

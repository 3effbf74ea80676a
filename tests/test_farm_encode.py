"""The farm's encode step: every stylized frame becomes one video frame; a gap is refused and nothing is replaced."""

from __future__ import annotations

import cv2
import numpy as np

from farm.encode import main as encode_main


def write_frames(folder, numbers):
    folder.mkdir(exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"frame_{n:04d}.png"), np.full((35, 47, 3), 30 * n, np.uint8))  # odd size on purpose


def video_frames(path) -> list[np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_encode_writes_every_frame_in_order(tmp_path):
    write_frames(tmp_path / "stylized", range(1, 7))
    (tmp_path / "stylized" / "chunks").mkdir()  # overlap chunk folders beside the frames are not frames
    assert encode_main(["--frames", str(tmp_path / "stylized"), "--output", str(tmp_path / "shot.mp4"),
                        "--fps", "8"]) == 0
    frames = video_frames(tmp_path / "shot.mp4")
    assert len(frames) == 6
    assert [round(float(f.mean()) / 30) for f in frames] == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.mp4", "stylized"]  # no temporary files left


def test_encode_refuses_a_gap_and_keeps_the_old_video(tmp_path, capsys):
    write_frames(tmp_path / "stylized", [1, 2, 4])
    (tmp_path / "shot.mp4").write_bytes(b"the previous video")
    assert encode_main(["--frames", str(tmp_path / "stylized"), "--output", str(tmp_path / "shot.mp4")]) == 2
    assert "frame 3 is missing" in capsys.readouterr().err
    assert (tmp_path / "shot.mp4").read_bytes() == b"the previous video"

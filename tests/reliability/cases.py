"""Inputs for the reliability tests, all generated here: odd, damaged and hostile video files.

Videos are small (a few frames) so that the whole bad-input matrix runs in about a minute.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from media import dancer_frames, dancer_leaving, encode_raw, make_audio, truncated_copy, two_dancers

from dancenow.video import write_video

# case -> expected outcome for the video commands: "works", or the problem named in the one-line error
VIDEO_CASES = {
    "missing": "no such file",
    "directory": "is a directory",
    "empty": "empty file",
    "fifo": "not a regular file (a FIFO)",  # reading it would wait forever for a writer
    "symlink_loop": "symlink loop",
    "text": "not a video file",
    "truncated": "works",  # index at the front (faststart): the frames before the cut are used
    "truncated_no_index": "damaged or incomplete video file",  # a phone recording cut short
    "audio_only": "no video stream",
    "one_pixel": "no person detected",
    "no_person": "no person detected",
    "uhd_4k": "works",
    "rotated_portrait": "works",
    "variable_frame_rate": "works",
    "several_people": "works",
    "person_leaving": "works",
}


def make_video_case(case: str, root: Path) -> Path:
    """Write the input for ``case`` under ``root``; returns its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{case}.mp4"
    if case == "missing":
        return path
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "symlink_loop":
        (root / "other.mp4").symlink_to(path.name)
        path.symlink_to("other.mp4")
    elif case == "text":
        path.write_text("this is not a video\n" * 20)
    elif case == "truncated":
        frames, _ = dancer_frames(12, (128, 128))
        write_video(root / "whole.mp4", frames, fps=10, preset="ultrafast")
        truncated_copy(root / "whole.mp4", path)
    elif case == "truncated_no_index":
        frames, _ = dancer_frames(12, (128, 128))
        truncated_copy(encode_raw(root / "whole.mp4", frames, rate=10), path)  # index written last
    elif case == "audio_only":
        path = make_audio(root / "audio_only.m4a", "aac", seconds=1.0)
    elif case == "one_pixel":
        # 4:4:4 lets x264 keep a 1x1 frame (4:2:0 would be padded to 2x2)
        encode_raw(path, [np.full((1, 1, 3), 128, np.uint8)] * 5, rate=10, pix_fmt="yuv444p")
    elif case == "no_person":
        rng = np.random.default_rng(0)
        write_video(path, (rng.integers(100, 140, (128, 160, 3), np.uint8) for _ in range(6)), fps=10)
    elif case == "uhd_4k":
        frames, _ = dancer_frames(3, (960, 540))  # drawn small (fast), upscaled to a real 4K stream
        big = (cv2.resize(f, (3840, 2160), interpolation=cv2.INTER_LINEAR) for f in frames)
        write_video(path, big, fps=10, preset="ultrafast")
    elif case == "rotated_portrait":
        # stored landscape with a display matrix that turns it 90 degrees clockwise into a portrait
        frames, _ = dancer_frames(8, (144, 256))
        encode_raw(path, [np.ascontiguousarray(np.rot90(f)) for f in frames], rate=10, rotation=-90)
    elif case == "variable_frame_rate":
        frames, _ = dancer_frames(8, (192, 192))
        times_ms = [0, 40, 150, 170, 400, 420, 700, 1000]
        encode_raw(path, frames, pts=times_ms, time_base=Fraction(1, 1000))
    elif case == "several_people":
        write_video(path, two_dancers(8, (320, 224)), fps=10, preset="ultrafast")
    elif case == "person_leaving":
        write_video(path, dancer_leaving(12, (192, 192)), fps=10, preset="ultrafast")
    else:
        raise KeyError(case)
    return path

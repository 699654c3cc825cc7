"""Synthetic footage for the data tests: a stick person with exact keypoints, and a video of it.

A plain module (not conftest.py) so the test files can import its helpers by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dancenow.pose.layout import FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND, B
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.pose.render import overlay
from dancenow.video import write_video

# A standing person facing the camera, in units of their height: (u right in the image, v up from
# the soles). Their right side is on the image's left.
_BODY = {
    "nose": (0.0, 0.93),
    "neck": (0.0, 0.82),
    "right_shoulder": (-0.11, 0.82),
    "right_elbow": (-0.15, 0.65),
    "right_wrist": (-0.17, 0.50),
    "left_shoulder": (0.11, 0.82),
    "left_elbow": (0.15, 0.65),
    "left_wrist": (0.17, 0.50),
    "mid_hip": (0.0, 0.52),
    "right_hip": (-0.06, 0.52),
    "right_knee": (-0.07, 0.28),
    "right_ankle": (-0.07, 0.04),
    "left_hip": (0.06, 0.52),
    "left_knee": (0.07, 0.28),
    "left_ankle": (0.07, 0.04),
    "right_eye": (-0.02, 0.945),
    "left_eye": (0.02, 0.945),
    "right_ear": (-0.045, 0.935),
    "left_ear": (0.045, 0.935),
    "left_big_toe": (0.09, 0.0),
    "left_small_toe": (0.11, 0.0),
    "left_heel": (0.07, 0.0),
    "right_big_toe": (-0.09, 0.0),
    "right_small_toe": (-0.11, 0.0),
    "right_heel": (-0.07, 0.0),
}


def stick_person(cx: float, feet_y: float, height: float, arms_up: float = 0.0) -> np.ndarray:
    """``(137, 3)`` keypoints (confidence 1) of a person ``height`` px tall, soles at ``feet_y``.

    ``arms_up`` in [0, 1] raises the wrists from the hips to just above the head (v = 1.05).
    """
    uv = np.zeros((NUM_KEYPOINTS, 2))
    for name, p in _BODY.items():
        uv[B[name]] = p
    for side in ("right", "left"):  # raise the forearms
        sign = -1 if side == "right" else 1
        uv[B[f"{side}_wrist"]] = (sign * 0.17, 0.50 + arms_up * 0.55)
        uv[B[f"{side}_elbow"]] = (sign * 0.16, 0.65 + arms_up * 0.25)
    angle = np.linspace(0, 2 * np.pi, FACE.stop - FACE.start, endpoint=False)
    uv[FACE] = np.stack([0.045 * np.cos(angle), 0.93 + 0.055 * np.sin(angle)], axis=1)
    for hand, wrist in ((LEFT_HAND, B["left_wrist"]), (RIGHT_HAND, B["right_wrist"])):
        fan = np.linspace(-0.02, 0.02, hand.stop - hand.start)
        uv[hand] = uv[wrist] + np.stack([fan, np.abs(fan) - 0.03], axis=1)
    kp = np.ones((NUM_KEYPOINTS, 3), np.float32)
    kp[:, 0] = cx + uv[:, 0] * height
    kp[:, 1] = feet_y - uv[:, 1] * height
    return kp


def walking_keypoints(num_frames: int, width: int, height: int) -> np.ndarray:
    """``(T, 137, 3)``: a person 70 % of the frame tall walking from 30 % to 70 % of the width,
    raising the arms above the head half-way."""
    t = np.linspace(0, 1, num_frames)
    return np.stack(
        [
            stick_person(width * (0.3 + 0.4 * s), 0.9 * height, 0.7 * height, arms_up=np.sin(np.pi * s) ** 2)
            for s in t
        ]
    )


def background(width: int, height: int) -> np.ndarray:
    """A smooth ``(H, W, 3)`` uint8 gradient (compresses well, every pixel distinct-ish)."""
    x = np.linspace(40, 120, width)[None, :]
    y = np.linspace(30, 90, height)[:, None]
    return np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)


def make_footage(
    folder: Path, keypoints: np.ndarray, width: int, height: int, *, fps: float = 25.0, marker=None
) -> tuple[Path, Path]:
    """Write ``video.mp4`` (the person drawn over a gradient) and ``poses.npz`` into ``folder``.

    ``marker = (x, y, side)`` paints a white square ``[x, x+side) x [y, y+side)`` on every frame.
    """
    base = background(width, height)
    if marker is not None:
        x, y, side = marker
        base[y : y + side, x : x + side] = 255
    video = folder / "video.mp4"
    write_video(video, (overlay(base, kp) for kp in keypoints), fps, preset="ultrafast", crf=12)
    poses = folder / "poses.npz"
    save_poses(
        poses, PoseSequence(keypoints=keypoints, fps=fps, width=width, height=height, detector="synthetic")
    )
    return video, poses

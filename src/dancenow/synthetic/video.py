"""Synthetic dance clips: a procedural performer rendered to an H.264 MP4 with its exact keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dancenow.synthetic.performer import TARGET, Appearance, make_background, render_performer
from dancenow.synthetic.skeleton import DanceStyle, dance_pose3d, project_to_image
from dancenow.video import VideoWriter

__all__ = ["clip_keypoints", "make_clip"]

CAMERA_HEIGHT = 0.55  # performer heights: a camera at chest height, like a phone on a tripod
CAMERA_DISTANCE = 3.0  # performer heights from the front of the stage
WALL_DEPTH = 2.5  # performer heights behind the front of the stage (beyond the deepest walk back)


def clip_keypoints(
    num_frames: int,
    fps: float,
    *,
    size: tuple[int, int],
    appearance: Appearance,
    seed: int,
    style: str | DanceStyle = "freestyle",
    margin: float = 0.02,
) -> tuple[np.ndarray, dict]:
    """Keypoints of a dance framed in a ``size = (W, H)`` image, and the framing used.

    The performer stands ``appearance.height`` of the frame tall, centred, feet near the
    bottom, but is shrunk when needed so that every keypoint of the whole dance stays at
    least ``margin`` (fraction of the frame) inside the image.

    Returns:
        ``(T, 137, 3)`` float32 keypoints (pixels, confidence 1) and a dict with
        ``height_px``, ``center_x``, ``ground_y``, ``horizon_y`` (eye level) and ``floor_y``
        (the wall/floor line).
    """
    width, height = size
    world = dance_pose3d(num_frames, fps, seed=seed, style=style)
    ground_y = (1 - 1.5 * margin) * height
    center_x = width / 2
    # project at 1 px per height to find the extent, then pick the largest scale that fits
    unit = project_to_image(
        world,
        height_px=1.0,
        center_x=0.0,
        ground_y=0.0,
        camera_height=CAMERA_HEIGHT,
        camera_distance=CAMERA_DISTANCE,
    )
    half_w = max(float(np.abs(unit[..., 0]).max()), 1e-6)
    top = max(float(-unit[..., 1].min()), 1e-6)
    bottom = max(float(unit[..., 1].max()), 0.0)
    fit_x = (width / 2 - margin * width) / half_w
    fit_y = (ground_y - margin * height) / top
    fit_bottom = (height - 0.5 * margin * height - ground_y) / bottom if bottom > 0 else np.inf
    height_px = float(min(appearance.height * height, fit_x, fit_y, fit_bottom))
    keypoints = project_to_image(
        world,
        height_px=height_px,
        center_x=center_x,
        ground_y=ground_y,
        camera_height=CAMERA_HEIGHT,
        camera_distance=CAMERA_DISTANCE,
    )
    horizon = ground_y - height_px * CAMERA_HEIGHT
    floor_y = horizon + (ground_y - horizon) * CAMERA_DISTANCE / (CAMERA_DISTANCE + WALL_DEPTH)
    framing = {
        "height_px": height_px,
        "center_x": center_x,
        "ground_y": ground_y,
        "horizon_y": horizon,
        "floor_y": floor_y,
    }
    return keypoints, framing


def make_clip(
    path: str | Path,
    *,
    seconds: float,
    fps: float = 30.0,
    size: tuple[int, int] = (512, 512),
    appearance: Appearance = TARGET,
    seed: int = 0,
    style: str | DanceStyle = "freestyle",
    crf: int = 18,
) -> np.ndarray:
    """Render a procedural dance to an H.264 MP4 at ``path`` and return what was drawn.

    Args:
        path: output video (written atomically).
        seconds: clip length; the clip has ``round(seconds * fps)`` frames.
        fps: frame rate.
        size: ``(W, H)`` frame size in pixels (odd sizes are padded to even by the writer).
        appearance: how the performer looks (e.g. :data:`TARGET`, :data:`SOURCE`,
            ``Appearance.random(seed)``).
        seed: the dance (and the background texture); same seed, same clip.
        style: a :data:`~dancenow.synthetic.skeleton.STYLES` name or a ``DanceStyle``.
        crf: x264 quality (18: visually lossless).

    Returns:
        ``(T, 137, 3)`` float32 exact keypoints of every frame, in pixels (confidence 1).
    """
    width, height = size
    num_frames = max(1, round(seconds * fps))
    keypoints, framing = clip_keypoints(
        num_frames, fps, size=size, appearance=appearance, seed=seed, style=style
    )
    background = make_background(
        height, width, seed=seed, floor_y=framing["floor_y"], horizon_y=framing["horizon_y"]
    )
    with VideoWriter(path, fps, crf=crf) as writer:
        for pose in keypoints:
            writer.write(render_performer(pose, appearance, height, width, background))
    return keypoints

"""Test media made with PyAV and the synthetic performer: what the writers deliberately do not offer
(GOP, VFR, rotation, audio-only files) and the damaged or odd inputs users feed the CLI."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def encode_raw(
    path: Path,
    images,
    *,
    rate: Fraction | int = 30,
    pts=None,
    time_base: Fraction | None = None,
    options: dict | None = None,
    rotation: float | None = None,
    pix_fmt: str = "yuv420p",
    container_options: dict | None = None,
) -> Path:
    """Encode with PyAV directly, for what VideoWriter deliberately does not offer (GOP, VFR, rotation)."""
    images = list(images)
    h, w = images[0].shape[:2]
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast", **(options or {})})
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)  # counter-clockwise degrees, PyAV's convention
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_audio(path: Path, codec: str, seconds: float, rate: int = 44100, layout: str = "stereo") -> Path:
    """A 440 Hz tone, encoded with PyAV's own encoders (aac, pcm_s16le, ...)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.codec_context.layout = layout
        channels = 2 if layout == "stereo" else 1
        n = int(seconds * rate)
        tone = (np.sin(2 * np.pi * 440 * np.arange(n) / rate) * 0.3).astype(np.float32)
        for start in range(0, n, 1024):
            chunk = np.repeat(tone[None, start : start + 1024], channels, 0)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# --------------------------------------------------------------------------- dancers and damaged files
def dancer_frames(
    num_frames: int, size: tuple[int, int], *, seed: int = 0, fps: float = 10.0, appearance=None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of the synthetic performer (``size = (W, H)``) and the exact keypoints drawn."""
    from dancenow.synthetic import TARGET, make_background, render_performer
    from dancenow.synthetic.video import clip_keypoints

    appearance = appearance or TARGET
    width, height = size
    keypoints, framing = clip_keypoints(num_frames, fps, size=size, appearance=appearance, seed=seed)
    background = make_background(
        height, width, seed=seed, floor_y=framing["floor_y"], horizon_y=framing["horizon_y"]
    )
    frames = [render_performer(kp, appearance, height, width, background) for kp in keypoints]
    return frames, keypoints


def two_dancers(num_frames: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """Frames with two different performers side by side, each in one half of ``size = (W, H)``."""
    from dancenow.synthetic import SOURCE, TARGET

    half = (size[0] // 2, size[1])
    left, _ = dancer_frames(num_frames, half, seed=seed, appearance=TARGET)
    right, _ = dancer_frames(num_frames, half, seed=seed + 1, appearance=SOURCE)
    return [np.concatenate([a, b], axis=1) for a, b in zip(left, right, strict=True)]


def dancer_leaving(num_frames: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """The performer dances in place for the first half, then walks out of the frame to the right."""
    from dancenow.synthetic import TARGET, make_background, render_performer
    from dancenow.synthetic.video import clip_keypoints

    width, height = size
    keypoints, framing = clip_keypoints(num_frames, 10.0, size=size, appearance=TARGET, seed=seed)
    background = make_background(
        height, width, seed=seed, floor_y=framing["floor_y"], horizon_y=framing["horizon_y"]
    )
    half = num_frames // 2
    frames = []
    for t, kp in enumerate(keypoints):
        kp = kp.copy()
        if t >= half:  # fully gone (by twice the frame width) at the last frame
            kp[:, 0] += 2 * width * (t - half + 1) / (num_frames - half)
        frames.append(render_performer(kp, TARGET, height, width, background))
    return frames


def truncated_copy(good: Path, out: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``good``'s bytes: a recording cut short (no MP4 index)."""
    out.write_bytes(good.read_bytes()[: int(good.stat().st_size * fraction)])
    return out

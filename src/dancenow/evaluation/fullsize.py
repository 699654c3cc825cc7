"""Scores at the output's size: the generated frame as transfer writes it (the person's crop
enlarged into the full-resolution plate) against the real video frame, both at the video's own
resolution (height capped at :data:`MAX_HEIGHT`).

Scoring in evaluation's 256-px window hides what a viewer sees: a person drawn at 192x256 and
enlarged 4-5x is soft and blocky next to the sharp plate. Here the body box and the face box
(side = height / 8, the paper's 128 px at 1024) are scored at full size: SSIM, PSNR, the
perceptual distance, and a **sharpness** figure: the high-frequency energy (mean squared
Laplacian of the grey image) of the generated body box over the real one's, 1.0 = as sharp as
the video, below 1 = softer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from dancenow.data.crop import face_boxes, face_size_for
from dancenow.evaluation.metrics import body_box, crop_box, psnr, ssim
from dancenow.evaluation.stlpips import NAME as STLPIPS
from dancenow.evaluation.stlpips import stlpips_distance
from dancenow.video import iter_frames

MAX_HEIGHT = 1024
"""Frames taller than this are scored downscaled to it (the paper's output height)."""
PREFIX = "full_"
"""Summary keys of these figures start with it (``full_body_ssim``, ``full_sharpness``, ...)."""
PLAIN_PREFIX = "plain_full_"
"""The same figures of a model with a full-size enhancer, without it (the plain enlargement)."""
KEYS = ("body_ssim", "body_psnr", f"body_{STLPIPS}", "face_ssim", "face_psnr", f"face_{STLPIPS}", "sharpness")


def high_frequency_energy(image: np.ndarray) -> float:
    """Mean squared Laplacian of the grey image (``(H, W, 3)`` uint8): how much fine detail it holds."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean(cv2.Laplacian(grey, cv2.CV_32F, ksize=3) ** 2))


def sharpness(generated: np.ndarray, real: np.ndarray) -> float:
    """High-frequency energy of ``generated`` over that of ``real`` (NaN when the real has none)."""
    r = high_frequency_energy(real)
    return high_frequency_energy(generated) / r if r > 0 else float("nan")


class FullSizeScore:
    """Frames ``[start, stop)`` of ``source_video`` scored against generated full-resolution frames
    fed in order with :meth:`add`; the real frames are decoded as they are needed (one held at a
    time), so memory does not grow with their number."""

    def __init__(
        self, source_video: Path, start: int, stop: int, *, perceptual: bool = True, prefix: str = PREFIX
    ):
        self.start, self.stop, self.perceptual, self.prefix = start, stop, perceptual, prefix
        self.rows: list[dict] = []
        self._real: Iterator[np.ndarray] = self._decode(source_video)
        self.height: int | None = None  # the height scored at
        self.short = False  # the video ended before frame ``stop``

    def _decode(self, path: Path) -> Iterator[np.ndarray]:
        for t, frame in enumerate(iter_frames(path)):
            if t >= self.stop:
                return
            if t >= self.start:
                yield frame.image

    def add(self, generated: np.ndarray, keypoints: np.ndarray) -> dict | None:
        """Score the next frame: ``generated`` ``(H, W, 3)`` uint8 at the video's size, against
        the real frame whose pose is ``keypoints`` ``(137, 3)`` (the video's pixels). None, and
        :attr:`short` set, once the video has no more frames (it is not the dataset's video)."""
        real = next(self._real, None)
        if real is None:
            self.short = True
            return None
        if real.shape != generated.shape:
            raise ValueError(f"generated frame {generated.shape} but the video's is {real.shape}")
        kp = np.array(keypoints, np.float32)
        h, w = real.shape[:2]
        scale = min(1.0, MAX_HEIGHT / h)
        if scale < 1:
            size = (round(w * scale), round(h * scale))
            real, generated = (cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (real, generated))
            kp[:, :2] *= scale
            h, w = real.shape[:2]
        self.height = h
        row: dict = {}
        box = body_box(kp, h, w)
        if box is not None:
            gb, rb = crop_box(generated, box), crop_box(real, box)
            row |= {"body_ssim": ssim(gb, rb), "body_psnr": psnr(gb, rb), "sharpness": sharpness(gb, rb)}
            if self.perceptual:
                row[f"body_{STLPIPS}"] = stlpips_distance(gb, rb)
        if (kp[:25, 2] > 0).any():
            face = face_boxes(kp[None], h, w, face_size_for(h, w))[0]
            gf, rf = crop_box(generated, face), crop_box(real, face)
            row |= {"face_ssim": ssim(gf, rf), "face_psnr": psnr(gf, rf)}
            if self.perceptual:
                row[f"face_{STLPIPS}"] = stlpips_distance(gf, rf)
        self.rows.append(row)
        return row

    def summary(self) -> dict:
        """Means over the frames scored, as ``full_KEY`` (the prefix given); ``full_height`` is
        the scored height."""
        out: dict = {}
        for key in KEYS:
            values = [r[key] for r in self.rows if key in r and np.isfinite(r[key])]
            if values:
                out[self.prefix + key] = float(np.mean(values))
        out[self.prefix + "frames"] = len(self.rows)
        if self.height is not None:
            out[self.prefix + "height"] = self.height
        return out

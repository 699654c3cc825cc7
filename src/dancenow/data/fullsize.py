"""The enhancer's view of a frame at the output's size (:mod:`dancenow.models.enhancer`).

The generated crop (training size) and its alpha enlarged to the window's size in the video
(height capped at :data:`MAX_HEIGHT`), the stick figure drawn at that size, the plate cropped at
that size, and which of its pixels lie inside the video. Training builds it from the training
frames, generation from each generated frame: the same function, so what the enhancer learns
on is what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from dancenow.data.crop import ScaledCropper, valid_region
from dancenow.data.dataset import image_to_tensor, render_label

MAX_HEIGHT = 1024
"""The enhancer works at the window's size in the video, at most this high (the paper's 1024)."""


def output_size(window_size: tuple[int, int]) -> tuple[int, int]:
    """``(w, h)`` the enhancer works at for windows of ``window_size`` video pixels."""
    w, h = window_size
    scale = min(1.0, MAX_HEIGHT / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


@dataclass
class FullSizeFrame:
    """One frame at the output's size (``(H, W)`` arrays)."""

    composite: np.ndarray  # (H, W, 3) uint8: the generated crop enlarged
    alpha: np.ndarray  # (H, W) float32 in [0, 1]: its alpha enlarged
    label: np.ndarray  # (H, W, 3) uint8: the stick figure drawn at this size
    plate: np.ndarray  # (H, W, 3) uint8: the background plate (black beyond the video)
    valid: np.ndarray  # (H, W) bool: inside the video

    def tensors(self) -> dict[str, torch.Tensor]:
        """``composite``, ``label``, ``plate`` ``(3, H, W)`` in ``[-1, 1]``; ``alpha`` ``(1, H, W)``."""
        return {
            "composite": image_to_tensor(self.composite),
            "alpha": torch.from_numpy(np.ascontiguousarray(self.alpha, np.float32))[None],
            "label": image_to_tensor(self.label),
            "plate": image_to_tensor(self.plate),
        }


class FullSizeInputs:
    """Builds :class:`FullSizeFrame` s for one target: its full-size plate, video size, window
    size and training size."""

    def __init__(
        self,
        background: np.ndarray,
        source_size: tuple[int, int],
        window_size: tuple[int, int],
        model_size: tuple[int, int],
    ):
        self.size = output_size(window_size)
        self.source_size, self.model_size = source_size, model_size
        self._plates = ScaledCropper(background, source_size, window_size, self.size)

    def __call__(self, crop: np.ndarray, alpha: np.ndarray, keypoints: np.ndarray, window) -> FullSizeFrame:
        """``crop`` ``(h, w, 3)`` uint8 and ``alpha`` ``(h, w)`` as generated for the pose
        ``keypoints`` ``(137, 3)`` (training-size pixels) in ``window`` (video pixels)."""
        (w, h), (fw, fh) = self.model_size, self.size
        composite = cv2.resize(crop, (fw, fh), interpolation=cv2.INTER_CUBIC)
        a = cv2.resize(np.asarray(alpha, np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
        kp = np.array(keypoints, np.float32)
        kp[:, 0] *= fw / w
        kp[:, 1] *= fh / h
        return FullSizeFrame(
            composite=composite,
            alpha=np.clip(a, 0.0, 1.0),
            label=render_label(kp, fh, fw),
            plate=self._plates(window),
            valid=valid_region(window, self.source_size, self.size),
        )

"""Data stage: a target video -> a training dataset folder, and PyTorch datasets that read it.

- :mod:`~dancenow.data.crop`: the person-centred crop windows, their valid pixels, face boxes.
- :mod:`~dancenow.data.prepare`: :func:`prepare_dataset` (``dancenow prepare``).
- :mod:`~dancenow.data.dataset`: :func:`load_dataset_info`, :class:`PairDataset`,
  :class:`FrameDataset`, :func:`label_from_keypoints`.

Names are imported lazily, so ``dancenow prepare`` does not pay for importing torch.
"""

from __future__ import annotations

import importlib

DATASET_VERSION = 4
"""Version of the dataset folder format (``dataset.json`` "version"); any other must be prepared again.
4: a person-centred window per frame (windows.npy), black and invalid beyond the video, and the
evaluation crops (3: one fixed window, edges replicated)."""
SIZE_MULTIPLE = 32
"""Training frame sides are multiples of this: every preset's generator downsamples by at most 32."""
DEFAULT_SIZE = (192, 256)
"""Training frame ``(width, height)``: a portrait window around the person (the cpu preset's)."""
DEFAULT_VAL_FRACTION = 0.2
MAX_VAL_FRACTION = 0.9
"""The last ``val_fraction`` of the frames is held out; at most this much."""
APPEARANCE_MODES = ("none", "nearest", "warped")
"""Where the generator's texture input comes from (:mod:`~dancenow.data.appearance`): nothing,
the training frame nearest by pose, or that frame warped part by part into the wanted pose."""
BACKGROUND_MAX_SIDE = 1920
"""Backgrounds of larger videos are stored smaller (transfer resizes them to the frame)."""


def size_problem(width: int, height: int) -> str | None:
    """Why ``width`` x ``height`` cannot be a training frame size, or None."""
    if width < SIZE_MULTIPLE or height < SIZE_MULTIPLE or width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
        return f"sides must be multiples of {SIZE_MULTIPLE} (at least {SIZE_MULTIPLE}), got {width}x{height}"
    return None


def background_size(source_size: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` of the stored background of a ``source_size`` video."""
    w, h = source_size
    if max(w, h) <= BACKGROUND_MAX_SIDE:
        return w, h
    s = BACKGROUND_MAX_SIDE / max(w, h)
    return round(w * s), round(h * s)


_EXPORTS = {
    "prepare_dataset": "dancenow.data.prepare",
    "DatasetInfo": "dancenow.data.dataset",
    "FrameDataset": "dancenow.data.dataset",
    "PairDataset": "dancenow.data.dataset",
    "image_to_tensor": "dancenow.data.dataset",
    "label_from_keypoints": "dancenow.data.dataset",
    "load_dataset_info": "dancenow.data.dataset",
    "render_label": "dancenow.data.dataset",
    "tensor_to_image": "dancenow.data.dataset",
}

__all__ = [
    "DATASET_VERSION",
    "SIZE_MULTIPLE",
    "DEFAULT_SIZE",
    "DEFAULT_VAL_FRACTION",
    "MAX_VAL_FRACTION",
    "BACKGROUND_MAX_SIDE",
    "APPEARANCE_MODES",
    "size_problem",
    "background_size",
    *_EXPORTS,
]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

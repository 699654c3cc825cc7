"""Data stage: a target video -> a training dataset folder, and PyTorch datasets that read it.

- :mod:`~dancenow.data.crop`: the fixed crop window around the person, face boxes.
- :mod:`~dancenow.data.prepare`: :func:`prepare_dataset` (``dancenow prepare``).
- :mod:`~dancenow.data.dataset`: :func:`load_dataset_info`, :class:`PairDataset`,
  :class:`FrameDataset`, :func:`label_from_keypoints`.

Names are imported lazily, so ``dancenow prepare`` does not pay for importing torch.
"""

from __future__ import annotations

import importlib

DATASET_VERSION = 1  # version of the dataset folder format (dataset.json "version")

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

__all__ = ["DATASET_VERSION", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

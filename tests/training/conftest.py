"""A tiny dataset from a generated dancer (exact keypoints, no detector), shared by the training tests."""

from __future__ import annotations

import pytest
import torch

from dancenow.data.prepare import prepare_dataset
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.synthetic.video import make_clip


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: a second OpenMP thread only adds synchronisation (and stalls badly when
    # another process holds the other core).
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    keypoints = make_clip(root / "dancer.mp4", seconds=2, fps=15, size=(128, 128), seed=3)
    save_poses(
        root / "dancer.npz", PoseSequence(keypoints, fps=15, width=128, height=128, detector="synthetic")
    )
    return prepare_dataset(
        root / "dancer.mp4", root / "ds", poses=root / "dancer.npz", size=(64, 64), progress=False
    )

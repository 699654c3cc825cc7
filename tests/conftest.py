"""Shared test fixtures. Real third-party data lives outside the repository, in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_dancenow

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data (real videos, images with ground truth); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (the project's ../shared checkout)")
    return SHARED_DATA


@pytest.fixture
def cli():
    """``cli(*args)`` runs the CLI; ``cli.error(result, *needles)`` checks a one-line exit-2 error."""
    run_dancenow.error = assert_one_line_error
    return run_dancenow


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A 64x64 dataset from a generated 2 s dancer clip with exact keypoints (no detector needed)."""
    from dancenow.data.prepare import prepare_dataset
    from dancenow.pose.posefile import PoseSequence, save_poses
    from dancenow.synthetic.video import make_clip

    root = tmp_path_factory.mktemp("tiny")
    keypoints = make_clip(root / "dancer.mp4", seconds=2, fps=15, size=(128, 128), seed=3)
    save_poses(
        root / "dancer.npz", PoseSequence(keypoints, fps=15, width=128, height=128, detector="synthetic")
    )
    return prepare_dataset(
        root / "dancer.mp4", root / "ds", poses=root / "dancer.npz", size=(64, 64), progress=False
    )


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, tmp_path_factory):
    """A run folder trained for 2 steps per stage on :func:`tiny_dataset` (all three stages)."""
    import torch

    from dancenow.training.run import train_run

    run = tmp_path_factory.mktemp("run") / "tiny"
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_run(tiny_dataset, run, preset="tiny", max_steps=2, progress=False)
    finally:
        torch.set_num_threads(old)
    return run


@pytest.fixture
def one_thread():
    """Torch on one thread: tiny tensors gain nothing from a second OpenMP thread, which also
    stalls badly when another process holds the other core."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

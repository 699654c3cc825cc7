"""Fixtures for the data tests (helpers live in data_footage.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_footage import make_footage, walking_keypoints


@pytest.fixture
def landscape(tmp_path) -> tuple[Path, Path, np.ndarray]:
    """(video, pose file, keypoints): 24 frames of 320x240."""
    kp = walking_keypoints(24, 320, 240)
    video, poses = make_footage(tmp_path, kp, 320, 240)
    return video, poses, kp

"""Session fixtures of the reliability tests: each input video made, and detected on, once."""

from __future__ import annotations

from pathlib import Path

import pytest
from cases import make_video_case
from cli_helpers import run_dancenow


@pytest.fixture(scope="session")
def video_case(tmp_path_factory):
    """``video_case(name)``: the input file for one case of :data:`VIDEO_CASES`, made once."""
    root = tmp_path_factory.mktemp("video_cases")
    made: dict[str, Path] = {}

    def get(case: str) -> Path:
        if case not in made:
            made[case] = make_video_case(case, root / case)
        return made[case]

    return get


@pytest.fixture(scope="session")
def detected(video_case, tmp_path_factory):
    """``detected(case)``: ``(result, pose file)`` of ``dancenow pose`` on the case's video, run once.

    The pose column of the matrix checks the result; prepare and transfer reuse the pose file of
    the cases that work (``--poses``), so the detector runs once per video.
    """
    root = tmp_path_factory.mktemp("detected")
    done: dict[str, tuple] = {}

    def get(case: str):
        if case not in done:
            out = root / case / "poses.npz"
            done[case] = (run_dancenow("pose", video_case(case), "-o", out), out)
        return done[case]

    return get

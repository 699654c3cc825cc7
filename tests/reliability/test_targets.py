"""Targets that would train silently wrong (issue #18): absurd pose coordinates are refused;
a half-body clip or a crop far past the frame is prepared with a warning that names the problem,
on the command line and on the web page."""

from __future__ import annotations

import numpy as np
import pytest
from test_bad_input import assert_main_error, cli_main

from dancenow.data.coverage import target_warnings
from dancenow.pose.posefile import load_poses, save_poses

pytestmark = pytest.mark.usefixtures("one_thread")

KNEES_ANKLES = [10, 11, 13, 14]


def _edited_poses(tiny_dataset, tmp_path, edit):
    """The tiny dataset's source pose file with ``edit(keypoints)`` applied, saved in ``tmp_path``."""
    poses = load_poses(tiny_dataset.parent / "dancer.npz")
    edit(poses.keypoints)
    path = tmp_path / "poses.npz"
    save_poses(path, poses)
    return path


def test_absurd_coordinates_in_prepare_poses_are_refused(tiny_dataset, tmp_path, capsys):
    def far(kp):
        kp[5, 4, :2] = 1e30

    poses = _edited_poses(tiny_dataset, tmp_path, far)
    out = tmp_path / "out" / "ds"
    args = ["prepare", tiny_dataset.parent / "dancer.mp4", "-o", out, "--poses", poses, "--size", "64"]
    assert_main_error(*cli_main(capsys, *args), str(poses), "far outside the 128x128 frame", "frame 5")
    assert not out.parent.exists()


def _prepare(capsys, tiny_dataset, poses, out) -> str:
    args = ["prepare", tiny_dataset.parent / "dancer.mp4", "-o", out, "--poses", poses, "--size", "64"]
    code, err = cli_main(capsys, *args)
    assert code == 0, err
    return err


def test_a_half_body_target_is_prepared_with_a_warning(tiny_dataset, tmp_path, capsys):
    def half_body(kp):
        kp[:, KNEES_ANKLES] = 0  # the knees and ankles never found

    poses = _edited_poses(tiny_dataset, tmp_path, half_body)
    err = _prepare(capsys, tiny_dataset, poses, tmp_path / "ds")
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1, err
    assert warning[0].startswith(f"dancenow: warning: {tmp_path / 'ds'}: not a full body")
    assert "knees and ankles" in warning[0] and "knees in 0%" in warning[0]


def test_a_crop_far_past_the_frame_is_prepared_with_a_warning(tiny_dataset, tmp_path, capsys):
    def too_close(kp):
        present = kp[..., 2:] > 0
        kp[..., :2] = np.where(present, 64 + 2.5 * (kp[..., :2] - 64), 0)  # the person 2.5x bigger

    poses = _edited_poses(tiny_dataset, tmp_path, too_close)
    err = _prepare(capsys, tiny_dataset, poses, tmp_path / "ds")
    assert "extends far past the 128x128 frame" in err, err


def test_a_full_body_target_gets_no_warning(tiny_dataset, tmp_path, capsys):
    err = _prepare(capsys, tiny_dataset, tiny_dataset.parent / "dancer.npz", tmp_path / "ds")
    assert "warning" not in err


def test_target_warnings_thresholds():
    kp = np.zeros((10, 137, 3), np.float32)
    kp[:, :15, :] = (50, 50, 1)  # nose .. ankles present
    assert target_warnings(kp, (100, 100), (10, 10, 90, 90)) == []
    kp[:6, [11, 14], 2] = 0  # ankles missing in 6 of 10 frames
    (only,) = target_warnings(kp, (100, 100), (10, 10, 90, 90))
    assert "the ankles are rarely or never found (ankles in 40%" in only
    assert target_warnings(kp, (100, 100), (0, 0, 100, 100), full_frame=True)[1:] == []
    past = target_warnings(kp[6:], (100, 100), (-50, 0, 100, 100))  # a third of the window outside
    assert len(past) == 1 and "33% of the average training frame" in past[0]
    # one window per frame: the mean share outside counts, not the worst frame's
    windows = np.tile(np.array([[0, 0, 100, 100]]), (4, 1))
    windows[:2] = (-50, 0, 100, 100)  # a third outside in half the frames: 17% on average
    assert target_warnings(kp[6:], (100, 100), windows) == []
    windows[2] = (-100, -100, 100, 100)  # three quarters outside in one more: 35%
    (past,) = target_warnings(kp[6:], (100, 100), windows)
    assert "35% of the average training frame" in past


def test_the_web_page_shows_the_warning(tiny_dataset, tmp_path, monkeypatch):
    """The page's target step says what the CLI says (the detector replaced by the half-body poses)."""
    pytest.importorskip("gradio", reason="the ui extra is not installed")
    from dancenow.pose import extract
    from dancenow.ui.app import Controller
    from dancenow.ui.jobs import JobManager
    from dancenow.ui.workspace import Workspace

    poses = load_poses(tiny_dataset.parent / "dancer.npz")
    poses.keypoints[:, KNEES_ANKLES] = 0
    monkeypatch.setattr(extract, "detect_video", lambda *a, **k: poses)
    controller = Controller(Workspace(tmp_path / "ws"), JobManager())
    result = controller.add_target(tiny_dataset.parent / "dancer.mp4", "64 (quick test)", progress=False)
    assert "⚠️ **Warning:** not a full body: the knees and ankles" in result.message

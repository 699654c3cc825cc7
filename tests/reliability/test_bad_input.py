"""The bad-input matrix (issue #8): every command against odd, damaged and hostile inputs.

Each case either works or exits 2 with one line ``dancenow: error: FILE: problem`` naming the
file, with no traceback and nothing (not even a temporary) left where the output would go.
Video cases run the real CLI in a fresh process; folder cases (datasets, run folders) call
``dancenow.cli.main`` in-process, which prints exactly what the CLI prints.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from cases import VIDEO_CASES
from cli_helpers import assert_one_line_error, run_dancenow

from dancenow.cli import main
from dancenow.data.dataset import load_dataset_info
from dancenow.pose.layout import BODY
from dancenow.pose.posefile import load_poses
from dancenow.runfolder.folder import RUN_VERSION
from dancenow.video import frame_times, probe

pytestmark = pytest.mark.usefixtures("one_thread")

WORKS = [c for c, outcome in VIDEO_CASES.items() if outcome == "works"]
FAILS = [c for c, outcome in VIDEO_CASES.items() if outcome != "works"]
# cases that fail on the file itself (before any detection): evaluate --transfer reads such files too
# Commands run in a fresh process (the exit status, one line and no traceback as a user sees them);
# the others, which import torch, run in-process through the same ``main`` to keep the matrix fast.
SUBPROCESS = {"pose", "prepare"}
FILE_FAILS = [
    "missing",
    "directory",
    "empty",
    "fifo",
    "symlink_loop",
    "text",
    "truncated_no_index",
    "audio_only",
]


def cli_main(capsys, *args) -> tuple[int, str]:
    """``dancenow ARGS`` in-process: (exit status, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse
        code = e.code
    return code, capsys.readouterr().err


def assert_main_error(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dancenow: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_nothing_written(out_dir, *outputs) -> None:
    """No output and no leftover temporary in ``out_dir``."""
    for out in outputs:
        assert not out.exists(), out
    assert not out_dir.exists() or list(out_dir.iterdir()) == [], list(out_dir.iterdir())


def video_command(command: str, video, out_dir, tiny_run, poses=None) -> tuple[list, object]:
    """The argument list for ``command`` on ``video`` writing into ``out_dir``, and its output path."""
    if command == "pose":
        out = out_dir / "poses.npz"
        return ["pose", video, "-o", out], out
    if command == "prepare":
        out = out_dir / "ds"
        return ["prepare", video, "-o", out, "--size", "64", *(["--poses", poses] if poses else [])], out
    if command == "transfer":
        out = out_dir / "out.mp4"
        extra = ["--source-poses", poses] if poses else []
        return ["transfer", "--model", tiny_run, "--source", video, "-o", out, *extra], out
    if command == "evaluate":
        out = out_dir / "fidelity.json"
        return ["evaluate", "--transfer", video, "--json", out], out
    raise KeyError(command)


# --- videos that must be refused ---------------------------------------------------------------
# (evaluate --transfer scores transfer outputs: of these cases only the damaged files apply to it)
@pytest.mark.parametrize(
    "command, case",
    [
        (command, case)
        for command in ("pose", "prepare", "transfer", "evaluate")
        for case in FAILS
        if command != "evaluate" or case in FILE_FAILS
    ],
)
def test_bad_video_exits_2_naming_the_file(command, case, video_case, tiny_run, tmp_path, capsys):
    video = video_case(case)
    out_dir = tmp_path / "out"
    args, out = video_command(command, video, out_dir, tiny_run)
    if command in SUBPROCESS:
        assert_one_line_error(run_dancenow(*args), str(video), VIDEO_CASES[case])
    else:
        assert_main_error(*cli_main(capsys, *args), str(video), VIDEO_CASES[case])
    assert_nothing_written(out_dir, out)


# --- videos that must work -------------------------------------------------------------------
@pytest.mark.parametrize("case", WORKS)
def test_pose_works(case, video_case, detected):
    result, out = detected(case)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    poses, info = load_poses(out), probe(video_case(case))
    assert (poses.width, poses.height) == (info.width, info.height)
    np.testing.assert_allclose(poses.times, frame_times(video_case(case)))
    found = poses.detected(BODY)
    if case == "person_leaving":  # there for the first half, gone by the end
        assert found[:5].all() and not found[-3:].any(), found
    else:
        assert found.all(), found
    if case == "rotated_portrait":
        assert (poses.width, poses.height) == (144, 256)  # displayed portrait, not the stored landscape
        head_y, ankle_y = poses.keypoints[:, 0, 1], poses.keypoints[:, [11, 14], 1].max(axis=1)
        assert (head_y < ankle_y).all()  # upright
    if case == "uhd_4k":
        assert (poses.width, poses.height) == (3840, 2160)
    if case == "variable_frame_rate":
        np.testing.assert_allclose(np.diff(poses.times)[:3], [0.04, 0.11, 0.02], atol=1e-6)


@pytest.mark.parametrize("case", WORKS)
def test_prepare_works(case, video_case, detected, tmp_path):
    _, poses = detected(case)
    args, out = video_command("prepare", video_case(case), tmp_path, None, poses)
    result = run_dancenow(*args)
    assert result.returncode == 0, result.stderr
    info = load_dataset_info(out)
    assert info.num_frames == len(load_poses(poses)) and info.size == (64, 64)
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporaries beside it


@pytest.mark.parametrize("case", WORKS)
def test_transfer_works(case, video_case, detected, tiny_run, tmp_path, capsys):
    _, poses = detected(case)
    args, out = video_command("transfer", video_case(case), tmp_path, tiny_run, poses)
    code, err = cli_main(capsys, *args)
    assert code == 0, err
    assert probe(out).num_frames == len(load_poses(poses))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.mp4",
        "out.normalization.json",
        "out.poses.npz",
    ]


# --- unknown option values -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,needle",
    [
        (["pose", "v.mp4", "-o", "p.npz", "--backend", "openpose"], "invalid choice"),
        (["pose", "v.mp4", "-o", "p.npz", "--workers", "0"], "must be >= 1"),
        (["pose", "v.mp4", "-o", "p.json"], ".npz"),
        (["prepare", "v.mp4", "-o", "ds", "--size", "100"], "multiples of 32"),
        (["prepare", "v.mp4", "-o", "ds", "--val-fraction", "2"], "--val-fraction"),
        (["train", "ds", "-o", "run", "--preset", "huge"], "invalid choice"),
        (["train", "ds", "-o", "run", "--max-steps", "many"], "invalid"),
        (["transfer", "--model", "run", "--source", "v.mp4", "-o", "o.mp4", "--normalize", "x"], "invalid"),
        (["transfer", "--model", "run", "--source", "v.mp4", "-o", "o.avi"], "o.avi"),
        (["evaluate", "--model", "run", "--data", "ds", "--split", "test"], "invalid choice"),
        (["evaluate", "--data", "ds", "--baseline", "random"], "invalid choice"),
    ],
)
def test_unknown_option_values_exit_2_with_one_line(args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run_dancenow(*args), needle)
    assert list(tmp_path.iterdir()) == []


# --- bad datasets (train, evaluate) --------------------------------------------------------------
def _dataset_case(case: str, good, root):
    path = root / case
    if case == "missing":
        return path, path, "no such dataset folder"
    if case == "a_file":
        path.write_text("x")
        return path, path, "is a file"
    if case == "empty_folder":
        path.mkdir()
        return path, path, "not a dataset folder"
    shutil.copytree(good, path)
    if case == "dataset_json_corrupt":
        (path / "dataset.json").write_text('{"version": 1,')
        return path, path / "dataset.json", "not valid JSON"
    if case == "dataset_json_wrong_type":
        meta = json.loads((path / "dataset.json").read_text())
        meta["size"] = "64x64"
        (path / "dataset.json").write_text(json.dumps(meta))
        return path, path / "dataset.json", "size"
    if case == "frames_truncated":
        data = (path / "frames.npy").read_bytes()
        (path / "frames.npy").write_bytes(data[: len(data) // 2])
        return path, path / "frames.npy", "truncated"
    if case == "frames_missing":
        (path / "frames.npy").unlink()
        return path, path / "frames.npy", "missing"
    if case == "keypoints_pickle":
        np.save(path / "keypoints.npy", np.array([{"a": 1}] * 30, dtype=object), allow_pickle=True)
        return path, path / "keypoints.npy", "object"
    if case == "older_format_version":
        meta = json.loads((path / "dataset.json").read_text())
        meta["version"] = 2  # before person masks and the clean background plate
        (path / "dataset.json").write_text(json.dumps(meta))
        return path, path / "dataset.json", "version 2, this dancenow reads 4; run `dancenow prepare` again"
    if case == "format_3_dataset":  # one fixed crop window, edges replicated, no evaluation crops
        meta = json.loads((path / "dataset.json").read_text())
        for key in ("window_size", "eval_crop", "eval_size"):
            del meta[key]
        meta |= {"version": 3, "crop": [-10.0, 0.0, 118.0, 128.0]}
        (path / "dataset.json").write_text(json.dumps(meta))
        for name in ("windows.npy", "eval_frames.npy", "baseline_frames.npy"):
            (path / name).unlink()
        return path, path / "dataset.json", "version 3, this dancenow reads 4; run `dancenow prepare` again"
    if case == "background_missing":
        (path / "background.png").unlink()
        return path, path / "background.png", "missing; run `dancenow prepare` again"
    if case == "masks_missing":
        (path / "masks.npy").unlink()
        return path, path / "masks.npy", "missing; run `dancenow prepare` again"
    if case == "uncovered_missing":
        (path / "background_uncovered.png").unlink()
        return path, path / "background_uncovered.png", "missing; run `dancenow prepare` again"
    raise KeyError(case)


DATASET_CASES = [
    "missing",
    "a_file",
    "empty_folder",
    "dataset_json_corrupt",
    "dataset_json_wrong_type",
    "frames_truncated",
    "frames_missing",
    "keypoints_pickle",
    "older_format_version",
    "format_3_dataset",
    "background_missing",
    "masks_missing",
    "uncovered_missing",
]


@pytest.mark.parametrize("case", DATASET_CASES)
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_bad_dataset_exits_2_naming_the_file(command, case, tiny_dataset, tiny_run, tmp_path, capsys):
    dataset, named, needle = _dataset_case(case, tiny_dataset, tmp_path)
    out = tmp_path / "out"
    if command == "train":
        args = ["train", dataset, "-o", out, "--preset", "tiny", "--max-steps", "1"]
    else:
        args = ["evaluate", "--model", tiny_run, "--data", dataset, "--json", out / "e.json"]
    assert_main_error(*cli_main(capsys, *args), str(named), needle)
    assert not out.exists()  # not even an empty run folder


# --- bad run folders (transfer, evaluate, train --resume) ---------------------------------------
def _edit_config(run, change) -> None:
    doc = json.loads((run / "config.json").read_text())
    change(doc)
    (run / "config.json").write_text(json.dumps(doc))


def _run_case(case: str, good, root):
    run = root / case
    if case == "missing":
        return run, run, "no such run folder"
    shutil.copytree(good, run)
    config = run / "config.json"
    if case == "config_missing":
        config.unlink()
        return run, config, "missing"
    if case == "config_not_json":
        config.write_text("{")
        return run, config, "not valid JSON"
    if case == "config_unknown_key":
        _edit_config(run, lambda d: d["train"]["model"].update(extra_layers=3))
        return run, config, "unknown keys ['extra_layers']"
    if case == "config_wrong_type":
        _edit_config(run, lambda d: d["train"]["model"].update(ngf="8"))
        return run, config, "model.ngf must be int"
    if case == "config_out_of_range":
        _edit_config(run, lambda d: d["train"]["optim"].update(lr=5.0))
        return run, config, "optim.lr must be in (0, 1]"
    if case == "config_bad_window_size":
        _edit_config(run, lambda d: d["data"].update(window_size=[10, "x"]))
        return run, config, "data.window_size"
    if case == "config_bad_source_size":
        _edit_config(run, lambda d: d["data"].update(source_size=[0, -5]))
        return run, config, "data.source_size"
    if case == "config_size_mismatch":
        _edit_config(run, lambda d: d["data"].update(size=[60, 64]))
        return run, config, "multiples of"
    if case == "config_unknown_top_level_key":
        _edit_config(run, lambda d: d.update(loader="pickle"))
        return run, config, "unknown keys ['loader']"
    if case == "config_max_channels_zero":  # torch would only warn about zero-channel layers
        _edit_config(run, lambda d: d["train"]["model"].update(max_channels=0))
        return run, config, "model.max_channels must be in [1, 4096], got 0"
    if case == "older_format_version":
        _edit_config(run, lambda d: d.update(dancenow_config_version=RUN_VERSION - 1))
        older = f"run folder format version {RUN_VERSION - 1}, this dancenow reads {RUN_VERSION}"
        return run, config, f"trained with an older dancenow ({older}); train it again with `dancenow train`"
    if case == "format_3_run":  # as version 3 wrote it: one fixed crop window, an RGB generator

        def to_v3(doc):
            doc["dancenow_config_version"] = 3
            doc["data"]["crop"] = [-10.0, 0.0, 118.0, 128.0]
            del doc["data"]["window_size"]

        _edit_config(run, to_v3)
        older = f"run folder format version 3, this dancenow reads {RUN_VERSION}"
        return run, config, f"trained with an older dancenow ({older}); train it again with `dancenow train`"
    if case == "background_wrong_size":  # pasting would leave black borders around a 7x5 picture
        import cv2

        cv2.imwrite(str(run / "background.png"), np.zeros((5, 7, 3), np.uint8))
        return run, run / "background.png", "is 7x5, but a 128x128 video's background is 128x128"
    if case == "background_missing":
        (run / "background.png").unlink()
        return run, run / "background.png", "missing; train it again"
    if case == "safetensors_truncated":
        weights = run / "global_generator.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
        return run, weights, "not a readable safetensors file"
    if case == "safetensors_wrong_shapes":
        from safetensors.torch import save_file

        save_file({"weight": torch.zeros(3)}, str(run / "global_generator.safetensors"))
        return run, run / "global_generator.safetensors", "do not match"
    raise KeyError(case)


RUN_CASES = [
    "missing",
    "config_missing",
    "config_not_json",
    "config_unknown_key",
    "config_wrong_type",
    "config_out_of_range",
    "config_bad_window_size",
    "config_bad_source_size",
    "config_size_mismatch",
    "config_unknown_top_level_key",
    "config_max_channels_zero",
    "older_format_version",
    "format_3_run",
    "background_wrong_size",
    "background_missing",
    "safetensors_truncated",
    "safetensors_wrong_shapes",
]


@pytest.mark.parametrize("case", RUN_CASES)
@pytest.mark.parametrize("command", ["transfer", "evaluate"])
def test_bad_run_folder_exits_2_naming_the_file(
    command, case, tiny_run, tiny_dataset, video_case, detected, tmp_path, capsys
):
    run, named, needle = _run_case(case, tiny_run, tmp_path / "runs")
    out = tmp_path / "out"
    if command == "transfer":
        _, poses = detected("variable_frame_rate")
        video = video_case("variable_frame_rate")
        args = ["transfer", "--model", run, "--source", video, "--source-poses", poses, "-o", out / "o.mp4"]
    else:
        args = ["evaluate", "--model", run, "--data", tiny_dataset, "--no-redetect", "--json", out / "e.json"]
    assert_main_error(*cli_main(capsys, *args), str(named), needle)
    assert not out.exists()


@pytest.mark.parametrize(
    "case", ["config_unknown_key", "config_out_of_range", "format_3_run", "safetensors_truncated"]
)
def test_resume_from_a_bad_run_folder_exits_2(case, tiny_run, tiny_dataset, tmp_path, capsys):
    run, named, needle = _run_case(case, tiny_run, tmp_path)
    if case == "safetensors_truncated":  # the resume checkpoint's copy is what --resume reads
        named = run / "checkpoint/global_generator.safetensors"
        named.write_bytes(named.read_bytes()[:1000])
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert_main_error(*cli_main(capsys, "train", tiny_dataset, "-o", run, "--resume"), str(named), needle)
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before  # untouched


# --- a source pose file that is not of the source video (transfer --source-poses) ----------------
def _other_poses(case: str, poses_path, root):
    """A copy of the source's pose file with too few, too many or out-of-frame keypoints."""
    from dancenow.pose.posefile import PoseSequence, save_poses

    poses = load_poses(poses_path)
    kp, times = poses.keypoints, poses.times
    if case == "too_few_frames":
        kp, times = kp[:5], times[:5]
    elif case == "too_many_frames":
        kp, times = np.concatenate([kp] * 3), np.arange(3 * len(kp)) / poses.fps
    elif case == "no_body":  # faces and hands only: nothing to normalize by
        kp = kp.copy()
        kp[:, BODY] = 0
    else:  # out of frame: every point moved ten frame widths to the right
        kp = kp.copy()
        kp[..., 0] = np.where(kp[..., 2] > 0, kp[..., 0] + 10 * poses.width, 0)
    path = root / f"{case}.npz"
    save_poses(path, PoseSequence(kp, fps=poses.fps, width=poses.width, height=poses.height, times=times))
    return path


@pytest.mark.parametrize(
    "case, needle",
    [
        ("too_few_frames", "has 5 frames, but variable_frame_rate.mp4 has 8"),
        ("too_many_frames", "has 24 frames, but variable_frame_rate.mp4 has 8"),
        ("out_of_frame", "keypoints far outside the 192x192 frame (frame 0"),
        ("no_body", "no frame shows a measurable body"),
    ],
)
def test_source_poses_of_another_video_exit_2_naming_the_file(
    case, needle, tiny_run, video_case, detected, tmp_path, capsys
):
    video = video_case("variable_frame_rate")
    poses = _other_poses(case, detected("variable_frame_rate")[1], tmp_path)
    out = tmp_path / "out" / "o.mp4"
    args = ["transfer", "--model", tiny_run, "--source", video, "--source-poses", poses, "-o", out]
    assert_main_error(*cli_main(capsys, *args), str(poses), needle)
    assert_nothing_written(out.parent, out)

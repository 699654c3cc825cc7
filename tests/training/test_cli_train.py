"""``dancenow prepare`` / ``dancenow train`` from the command line: a tiny run and bad input."""

from __future__ import annotations

import os


def test_tiny_train_from_the_cli_then_resume(tiny_dataset, tmp_path, cli):
    run = tmp_path / "run"
    result = cli("train", tiny_dataset, "-o", run, "--preset", "tiny", "--max-steps", "2", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "trained global, local, face" in result.stdout
    # a finished run resumed trains nothing new and succeeds
    again = cli("train", tiny_dataset, "-o", run, "--resume")
    assert again.returncode == 0, again.stderr
    # a second run into the same folder without --resume is refused
    cli.error(cli("train", tiny_dataset, "-o", run, "--preset", "tiny"), str(run), "--resume")


def test_reference_flag_selects_the_plain_implementation(tiny_dataset, tmp_path, cli):
    import json

    run = tmp_path / "ref"
    args = ("train", tiny_dataset, "-o", run, "--preset", "tiny", "--stage", "global", "--max-steps", "1")
    result = cli(*args, "--reference")
    assert result.returncode == 0, result.stderr
    cfg = json.loads((run / "config.json").read_text())["train"]
    assert (cfg["fused_step"], cfg["norm_kernel"], cfg["precision"]) == (False, "instance", "fp32")
    fast = tmp_path / "fast"
    result = cli(
        "train", tiny_dataset, "-o", fast, "--preset", "tiny", "--stage", "global", "--max-steps", "1"
    )
    assert result.returncode == 0, result.stderr
    cfg = json.loads((fast / "config.json").read_text())["train"]
    assert (cfg["fused_step"], cfg["norm_kernel"]) == (True, "group")


def test_bad_datasets_exit_2(tmp_path, cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    cli.error(cli("train", empty, "-o", tmp_path / "r1"), "empty", "dancenow prepare")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "dataset.json").write_text("{not json")
    cli.error(cli("train", corrupt, "-o", tmp_path / "r2"), "dataset.json")
    cli.error(cli("train", tmp_path / "missing", "-o", tmp_path / "r3"), "missing")
    assert not (tmp_path / "r1").exists() or not any((tmp_path / "r1").iterdir())


def test_bad_options_exit_2(tiny_dataset, tmp_path, cli):
    cli.error(cli("train", tiny_dataset, "-o", tmp_path / "r", "--preset", "huge"), "invalid choice")
    cli.error(cli("prepare", "v.mp4", "-o", tmp_path / "d", "--size", "100"), "multiples of 32")
    cli.error(cli("train", tiny_dataset, "-o", tmp_path / "r", "--minutes", "-1"), "--minutes")


def test_vgg19_without_weights_exits_2_with_advice(tiny_dataset, tmp_path, cli):
    env_home = tmp_path / "torch_home"  # an empty torch hub cache
    os.environ["TORCH_HOME"] = str(env_home)
    try:
        result = cli(
            "train",
            tiny_dataset,
            "-o",
            tmp_path / "r",
            "--preset",
            "tiny",
            "--perceptual",
            "vgg19",
            "--max-steps",
            "1",
        )
    finally:
        del os.environ["TORCH_HOME"]
    cli.error(result, "VGG19", "effnet-lite0")


def test_prepare_rejects_a_video_without_a_person(tmp_path, cli):
    import numpy as np

    from dancenow.video import write_video

    video = tmp_path / "wall.mp4"
    write_video(video, (np.full((96, 128, 3), 120, np.uint8) for _ in range(10)), fps=10)
    cli.error(cli("prepare", video, "-o", tmp_path / "ds"), "wall.mp4", "no person")
    assert not (tmp_path / "ds").exists()


def test_ctrl_c_writes_a_checkpoint_and_resume_continues(tiny_dataset, tmp_path):
    """SIGINT mid-stage: the step in progress finishes, a checkpoint is written, exit status 130."""
    import signal
    import subprocess
    import sys
    import time

    import torch

    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dancenow",
            "train",
            str(tiny_dataset),
            "-o",
            str(run),
            "--preset",
            "tiny",
            "--max-steps",
            "100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.is_file() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    state = torch.load(run / "checkpoint/training_state.pt", weights_only=True)
    assert state["stage"] == "global" and state["step"] >= 3 and state["completed"] == []
    # resuming with a shorter plan finishes the stage at once, then trains the others
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "dancenow",
            "train",
            str(tiny_dataset),
            "-o",
            str(run),
            "--resume",
            "--max-steps",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert torch.load(run / "checkpoint/training_state.pt", weights_only=True)["completed"] == [
        "global",
        "local",
        "face",
    ]

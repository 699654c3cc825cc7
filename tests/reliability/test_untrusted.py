"""Untrusted files: nothing a downloaded run folder, dataset or pose file holds can run code."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error, run_dancenow
from safetensors.torch import load_file

from dancenow.inference.model import load_model

pytestmark = pytest.mark.usefixtures("one_thread")


class _Payload:
    """Unpickling this runs a shell command: here a harmless one that leaves a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_in_a_pose_file_is_refused(tmp_path, cli):
    marker = tmp_path / "ran"
    poses = tmp_path / "evil.npz"
    np.savez(
        poses,
        keypoints=np.array([_Payload(marker)], dtype=object),
        fps=30.0,
        width=64,
        height=64,
        layout="openpose137",
    )
    video = tmp_path / "v.mp4"
    from dancenow.video import write_video

    write_video(video, (np.zeros((64, 64, 3), np.uint8) for _ in range(3)), fps=10)
    cli.error(cli("prepare", video, "-o", tmp_path / "ds", "--poses", poses, "--size", "64"), "evil.npz")
    assert not marker.exists() and not (tmp_path / "ds").exists()


def test_pickle_in_training_state_is_refused_and_not_run(tiny_run, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    marker = tmp_path / "ran"
    state = torch.load(run / "checkpoint/training_state.pt", weights_only=True)
    state["completed"] = []
    state["extra"] = _Payload(marker)
    torch.save(state, run / "checkpoint/training_state.pt")
    result = run_dancenow("train", tiny_dataset, "-o", run, "--resume")
    assert_one_line_error(result, "training_state.pt", "refused", "could run code")
    assert "weights_only=False" not in result.stderr and "weights_only` set to `False" not in result.stderr
    assert not marker.exists()


def test_weights_load_only_from_safetensors(tiny_run, tmp_path):
    """A run whose generator exists only as a pickle (.pt/.pth/.bin) is refused, never unpickled."""
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    state = load_file(str(run / "global_generator.safetensors"))
    (run / "global_generator.safetensors").unlink()
    for suffix in (".pt", ".pth", ".bin"):
        torch.save({**state, "payload": _Payload(marker)}, run / f"global_generator{suffix}")
    from dancenow.errors import InputError

    with pytest.raises(InputError, match="global_generator.safetensors: missing"):
        load_model(run)
    assert not marker.exists()

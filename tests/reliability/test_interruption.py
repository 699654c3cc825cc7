"""Interruption: ``kill -9`` at any moment loses at most the work since the last checkpoint, and
a NaN/Inf loss is reported with its step and never reaches the saved weights."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from dancenow.cli import main
from dancenow.runfolder.folder import load_checkpoint
from dancenow.training.loss import NonFiniteLoss
from dancenow.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _checkpoint_step(run) -> int | None:
    try:
        _, state = load_checkpoint(run)
    except Exception:  # noqa: BLE001 - not there yet
        return None
    return state["step"]


def test_kill_9_keeps_the_last_checkpoint_and_resume_continues(tiny_dataset, tmp_path):
    """SIGKILL while checkpoints are being written every step: the latest loads, --resume goes on."""
    run = tmp_path / "run"
    # a custom config with a checkpoint every step, so the kill lands between or inside writes
    from dancenow.training.run import train_run

    train_run(
        tiny_dataset,
        run,
        preset="tiny",
        stage="global",
        max_steps=1,
        progress=False,
        overrides={"checkpoint_every": 1},
    )
    cmd = [sys.executable, "-m", "dancenow", "train", str(tiny_dataset), "-o", str(run), "--resume"]
    proc = subprocess.Popen([*cmd, "--max-steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (_checkpoint_step(run) or 0) < 4:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    weights, state = load_checkpoint(run)  # complete and readable, whatever the kill interrupted
    killed_at = state["step"]
    assert killed_at >= 4 and state["stage"] == "local" and state["completed"] == ["global"]
    assert all(torch.isfinite(t).all() for sd in weights.values() for t in sd.values())
    assert {"global_generator", "local_enhancer", "discriminators"} <= set(weights)
    # the inference weights are complete safetensors files too
    assert load_file(str(run / "global_generator.safetensors"))
    done = subprocess.run(
        [*cmd, "--max-steps", str(killed_at + 2)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    _, final = load_checkpoint(run)
    assert final["completed"] == ["global", "local", "face"]


def _nan_at_call(monkeypatch, n: int) -> None:
    """Make the ``n``-th batch (1-based) of the run carry a NaN label: its losses become NaN."""
    real = Trainer.batch_to
    calls = {"n": 0}

    def batch_to(self, batch, scale):
        out = real(self, batch, scale)
        calls["n"] += 1
        if calls["n"] == n:
            out["label"] = out["label"].clone().fill_(float("nan"))
        return out

    monkeypatch.setattr(Trainer, "batch_to", batch_to)


def test_nan_loss_is_reported_with_its_step_and_weights_stay_finite(
    tiny_dataset, tmp_path, monkeypatch, capsys
):
    from dancenow.runfolder.config import load_preset

    run = tmp_path / "run"
    _nan_at_call(monkeypatch, 3)
    monkeypatch.setattr(
        "dancenow.training.run.load_preset",
        lambda name: load_preset(name).__class__.from_dict(
            {**load_preset(name).to_dict(), "checkpoint_every": 1}
        ),
    )
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(tiny_dataset), "-o", str(run), "--preset", "tiny", "--max-steps", "5"])
    code = exit_.value.code
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "stage global, step 3" in err and "NaN" in err and "last checkpoint" in err, err
    weights, state = load_checkpoint(run)
    assert state["step"] == 2  # the last good step; step 3 never reached the weights
    for path in [run / "global_generator.safetensors", *run.glob("checkpoint/*.safetensors")]:
        assert all(torch.isfinite(t).all() for t in load_file(str(path)).values()), path


def test_nan_weights_after_a_finite_loss_are_never_saved(tiny_dataset, tmp_path, monkeypatch):
    """An overflowing update with a finite loss: the save refuses, the previous checkpoint stays."""
    from dancenow.runfolder.config import load_preset
    from dancenow.training.distributed import DistInfo

    cfg = load_preset("tiny")
    cfg.checkpoint_every = 1
    trainer = Trainer(cfg, tiny_dataset, tmp_path / "run", DistInfo(), progress=False)
    real_step = Trainer.step

    def poisoning_step(self, *args):
        losses = real_step(self, *args)
        if getattr(self, "_steps", 0) == 1:
            with torch.no_grad():
                next(self.nets.global_g.parameters()).fill_(float("inf"))
        self._steps = getattr(self, "_steps", 0) + 1
        return losses

    monkeypatch.setattr(Trainer, "step", poisoning_step)
    with pytest.raises(NonFiniteLoss, match="step 2: global_generator weights became NaN/Inf; not saved"):
        trainer.train("global", max_steps=5)
    weights, state = load_checkpoint(tmp_path / "run")
    assert state["step"] == 1
    assert all(torch.isfinite(t).all() for t in weights["global_generator"].values())


def test_a_kill_between_the_two_renames_of_a_checkpoint_loses_nothing(tiny_run, tmp_path):
    """atomic_dir moves the old checkpoint aside, then the new one in: a kill in between leaves only
    ``.checkpoint.old``, which the next load (or write) puts back."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "checkpoint").rename(run / ".checkpoint.old")
    _, state = load_checkpoint(run)
    assert state["completed"] == ["global", "local", "face"] and (run / "checkpoint").is_dir()

"""The job manager with real `dancenow train` processes on a tiny dataset (no browser, no gradio)."""

from __future__ import annotations

import json
import os
import time

import pytest

from dancenow.ui.jobs import STOPPED, Busy, JobManager, TrainJob
from dancenow.ui.workspace import read_metrics


def wait_for(condition, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def jobs():
    manager = JobManager(env=dict(os.environ, OMP_NUM_THREADS="1"))
    yield manager
    manager.shutdown(timeout=30)


def test_one_training_at_a_time_transfer_refused_stop_checkpoints_and_resume_continues(
    jobs, tiny_dataset, tmp_path
):
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    # a job submitted while a transfer runs waits for it
    with jobs.transfer_slot():
        a = jobs.submit(TrainJob(run=run_a, dataset=tiny_dataset, preset="tiny", max_steps=20))
        assert a.state == "queued" and jobs.current is None
    assert a.state == "running" and jobs.current is a

    # one training at a time: the next one waits in the queue
    b = jobs.submit(TrainJob(run=run_b, dataset=tiny_dataset, preset="tiny", max_steps=1))
    assert b.state == "queued" and jobs.queued == [b]
    with pytest.raises(Busy, match="already running"):
        jobs.submit(TrainJob(run=run_a, dataset=tiny_dataset, preset="tiny"))
    # no transfer while training runs or waits
    with pytest.raises(Busy, match="training a is running"), jobs.transfer_slot():
        pytest.fail("a transfer slot was granted during training")

    # Stop = SIGINT: the trainer finishes its step, writes a checkpoint and exits 130
    wait_for(lambda: len(read_metrics(run_a)) >= 2, what="the first training steps")
    jobs.stop(run_a)
    wait_for(lambda: a.state != "running", what="the stop")
    assert a.state == "stopped" and a.returncode == STOPPED, a.last_error()
    assert (run_a / "checkpoint").is_dir() and (run_a / "global_generator.safetensors").is_file()
    stopped_at = read_metrics(run_a)[-1]
    assert stopped_at["stage"] == "global" and stopped_at["step"] < 20
    assert "--resume" in a.last_error()  # the CLI's hint, shown to the user

    # the queued job starts only after the first one ended
    assert jobs.wait(timeout=120)
    assert b.state == "done", b.last_error()
    assert b.started >= a.ended

    # Resume continues from the checkpoint, not from step 1
    r = jobs.submit(TrainJob(run=run_a, dataset=tiny_dataset, max_steps=20, resume=True))
    assert "--resume" in r.command() and "--preset" not in r.command()
    assert jobs.wait(timeout=180)
    assert r.state == "done", r.last_error()
    rows = read_metrics(run_a)
    first_new = rows[rows.index(stopped_at) + 1]
    assert (first_new["stage"], first_new["step"]) == ("global", stopped_at["step"] + 1)
    assert rows[-1]["stage"] == "face"
    assert json.loads((run_a / "config.json").read_text())["completed_stages"] == ["global", "local", "face"]
    assert jobs.last_job(run_a) is r


def test_a_queued_job_can_be_cancelled_and_a_bad_job_fails_with_its_message(jobs, tmp_path, tiny_dataset):
    with jobs.transfer_slot():  # holds the queue
        job = jobs.submit(TrainJob(run=tmp_path / "x", dataset=tiny_dataset, preset="tiny", max_steps=1))
        assert jobs.stop(tmp_path / "x") is job
        assert job.state == "cancelled" and not jobs.training
    bad = jobs.submit(TrainJob(run=tmp_path / "y", dataset=tmp_path / "missing", preset="tiny"))
    assert jobs.wait(timeout=60)
    assert bad.state == "failed" and bad.returncode == 2
    assert "missing" in bad.last_error() and bad.last_error().startswith("dancenow: error:")
    assert jobs.stop() is None  # nothing left to stop

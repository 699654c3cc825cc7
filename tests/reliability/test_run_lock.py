"""One training process per run folder; transfer and evaluate read whole saves (issue #18).

Two real processes: a trainer that checkpoints every step, and a second ``dancenow train`` on
the same run, which must be refused naming the first one's pid. ``kill -9`` frees the run.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import threading
import time

import pytest
from cli_helpers import assert_one_line_error, run_dancenow
from safetensors.torch import load_file
from test_interruption import _checkpoint_step

from dancenow.inference.model import load_model
from dancenow.training.run import train_run
from dancenow.utils.runlock import LOCK_NAME

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_second_trainer_is_refused_and_kill_9_frees_the_run(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train_run(
        tiny_dataset, run, preset="tiny", stage="global", max_steps=1, progress=False,
        overrides={"checkpoint_every": 1},
    )  # fmt: skip
    cmd = [sys.executable, "-m", "dancenow", "train", str(tiny_dataset), "-o", str(run)]
    first = subprocess.Popen(
        [*cmd, "--resume", "--max-steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline and (_checkpoint_step(run) or 0) < 3 and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[1].decode()
        # a second trainer, resuming or starting afresh: refused at once, naming the holder
        for extra in (["--resume", "--max-steps", "2"], ["--preset", "tiny", "--max-steps", "2"]):
            second = run_dancenow("train", tiny_dataset, "-o", run, *extra)
            assert_one_line_error(second, f"{run}: in use by another training process (pid {first.pid})")
        # transfer and evaluate may read the run meanwhile: every load is of one complete save
        for _ in range(5):
            model = load_model(run)
            assert model.generator is not None
        assert first.poll() is None  # the refused ones did not stop it
    finally:
        first.kill()  # SIGKILL: no handler runs, only the kernel releases the lock
        first.communicate(timeout=60)
    config = json.loads((run / "config.json").read_text())
    assert config["completed_stages"] == ["global"]  # only the first process's run is in it
    killed_at = _checkpoint_step(run)
    done = run_dancenow("train", tiny_dataset, "-o", run, "--resume", "--max-steps", killed_at + 1)
    assert done.returncode == 0, done.stderr  # the killed trainer left no lock behind


HOLD_SAVE = """
import sys
from pathlib import Path
from dancenow.utils.runlock import writing
run = Path(sys.argv[1])
weights = run / "global_generator.safetensors"
good = weights.read_bytes()
with writing(run):
    weights.write_bytes(good[:100])  # what a reader must never see: the middle of a save
    print("holding", flush=True)
    sys.stdin.readline()
    weights.write_bytes(good)
"""


def test_a_reader_waits_for_a_save_in_progress(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SAVE, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        # the files are locked for writing: a shared (reader's) lock is not granted now
        with open(run / LOCK_NAME) as f, pytest.raises(OSError):
            fcntl.lockf(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 1)
        loaded: list = []
        reader = threading.Thread(target=lambda: loaded.append(load_model(run)))
        reader.start()
        time.sleep(0.5)  # give a reader that ignored the lock the time to read the broken file
        holder.stdin.write("\n")
        holder.stdin.flush()
        reader.join(timeout=120)
        assert loaded, "the reader failed: it read the weights in the middle of the save"
    finally:
        holder.kill()
        holder.communicate(timeout=60)
    assert load_file(str(run / "global_generator.safetensors"))

"""One training job at a time, queued; transfers only while nothing trains.

Training runs as a subprocess, ``python -m dancenow train DATASET -o RUN ...`` (the same command
a user would type), so the interface stays responsive, a crash cannot take the server down,
and **Stop** is the CLI's Ctrl-C: SIGINT makes the trainer finish its step, write a checkpoint
and exit with status 130; **Resume** runs the command again with ``--resume``. The process's
output goes to ``RUN/train.log``; progress is read from the run folder's files
(``metrics.jsonl``, sample grids), which also works for a run started before a restart.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dancenow.runfolder.config import DEFAULT_PRESET

STOPPED = 130  # `dancenow train` after SIGINT/SIGTERM: a checkpoint was written


class Busy(Exception):
    """The requested work cannot start now; ``str(err)`` says why, for the user."""


@dataclass
class TrainJob:
    """One ``dancenow train`` invocation."""

    run: Path
    dataset: Path
    preset: str = DEFAULT_PRESET
    max_steps: int | None = None  # steps per stage
    minutes: float | None = None  # wall-clock budget shared by the stages
    resume: bool = False
    state: str = "queued"  # queued -> running -> done | stopped | failed | cancelled
    returncode: int | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    stop_requested: bool = False

    @property
    def log(self) -> Path:
        return self.run / "train.log"

    def command(self, python: str = sys.executable) -> list[str]:
        cmd = [python, "-m", "dancenow", "train", str(self.dataset), "-o", str(self.run)]
        if self.resume:
            cmd.append("--resume")
        else:
            cmd += ["--preset", self.preset]
        if self.max_steps is not None:
            cmd += ["--max-steps", str(self.max_steps)]
        if self.minutes is not None:
            cmd += ["--minutes", f"{self.minutes:g}"]
        return cmd

    def last_error(self) -> str:
        """The last meaningful line of the log (the CLI's one-line error), for the user."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            line = line.strip()
            if line and "%|" not in line:
                return line
        return ""


class JobManager:
    """Runs queued :class:`TrainJob`s one after another and keeps transfers out of their way."""

    def __init__(self, *, python: str = sys.executable, env: dict[str, str] | None = None):
        self.python = python
        self.env = env
        self._lock = threading.RLock()
        self._queue: list[TrainJob] = []
        self._current: TrainJob | None = None
        self._history: list[TrainJob] = []
        self._transfers = 0

    # ---------------------------------------------------------------- queries
    @property
    def current(self) -> TrainJob | None:
        """The job that is running now, if any."""
        with self._lock:
            return self._current

    @property
    def queued(self) -> list[TrainJob]:
        with self._lock:
            return list(self._queue)

    @property
    def training(self) -> bool:
        """A training job is running or waiting to run."""
        with self._lock:
            return self._current is not None or bool(self._queue)

    def last_job(self, run: Path) -> TrainJob | None:
        """The most recent job (running, queued or finished) of a run folder."""
        run = Path(run)
        with self._lock:
            jobs = ([self._current] if self._current else []) + self._queue[::-1] + self._history[::-1]
        return next((j for j in jobs if j.run == run), None)

    # ---------------------------------------------------------------- training
    def submit(self, job: TrainJob) -> TrainJob:
        """Queue ``job``; it starts now when nothing else trains or transfers."""
        with self._lock:
            for other in ([self._current] if self._current else []) + self._queue:
                if other.run == job.run:
                    raise Busy(f"{job.run.name} is already {other.state}; stop it first or pick another run")
            self._queue.append(job)
            self._start_next()
        return job

    def stop(self, run: Path | None = None) -> TrainJob | None:
        """Stop the running job (SIGINT: it checkpoints and exits 130), or cancel a queued one.

        ``run`` picks the job; None means the running one. Returns the job, or None when there
        was nothing to stop.
        """
        with self._lock:
            for job in self._queue:
                if run is not None and job.run == Path(run):
                    self._queue.remove(job)
                    job.state, job.ended = "cancelled", time.time()
                    self._history.append(job)
                    return job
            job = self._current
            if job is None or (run is not None and job.run != Path(run)):
                return None
            job.stop_requested = True
            if job.process is not None and job.process.poll() is None:
                job.process.send_signal(signal.SIGINT)
            return job

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is running or queued; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.training:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def shutdown(self, timeout: float = 60.0) -> None:
        """Drop the queue and stop the running job so it checkpoints (on server exit)."""
        with self._lock:
            for job in self._queue:
                job.state = "cancelled"
            self._queue.clear()
            job = self._current
        if job is not None:
            self.stop(job.run)
            if job.process is not None:
                try:
                    job.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    job.process.kill()

    def _start_next(self) -> None:
        # called with the lock held
        if self._current is not None or not self._queue or self._transfers:
            return
        job = self._queue.pop(0)
        job.run.mkdir(parents=True, exist_ok=True)
        log = open(job.log, "a")  # noqa: SIM115 - closed by the watcher thread
        log.write(f"$ {' '.join(job.command(self.python))}\n")
        log.flush()
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            # A session of its own: Ctrl-C on the server's terminal reaches the server, which
            # then stops the job itself (shutdown), instead of both racing for the signal.
            job.process = subprocess.Popen(
                job.command(self.python),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        except OSError as e:
            log.write(f"dancenow ui: could not start training: {e}\n")
            log.close()
            job.state, job.ended = "failed", time.time()
            self._history.append(job)
            self._start_next()
            return
        job.state, job.started = "running", time.time()
        self._current = job
        threading.Thread(target=self._watch, args=(job, log), daemon=True).start()

    def _watch(self, job: TrainJob, log) -> None:
        code = job.process.wait()
        log.close()
        with self._lock:
            job.returncode, job.ended = code, time.time()
            job.state = "done" if code == 0 else "stopped" if code == STOPPED else "failed"
            self._history.append(job)
            self._current = None
            self._start_next()

    # ---------------------------------------------------------------- transfer
    @contextlib.contextmanager
    def transfer_slot(self) -> Iterator[None]:
        """Hold while a transfer runs; refuses (:class:`Busy`) while a training job runs or waits.

        Training submitted meanwhile waits in the queue until the transfer ends.
        """
        with self._lock:
            if self._current is not None:
                raise Busy(
                    f"training {self._current.run.name} is running: transfer when it is done, "
                    "or stop it (it keeps a checkpoint)"
                )
            if self._queue:
                raise Busy("a training job is queued: transfer when training is done")
            self._transfers += 1
        try:
            yield
        finally:
            with self._lock:
                self._transfers -= 1
                self._start_next()

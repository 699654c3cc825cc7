"""Run a pose detector over a whole video, optionally in parallel chunks.

A long video is split into ``workers`` contiguous time ranges; each is decoded and
detected in its own process with its own tracking state (Holistic's tracker restarts at
each chunk boundary, which costs one detection frame per chunk). Memory does not grow
with the video's length: frames are streamed and only keypoints are kept.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from dancenow.errors import InputError
from dancenow.pose.cleanup import clean
from dancenow.pose.layout import BODY
from dancenow.pose.posefile import PoseSequence
from dancenow.utils.machine import cap_workers
from dancenow.utils.progress import progress as progress_bar
from dancenow.video import frame_times, iter_frames, probe

log = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 1280  # Holistic works at 256 px internally; larger inputs only cost conversion time


def _detect_chunk(
    path: str, start: float, end: float | None, max_side: int | None, progress_queue, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Detect poses on frames with ``start <= time < end``; returns (times (N,), keypoints (N,137,3))."""
    from dancenow.pose.mediapipe_backend import HolisticDetector

    times, keypoints = [], []
    with HolisticDetector(max_side=max_side) as detector:
        for frame in iter_frames(path, start, end, threads=threads):
            keypoints.append(detector(frame.image))
            times.append(frame.time)
            if progress_queue is not None and len(times) % 8 == 0:
                progress_queue.put(8)
    if progress_queue is not None:
        progress_queue.put(len(times) % 8)
    kp = np.stack(keypoints) if keypoints else np.zeros((0, 137, 3), np.float32)
    return np.asarray(times, np.float64), kp


def chunk_bounds(times: np.ndarray, chunks: int) -> list[tuple[float, float | None]]:
    """Split sorted frame ``times`` into ``chunks`` contiguous [start, end) ranges of similar frame counts."""
    n = len(times)
    chunks = max(1, min(chunks, n))
    cuts = [round(k * n / chunks) for k in range(chunks + 1)]
    bounds = []
    for k in range(chunks):
        start = 0.0 if k == 0 else float(times[cuts[k]])
        end = None if k == chunks - 1 else float(times[cuts[k + 1]])
        bounds.append((start, end))
    return bounds


def detect_video(
    path: str | Path,
    *,
    workers: int = 1,
    max_side: int | None = DEFAULT_MAX_SIDE,
    cleanup: bool = True,
    progress: bool = True,
) -> PoseSequence:
    """Detect ``openpose137`` keypoints on every frame of the video at ``path``.

    Raises :class:`InputError` for unreadable videos and when no person is found in any frame.
    Frames where the person is not found keep confidence 0 (after short gaps are filled).
    """
    path = Path(path)
    info = probe(path)
    times = frame_times(path)
    if len(times) == 0:
        raise InputError(path, "no decodable video frames")
    workers, capped = cap_workers(workers)
    if capped:
        log.warning("pose: %s", capped)
    bounds = chunk_bounds(times, workers)
    bar = progress_bar(len(times), f"pose {path.name}", "frame", enabled=progress)
    try:
        result_times, keypoints = _run_chunks(str(path), bounds, max_side, bar)
    finally:
        bar.close()
    if len(keypoints) == 0:
        raise InputError(path, "no decodable video frames")
    poses = PoseSequence(
        keypoints=keypoints,
        fps=info.fps,
        width=info.width,
        height=info.height,
        detector="mediapipe-holistic-0.10.21",
        times=result_times,
    )
    if not poses.detected(BODY).any():
        raise InputError(path, "no person detected in any frame")
    return clean(poses) if cleanup else poses


def _worker_init() -> None:
    """Send native writes to fd 2 (TFLite/absl chatter) to /dev/null; keep Python's stderr.

    MediaPipe builds its sub-models lazily on its own threads and announces each one from C++,
    which would tear through the progress bar; Python warnings and errors still get through.
    """
    python_stderr = os.fdopen(os.dup(2), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = python_stderr


def _run_chunks(path, bounds, max_side, bar):
    """Detect each [start, end) chunk in its own worker process (one process for one chunk)."""
    # spawn, not fork: MediaPipe and the decoder start threads that must not be forked.
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    progress_queue = manager.Queue()
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            try:
                bar.update(progress_queue.get(timeout=0.2))
            except queue.Empty:
                continue

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    try:
        # With a process per core, each decoder gets one thread; a lone worker may use them all.
        threads = 1 if len(bounds) >= (os.cpu_count() or 1) else 0
        with ProcessPoolExecutor(max_workers=len(bounds), mp_context=ctx, initializer=_worker_init) as pool:
            futures = [
                pool.submit(_detect_chunk, path, s, e, max_side, progress_queue, threads) for s, e in bounds
            ]
            parts = [f.result() for f in futures]
    finally:
        stop.set()
        pump_thread.join()
        while True:  # drain what arrived after the pump stopped
            try:
                bar.update(progress_queue.get_nowait())
            except (queue.Empty, OSError, EOFError):
                break
        manager.shutdown()
    times = np.concatenate([t for t, _ in parts])
    keypoints = np.concatenate([k for _, k in parts])
    return times, keypoints

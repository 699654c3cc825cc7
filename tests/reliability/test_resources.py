"""Resources: a clear error before work starts when the disk is too small for the planned output,
and memory that does not grow with the video's length (frames are streamed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import namedtuple

import numpy as np
import pytest

from dancenow.cli import main
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.synthetic import TARGET
from dancenow.synthetic.video import clip_keypoints
from dancenow.video import write_video

pytestmark = pytest.mark.usefixtures("one_thread")

_Usage = namedtuple("_Usage", "total used free")


def _tiny_disk(monkeypatch, free: int = 3_000_000) -> None:
    """Pretend every file system has only ``free`` bytes left (real writes still work)."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(10**12, 10**12 - free, free))


def _run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", ["pose", "prepare", "transfer"])
def test_too_little_disk_exits_2_before_any_work(
    command, monkeypatch, capsys, tmp_path, tiny_run, tiny_dataset
):
    video = tiny_dataset.parent / "dancer.mp4"  # 30 frames of 128x128
    poses = tiny_dataset.parent / "dancer.npz"
    out_dir = tmp_path / "out"
    if command == "pose":
        out = out_dir / "p.npz"
        args = ["pose", video, "-o", out, "--preview", out_dir / "preview.mp4"]
    elif command == "prepare":
        out = out_dir / "ds"
        args = ["prepare", video, "-o", out, "--poses", poses, "--size", "64"]
    else:
        out = out_dir / "o.mp4"
        args = ["transfer", "--model", tiny_run, "--source", video, "--source-poses", poses, "-o", out]
    free = 1_000_000
    _tiny_disk(monkeypatch, free)
    # no detection may start: the check comes first
    monkeypatch.setattr("dancenow.pose.extract.detect_video", lambda *a, **k: pytest.fail("work started"))
    code, err = _run(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert (
        lines[0].startswith(f"dancenow: error: {out}") and "needs ~" in lines[0] and "1.0 MB free" in lines[0]
    )
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_enough_disk_passes_the_check(monkeypatch, capsys, tmp_path, tiny_dataset):
    _tiny_disk(monkeypatch, 10**9)
    video, poses = tiny_dataset.parent / "dancer.mp4", tiny_dataset.parent / "dancer.npz"
    code, err = _run(capsys, "prepare", video, "-o", tmp_path / "ds", "--poses", poses, "--size", "64")
    assert code == 0, err


_MEASURE = """
import resource, sys
from dancenow.cli import main
code = main(sys.argv[1:])
usage = resource.getrusage
peak = max(usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(f"PEAK_KB {peak}", file=sys.stderr)
sys.exit(code)
"""


def _peak_rss_kb(*args) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *map(str, args)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return int(result.stderr.rsplit("PEAK_KB ", 1)[1].split()[0])


def _noisy_source(path, poses_path, frames: int) -> None:
    """A 640x480 source of incompressible frames (each decoded frame is ~0.9 MB) and its poses."""
    rng = np.random.default_rng(0)
    write_video(
        path,
        (rng.integers(0, 255, (480, 640, 3), np.uint8) for _ in range(frames)),
        fps=25,
        crf=30,
        preset="ultrafast",
    )
    kp, _ = clip_keypoints(frames, 25, size=(640, 480), appearance=TARGET, seed=0)
    save_poses(poses_path, PoseSequence(kp, fps=25, width=640, height=480, detector="synthetic"))


def test_transfer_memory_does_not_grow_with_video_length(tiny_run, tmp_path):
    """Peak RSS of a 4x longer source stays within a few MB: frames are streamed, not collected.

    Holding the decoded source frames (and the side-by-side frames) would add ~1.8 MB per frame,
    i.e. ~110 MB between the two runs.
    """
    peaks = {}
    for frames in (20, 80):
        video, poses = tmp_path / f"s{frames}.mp4", tmp_path / f"s{frames}.npz"
        _noisy_source(video, poses, frames)
        peaks[frames] = _peak_rss_kb(
            "transfer",
            "--model",
            tiny_run,
            "--source",
            video,
            "--source-poses",
            poses,
            "-o",
            tmp_path / f"o{frames}.mp4",
            "--side-by-side",
            "--device",
            "cpu",
        )
    growth_mb = (peaks[80] - peaks[20]) / 1024
    print(f"peak RSS: 20 frames {peaks[20] / 1024:.0f} MB, 80 frames {peaks[80] / 1024:.0f} MB")
    assert growth_mb < 40, peaks


# --- --workers: capped at the CPUs and at what available memory holds ---------------------------
def test_workers_are_capped_by_cpus_and_memory():
    from dancenow.utils.machine import POSE_WORKER_BYTES, cap_workers

    gb = 2**30
    workers, why = cap_workers(1000, cpus=2, memory=20 * gb)
    assert workers == 2 and "1000 workers asked, using 2" in why and "2 CPUs" in why
    assert cap_workers(8, cpus=16, memory=3 * POSE_WORKER_BYTES)[0] == 3  # memory is the limit
    assert cap_workers(8, cpus=16, memory=POSE_WORKER_BYTES // 2)[0] == 1  # never below one
    assert cap_workers(4, cpus=8, memory=None) == (4, None)  # memory unknown: CPUs only
    assert cap_workers(1, cpus=1, memory=1) == (1, None)


def test_pose_workers_1000_starts_no_more_processes_than_cpus(monkeypatch, tiny_dataset, caplog):
    """The issue's ``--workers 1000``: the pool is sized from the machine, not the request."""
    from dancenow.pose import extract
    from dancenow.utils.machine import usable_cpus

    asked: list[int] = []

    class Stop(Exception):
        pass

    def record(path, bounds, max_side, bar):
        asked.append(len(bounds))
        raise Stop  # the size of the pool is what is checked; no detector needs to run

    monkeypatch.setattr(extract, "_run_chunks", record)
    with pytest.raises(Stop):
        extract.detect_video(tiny_dataset.parent / "dancer.mp4", workers=100_000, progress=False)
    assert 1 <= asked[0] <= usable_cpus()
    assert "100000 workers asked" in caplog.text


def test_workers_help_says_it_is_capped(cli):
    for command in ("pose", "prepare", "transfer", "demo"):
        out = cli(command, "--help").stdout
        assert "one per CPU" in " ".join(out.split()), command

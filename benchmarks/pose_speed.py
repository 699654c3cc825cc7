"""Speed and memory of the pose stage at 1080p.

    python benchmarks/pose_speed.py [--video VIDEO] [--json OUT.json] [--quick]

(VIDEO defaults to ../shared/data/videos/aerobics_studio.mp4, 1920x1080.)

Measures, in one run on one machine:
  1. decode only (frames/s, RGB frames as the pose stage gets them);
  2. decode + MediaPipe Holistic + clean-up (``dancenow pose``), 1 and 2 worker processes;
  3. peak memory of ``dancenow pose`` on a generated long 1080p video and on a 4× longer one
     (largest process, parent or worker): it must not grow with the video's length.
Each pose run is a fresh ``python -m dancenow pose`` process, timed from start to exit,
so the figures include start-up (importing MediaPipe, spawning workers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "aerobics_studio.mp4"

_MEASURE = """
import resource, subprocess, sys, time, json
t = time.perf_counter()
rc = subprocess.run([sys.executable, "-m", "dancenow", *sys.argv[1:]], stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
result = {"rc": rc.returncode, "seconds": seconds, "peak_rss_mb": peak_kb / 1024, "stderr": rc.stderr[-500:]}
print(json.dumps(result))
"""


def run_dancenow(command: str, *args: str) -> dict:
    """Run ``dancenow COMMAND ARGS`` in a fresh process tree: wall ``seconds`` and ``peak_rss_mb``,
    the peak RSS of its largest process (parent or worker). Raises RuntimeError when it fails."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, command, *args], capture_output=True, text=True, check=True
    )
    result = json.loads(proc.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"dancenow {command} failed: {result['stderr']}")
    return result


def run_pose(video: Path, out: Path, *extra: str) -> dict:
    """``dancenow pose VIDEO -o OUT EXTRA`` measured by :func:`run_dancenow`."""
    return run_dancenow("pose", str(video), "-o", str(out), *extra)


def decode_fps(video: Path) -> tuple[int, float]:
    from dancenow.video import iter_frames

    t, n = time.perf_counter(), 0
    for _ in iter_frames(video):
        n += 1
    return n, n / (time.perf_counter() - t)


def make_long_video(source: Path, path: Path, frames: int) -> None:
    """A long 1080p clip: the source played forwards and backwards, over and over."""
    from dancenow.video import VideoWriter, iter_frames, probe

    clip = [f.image for f in iter_frames(source, 0.0, 2.0)]  # 60 frames kept in memory here only
    bounce = clip + clip[::-1]
    with VideoWriter(path, probe(source).fps, preset="ultrafast", crf=28) as writer:
        for i in range(frames):
            writer.write(bounce[i % len(bounce)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="skip the long-video memory check")
    args = ap.parse_args()

    from dancenow.video import probe

    info = probe(args.video)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "video": args.video.name,
        "size": f"{info.width}x{info.height}",
    }
    n, fps = decode_fps(args.video)
    result["frames"] = n
    result["decode_fps"] = fps
    print(f"{args.video.name} {info.width}x{info.height}, {n} frames")
    print(f"decode only                 : {fps:7.1f} frames/s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for workers in (1, 2):
            r = run_pose(args.video, tmp / f"w{workers}.npz", "--workers", str(workers))
            result[f"pose_fps_{workers}_workers"] = n / r["seconds"]
            result[f"pose_peak_rss_mb_{workers}_workers"] = r["peak_rss_mb"]
            print(
                f"decode + pose, {workers} worker(s) : {n / r['seconds']:7.1f} frames/s "
                f"({r['seconds']:.1f} s incl. start-up, peak RSS {r['peak_rss_mb']:.0f} MB)"
            )
        if not args.quick:
            for frames in (300, 1200):
                long_video = tmp / f"long_{frames}.mp4"
                make_long_video(args.video, long_video, frames)
                r = run_pose(long_video, tmp / f"long_{frames}.npz")
                result[f"peak_rss_mb_{frames}_frames"] = r["peak_rss_mb"]
                print(
                    f"peak RSS, {frames:5d}-frame 1080p video : {r['peak_rss_mb']:.0f} MB "
                    f"({frames / r['seconds']:.1f} frames/s)"
                )
    print(f"machine: {result['machine']}; python {platform.python_version()}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

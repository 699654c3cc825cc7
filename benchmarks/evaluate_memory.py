"""Peak memory of ``dancenow evaluate`` at 300 and at 1200 held-out frames: it must not grow.

    python benchmarks/evaluate_memory.py --model RUN --data DATASET [--frames 300 1200]
                                         [--work DIR] [--json OUT.json] [-- EXTRA EVALUATE OPTIONS]

For each count N, a copy of DATASET whose held-out split repeats its own frames to N frames
(training split unchanged, frames written to disk, not held) is evaluated by a fresh
``python -m dancenow evaluate --model RUN --data COPY --baseline nearest-pose`` process plus the
extra options (e.g. ``--no-redetect --no-perceptual`` to save time); the figure is the peak
resident memory of that process (``ru_maxrss``), printed with the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
from pose_speed import run_dancenow  # the same fresh-process measurement as the pose stage's

from dancenow.utils.machine import describe


def long_dataset(src: Path, dst: Path, held_out: int) -> Path:
    """A copy of dataset ``src`` whose held-out split repeats its own frames to ``held_out``
    frames (frames, masks, windows, keypoints, face boxes, source poses and evaluation crops
    alike; frames written to disk one at a time, never held); the training split is unchanged."""
    import dataclasses

    from dancenow.pose.posefile import load_poses, save_poses

    info = json.loads((src / "dataset.json").read_text())
    (t0, t1), (v0, v1) = info["splits"]["train"], info["splits"]["val"]
    rows = np.arange(held_out) % (v1 - v0)
    order = np.concatenate([np.arange(t0, t1), v0 + rows])
    dst.mkdir(parents=True)
    per_frame = ("frames.npy", "masks.npy", "windows.npy", "keypoints.npy", "faces.npy")
    per_held_out = ("eval_frames.npy", "baseline_frames.npy")
    for f in src.iterdir():
        if f.name not in (*per_frame, *per_held_out, "poses.npz", "dataset.json"):
            shutil.copy2(f, dst / f.name)
    for name, index in [(n, order) for n in per_frame] + [(n, rows) for n in per_held_out]:
        array = np.load(src / name, mmap_mode="r")
        out = np.lib.format.open_memmap(dst / name, "w+", array.dtype, (len(index), *array.shape[1:]))
        for i, t in enumerate(index):
            out[i] = array[t]
        out.flush()
        del out
    poses = load_poses(src / "poses.npz")
    save_poses(dst / "poses.npz", dataclasses.replace(poses, keypoints=poses.keypoints[order], times=None))
    info |= {"num_frames": len(order), "splits": {"train": [t0, t1], "val": [t1, len(order)]}}
    (dst / "dataset.json").write_text(json.dumps(info))
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--frames", type=int, nargs="+", default=[300, 1200])
    ap.add_argument("--work", type=Path, help="folder for the long datasets (default: a temporary one)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("extra", nargs="*", help="more `dancenow evaluate` options (after --)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="evalmem_"))
    rows = []
    for n in args.frames:
        ds = work / f"heldout_{n}"
        if not (ds / "dataset.json").exists():
            long_dataset(args.data, ds, n)
        cmd = ["--model", str(args.model), "--data", str(ds), "--baseline", "nearest-pose", *args.extra]
        try:
            result = run_dancenow("evaluate", *cmd)
        except RuntimeError as e:
            raise SystemExit(str(e)) from None
        rows.append({"held_out_frames": n, **{k: result[k] for k in ("seconds", "peak_rss_mb")}})
        print(f"{n} held-out frames: peak RSS {result['peak_rss_mb']:.0f} MiB, {result['seconds']:.0f} s")
    report = {
        "date": date.today().isoformat(),
        "machine": describe(),
        "command": "python benchmarks/evaluate_memory.py " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

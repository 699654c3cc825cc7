"""Quality on real footage, measured the paper's way (DESIGN.md "Evaluation protocol").

    python benchmarks/quality.py [--work runs/quality] [--global-steps 600] [--face-steps 240]
                                 [--json OUT.json] [--no-docs]

For each target video (``../shared/data/videos/aerobics_studio.mp4`` and ``fashion_turn_a.mp4``):
prepare a 256x256 dataset (MediaPipe poses, crop around the dancer, the last 20 % held out), train
the ``cpu`` preset for a fixed budget of steps (global stage, then face stage), then evaluate the
model and the nearest-pose baseline on the held-out frames. Then one cross-subject transfer: the
aerobics target performs ``fashion_turn_a``'s moves, scored by transfer fidelity. The same thing
on the command line, per target::

    dancenow prepare VIDEO -o DS --size 256
    dancenow train DS -o RUN --preset cpu --stage global --max-steps 600
    dancenow train DS -o RUN --stage face --max-steps 240 --resume
    dancenow evaluate --model RUN --data DS --baseline nearest-pose --out RUN/eval

The default budget takes about an hour on a 2-core CPU. Steps, not minutes, are the budget so
that a slower or busier machine reaches the same model, only later. Finished steps are reused
when the command is run again with the same ``--work`` folder (delete it to start over).

Writes ``WORK/quality.json``, held-out preview grids in ``docs/images/`` and the section between
``<!-- quality:begin -->`` and ``<!-- quality:end -->`` in ``docs/RESULTS.md`` (unless ``--no-docs``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

from dancenow.utils.threads import choose_wait_policy  # noqa: E402  (before torch, as the CLI)

choose_wait_policy()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dancenow.data.dataset import load_dataset_info  # noqa: E402
from dancenow.data.prepare import prepare_dataset  # noqa: E402
from dancenow.evaluation.evaluate import (  # noqa: E402
    METRIC_ROWS,
    PAPER,
    evaluate,
    format_metric,
    transfer_fidelity,
)
from dancenow.inference.transfer import transfer  # noqa: E402
from dancenow.pose.posefile import load_poses  # noqa: E402
from dancenow.training.run import train_run  # noqa: E402
from dancenow.utils.atomic import atomic_path, write_json  # noqa: E402
from dancenow.utils.machine import describe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
TARGETS = {"aerobics": "aerobics_studio.mp4", "fashion": "fashion_turn_a.mp4"}
TRANSFER = ("aerobics", "fashion_turn_a.mp4")  # (target run, source video)
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"


def preview(sheet: Path, out: Path, width: int = 768) -> None:
    """``evaluate``'s held-out sheet (pose | generated | real), downscaled to ``width`` for the docs."""
    grid = cv2.imread(str(sheet))
    grid = cv2.resize(
        grid, (width, round(grid.shape[0] * width / grid.shape[1])), interpolation=cv2.INTER_AREA
    )
    with atomic_path(out) as tmp:
        cv2.imwrite(str(tmp), grid)


def run_target(name: str, video: Path, work: Path, global_steps: int, face_steps: int, images: Path) -> dict:
    ds, run = work / f"{name}_ds", work / f"{name}_run"
    timing: dict[str, float] = {}
    if not (ds / "dataset.json").exists():
        t = time.perf_counter()
        prepare_dataset(video, ds, size=(256, 256))
        timing["prepare_s"] = time.perf_counter() - t
    for stage, steps in (("global", global_steps), ("face", face_steps)):
        t = time.perf_counter()
        train_run(
            ds,
            run,
            preset="cpu",
            stage=stage,
            max_steps=steps,
            resume=(run / "checkpoint").exists(),
        )
        timing[f"train_{stage}_s"] = time.perf_counter() - t
    t = time.perf_counter()
    results = evaluate(run, ds, baseline="nearest-pose", out_dir=run / "eval")
    timing["evaluate_s"] = time.perf_counter() - t
    preview(run / "eval" / "heldout_frames.png", images / f"quality_heldout_{name}.png")
    info = load_dataset_info(ds)
    (t0, t1), (v0, v1) = info.split_range("train"), info.split_range("val")
    return {
        "video": video.name,
        "train_frames": t1 - t0,
        "val_frames": v1 - v0,
        "steps": {"global": global_steps, "face": face_steps},
        "timing": timing,
        "results": {k: results[k] for k in ("model", "nearest-pose")},
    }


def run_transfer(work: Path) -> dict:
    name, source = TRANSFER
    out = work / f"transfer_{Path(source).stem}_to_{name}.mp4"
    t = time.perf_counter()
    res = transfer(
        work / f"{name}_run", VIDEOS / source, out, side_by_side_path=out.with_name(out.stem + "_sbs.mp4")
    )
    seconds = time.perf_counter() - t
    fidelity = transfer_fidelity(out, load_poses(res.poses).keypoints)
    norm = json.loads(res.normalization.read_text())
    return {
        "target": name,
        "source": source,
        "output": str(out),
        "frames": res.frames,
        "fps": res.fps,
        "seconds": seconds,
        "generation_fps": res.frames / res.seconds_generating if res.seconds_generating else None,
        "fallback": norm.get("fallback"),
        "fidelity": fidelity,
    }


def markdown(report: dict) -> str:
    names = list(report["targets"])
    cfg = report["budget"]
    lines = [
        BEGIN,
        f"Measured {report['date']} on {report['machine']}, by `{report['command']}` "
        f"({report['wall_minutes']:.0f} min in all). Budget per target: `cpu` preset, "
        f"{cfg['global_steps']} global-stage steps then {cfg['face_steps']} face-stage steps, one frame "
        "pair per step, 256×256; held-out frames are the last 20 % of each video, never trained on.",
        "",
        "| target | frames (train / held-out) | steps (global + face) | prepare | train | evaluate |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        t = report["targets"][n]
        tm = t["timing"]
        train_s = tm.get("train_global_s", 0) + tm.get("train_face_s", 0)
        lines.append(
            f"| `{t['video']}` | {t['train_frames']} / {t['val_frames']} | "
            f"{t['steps'].get('global', 0)} + {t['steps'].get('face', 0)} | "
            f"{tm.get('prepare_s', float('nan')):.0f} s | {train_s / 60:.1f} min | {tm['evaluate_s']:.0f} s |"
        )
    header = "| metric (held-out frames) | " + " | ".join(f"{n} model | {n} nearest-pose" for n in names)
    lines += ["", header + " | paper (T.S.+Face, 1024×512) |", "|---|" + "---|---|" * len(names) + "---|"]
    for title, key, fmt in METRIC_ROWS:
        cells = []
        for n in names:
            res = report["targets"][n]["results"]
            for method in ("model", "nearest-pose"):
                cell = format_metric(res[method], key, fmt)
                frames = res[method].get(f"{key}_frames")
                if frames is not None and cell != "n/a":
                    cell += f" ({frames})"
                better = _better(res, key)
                cells.append(f"**{cell}**" if better == method else cell)
        paper = PAPER.get(key)
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {paper if paper is not None else '—'} |")
    lines.append(
        "| LPIPS | " + " | ".join("unavailable offline" for _ in range(2 * len(names))) + " | 0.031 |"
    )
    lines += [
        "",
        "Bold: the better of model and baseline. Pose distances are in pixels at 1024-wide scale, over "
        "the frames (in brackets) where the part is found on both the generated and the real frame.",
    ]
    tr = report["transfer"]
    fid = tr["fidelity"]
    lines += [
        "",
        f"Cross-subject transfer: the `{tr['target']}` model performs `{tr['source']}` "
        f"({tr['frames']} frames at {tr['fps']:.2f} fps, {tr['seconds']:.0f} s in all, generation "
        f"{tr['generation_fps']:.1f} frames/s; normalization fallback: {tr['fallback'] or 'none'}).",
        "",
        "| pose distance body ↓ | pose distance hands ↓ | pose distance face ↓ | missed body ↓ | flicker |",
        "|---|---|---|---|---|",
        f"| {format_metric(fid, 'pose_body', '{:.2f}')} ({fid.get('pose_body_frames', 0)}) "
        f"| {format_metric(fid, 'pose_hands', '{:.2f}')} ({fid.get('pose_hands_frames', 0)}) "
        f"| {format_metric(fid, 'pose_face', '{:.2f}')} ({fid.get('pose_face_frames', 0)}) "
        f"| {fid['missed_body_rate']:.3f} | {fid['flicker']:.2f} |",
        END,
    ]
    return "\n".join(lines)


def _better(results: dict, key: str) -> str | None:
    a, b = results["model"].get(key), results["nearest-pose"].get(key)
    if not all(isinstance(v, float) and np.isfinite(v) for v in (a, b)) or a == b:
        return None
    higher = "↑" in next(t for t, k, _ in METRIC_ROWS if k == key)
    return "model" if (a > b) == higher else "nearest-pose"


def write_docs(section: str, path: Path) -> None:
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} markers to replace")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with atomic_path(path) as tmp:
        tmp.write_text(head + section + tail)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "quality", help="datasets and runs")
    ap.add_argument("--global-steps", type=int, default=600)
    ap.add_argument("--face-steps", type=int, default=240)
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument("--no-docs", action="store_true", help="do not touch docs/RESULTS.md or docs/images")
    args = ap.parse_args()
    missing = [v for v in (*TARGETS.values(), TRANSFER[1]) if not (VIDEOS / v).exists()]
    if missing:
        raise SystemExit(f"{VIDEOS}: missing {', '.join(missing)} (the shared test footage)")
    started = time.perf_counter()
    images = args.work if args.no_docs else REPO / "docs" / "images"
    args.work.mkdir(parents=True, exist_ok=True)
    report = {
        "date": date.today().isoformat(),
        "machine": f"{describe()}, {torch.get_num_threads()} threads",
        "command": "python benchmarks/quality.py"
        + (f" --global-steps {args.global_steps}" if args.global_steps != 600 else "")
        + (f" --face-steps {args.face_steps}" if args.face_steps != 240 else ""),
        "budget": {"preset": "cpu", "global_steps": args.global_steps, "face_steps": args.face_steps},
        "targets": {},
    }
    for name, video in TARGETS.items():
        print(f"== {name}: {video}", file=sys.stderr)
        report["targets"][name] = run_target(
            name, VIDEOS / video, args.work, args.global_steps, args.face_steps, images
        )
    print("== transfer", file=sys.stderr)
    report["transfer"] = run_transfer(args.work)
    report["wall_minutes"] = (time.perf_counter() - started) / 60
    write_json(args.work / "quality.json", report, default=str)
    if args.json:
        write_json(args.json, report, default=str)
    section = markdown(report)
    print(section)
    if not args.no_docs:
        write_docs(section, REPO / "docs" / "RESULTS.md")


if __name__ == "__main__":
    main()

"""Quality on real footage, measured the paper's way (DESIGN.md "Evaluation protocol").

    python benchmarks/quality.py [--work runs/quality] [--global-steps 600] [--face-steps 240]
                                 [--json OUT.json] [--no-docs]
                                 [--appearance none|nearest|warped] [--targets NAME ...]

For each target video (``../shared/data/videos/aerobics_studio.mp4``, ``fashion_turn_a.mp4`` and
``taichi_outdoor_256.mp4``, the one with a textured outdoor background): prepare a 192x256
dataset (MediaPipe poses, a window following the dancer, the last 20 % held out), train
the ``cpu`` preset for a fixed budget of steps (global stage, then face stage), then evaluate the
model and the nearest-pose baseline on the held-out frames (scored in one fixed 256x256 window
of the original frame around the dancer, the window of the earlier fixed-crop design, so the
figures compare across designs). Then one cross-subject transfer: the
aerobics target performs ``fashion_turn_a``'s moves, scored by transfer fidelity. The same thing
on the command line, per target::

    dancenow prepare VIDEO -o DS
    dancenow train DS -o RUN --preset cpu --stage global --max-steps 600
    dancenow train DS -o RUN --stage face --max-steps 240 --resume
    dancenow evaluate --model RUN --data DS --baseline nearest-pose --out RUN/eval

The default budget takes about an hour on a 2-core CPU. Steps, not minutes, are the budget so
that a slower or busier machine reaches the same model, only later. Finished steps, scored
targets (``RUN/quality_target.json``) and scored transfers are reused when the command is run
again with the same ``--work`` folder (delete it to start over).

Writes ``WORK/quality.json``, held-out preview grids in ``docs/images/`` and the section between
``<!-- quality:begin -->`` and ``<!-- quality:end -->`` in ``docs/RESULTS.md`` (unless ``--no-docs``).

The appearance ablation (issue #16): ``--appearance nearest`` or ``warped`` trains the same budget
with ``model.appearance`` set, in ``WORK/NAME_run_APPEARANCE`` beside the default runs (the
datasets are shared), and writes ``WORK/quality_APPEARANCE.json`` and its preview grids in WORK;
``--targets`` picks targets. Neither touches docs/RESULTS.md: the variants are compared by hand.

Quality over training time (RESULTS.md section 2a), in four resumable steps::

    python benchmarks/quality.py --curve-train 480 40  # global stage; weights copied every 40 steps
    python benchmarks/quality.py --curve-score 1       # score every snapshot (held-out image metrics)
    python benchmarks/quality.py --curve-final         # full evaluation of the last snapshot + transfer
    python benchmarks/quality.py --curve-report        # docs/images/quality_curve_*.png, the section
                                                       # between <!-- curve:begin/end --> in RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path

from dancenow.utils.threads import choose_wait_policy  # noqa: E402  (before torch, as the CLI)

choose_wait_policy()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dancenow.data import APPEARANCE_MODES, DEFAULT_SIZE  # noqa: E402
from dancenow.data.dataset import load_dataset_info  # noqa: E402
from dancenow.data.prepare import prepare_dataset  # noqa: E402
from dancenow.evaluation.evaluate import (  # noqa: E402
    METRIC_ROWS,
    PAPER,
    STLPIPS,
    STLPIPS_NOTE,
    evaluate,
    format_metric,
    group_table,
    markdown_table,
    transfer_fidelity,
)
from dancenow.inference.transfer import transfer  # noqa: E402
from dancenow.pose.extract import detect_video  # noqa: E402
from dancenow.pose.layout import LIMB_KINDS  # noqa: E402
from dancenow.pose.posefile import load_poses, save_poses  # noqa: E402
from dancenow.training.run import train_run  # noqa: E402
from dancenow.training.trainer import TrainingInterrupted  # noqa: E402
from dancenow.utils.atomic import atomic_path, write_json  # noqa: E402
from dancenow.utils.machine import describe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
TARGETS = {
    "aerobics": "aerobics_studio.mp4",
    "fashion": "fashion_turn_a.mp4",
    "taichi": "taichi_outdoor_256.mp4",
}
TRANSFER = ("aerobics", "fashion_turn_a.mp4")  # (target run, source video)
RAISED_SOURCE = "dance_keyed_portrait.mp4"  # every target performs it: its hands go above the shoulders
VARIANTS = {  # --variant NAME: config overrides of a run beside the default one
    # the objective before issue #22: nothing asks for the limbs inside the mask's edge band,
    # and every training frame is drawn once per epoch
    "limbs-before": {"loss": {"limb_cores": False}, "optim": {"pose_balance": 0.0}},
    # the limb cores alone, every frame drawn once per epoch
    "cores-only": {"loss": {"limb_cores": True}, "optim": {"pose_balance": 0.0}},
    # the limb cores, and frames drawn in proportion to how rare their pose is
    "balanced": {"loss": {"limb_cores": True}, "optim": {"pose_balance": 1.0}},
}
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
LIMBS_BEGIN, LIMBS_END = "<!-- limbs:begin -->", "<!-- limbs:end -->"


def preview(sheet: Path, out: Path, width: int = 768) -> None:
    """``evaluate``'s held-out sheet (pose | generated | real), downscaled to ``width`` for the docs."""
    grid = cv2.imread(str(sheet))
    grid = cv2.resize(
        grid, (width, round(grid.shape[0] * width / grid.shape[1])), interpolation=cv2.INTER_AREA
    )
    with atomic_path(out) as tmp:
        cv2.imwrite(str(tmp), grid)


def run_dir(work: Path, name: str, variant: str) -> Path:
    """``WORK/NAME_run`` (``WORK/NAME_run_VARIANT`` for an appearance mode or a ``VARIANTS`` name):
    the variants of one target share its dataset."""
    return work / (f"{name}_run" if variant == "none" else f"{name}_run_{variant}")


def overrides_of(variant: str) -> dict:
    """The config overrides of a variant (an appearance mode or a ``VARIANTS`` name)."""
    return VARIANTS[variant] if variant in VARIANTS else {"model": {"appearance": variant}}


def run_target(
    name: str,
    video: Path,
    work: Path,
    global_steps: int,
    face_steps: int,
    images: Path,
    variant: str = "none",
) -> dict:
    ds, run = work / f"{name}_ds", run_dir(work, name, variant)
    done = run / "quality_target.json"  # a target scored before with this budget is reused
    if done.exists():
        cached = json.loads(done.read_text())
        if cached["steps"] == {"global": global_steps, "face": face_steps}:
            suffix = "" if variant == "none" else f"_{variant}"
            preview(run / "eval" / "heldout_frames.png", images / f"quality_heldout_{name}{suffix}.png")
            return cached | {"variant": variant}
    timing: dict[str, float] = {}
    if not (ds / "dataset.json").exists():
        t = time.perf_counter()
        prepare_dataset(video, ds, size=DEFAULT_SIZE)
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
            overrides=overrides_of(variant),
        )
        timing[f"train_{stage}_s"] = time.perf_counter() - t
    t = time.perf_counter()
    results = evaluate(run, ds, baseline="nearest-pose", out_dir=run / "eval")
    timing["evaluate_s"] = time.perf_counter() - t
    suffix = "" if variant == "none" else f"_{variant}"
    preview(run / "eval" / "heldout_frames.png", images / f"quality_heldout_{name}{suffix}.png")
    raised = run_transfer(work, run, source=RAISED_SOURCE, name=name, tag=suffix)
    info = load_dataset_info(ds)
    (t0, t1), (v0, v1) = info.split_range("train"), info.split_range("val")
    result = {
        "video": video.name,
        "train_frames": t1 - t0,
        "val_frames": v1 - v0,
        "steps": {"global": global_steps, "face": face_steps},
        "variant": variant,
        "timing": timing,
        "results": {k: results[k] for k in ("model", "nearest-pose")},
        "train_frames_coverage": results["model_train_frames"],
        "raised_transfer": raised,
    }
    write_json(done, result, default=str)
    return result


def dataset_for(name: str, video: Path, work: Path) -> Path:
    """``WORK/NAME_ds``, the dataset of a target at the default size (prepared once, then reused)."""
    ds = work / f"{name}_ds"
    if not (ds / "dataset.json").exists():
        prepare_dataset(video, ds, size=DEFAULT_SIZE)
    return ds


def train_curve(name: str, video: Path, work: Path, steps: int, every: int) -> list[dict]:
    """Train the ``cpu`` preset's global stage for ``steps`` steps (one plan, so the learning-rate
    schedule is that of an uninterrupted run), stopping every ``every`` steps to copy the run's
    weights into ``WORK/NAME_curve/snapshots/step_NNNNN``. Returns one row per snapshot: step,
    cumulative training wall seconds and this process's CPU seconds, machine load average.

    Only the time inside ``train_run`` counts (it includes rebuilding the trainer at each stop,
    a few seconds); scoring happens later, from the snapshots, so it never competes with training.
    """
    ds = dataset_for(name, video, work)
    folder = work / f"{name}_curve"
    run, snaps, log = folder / "run", folder / "snapshots", folder / "train_log.jsonl"
    snaps.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    wall, cpu = (rows[-1]["train_wall_s"], rows[-1]["train_cpu_s"]) if rows else (0.0, 0.0)
    for stop in range(every, steps + 1, every):
        if any(r["step"] == stop for r in rows):
            continue
        t, c = time.perf_counter(), time.process_time()
        try:
            train_run(
                ds,
                run,
                preset="cpu",
                stage="global",
                max_steps=steps,
                stop_after=stop,
                resume=(run / "checkpoint").exists(),
                progress=False,
            )
        except TrainingInterrupted:
            pass  # the planned stop: a checkpoint and the weights were written
        wall += time.perf_counter() - t
        cpu += time.process_time() - c
        snap = snaps / f"step_{stop:05d}"
        if snap.exists():
            shutil.rmtree(snap)
        snap.mkdir()
        for f in run.iterdir():
            if f.is_file() and f.name != "metrics.jsonl":
                shutil.copy2(f, snap / f.name)
        row = {"step": stop, "train_wall_s": wall, "train_cpu_s": cpu, "loadavg_1min": os.getloadavg()[0]}
        rows.append(row)
        with open(log, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"{name}: step {stop}, {wall / 60:.1f} min training", file=sys.stderr, flush=True)
    return rows


CURVE_METRICS = (  # (summary key, axis title, higher is better)
    ("body_ssim", "body SSIM ↑", True),
    (f"body_{STLPIPS}", f"body {STLPIPS} ↓ (not LPIPS)", False),
    ("body_l1", "body L1 ↓", False),
)
CURVE_BEGIN, CURVE_END = "<!-- curve:begin -->", "<!-- curve:end -->"


def _trainer_minutes(run: Path) -> dict[int, float]:
    """step -> minutes the trainer spent on steps so far (``elapsed`` in ``metrics.jsonl``): the
    time of one uninterrupted run, without the restarts at each snapshot."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("stage") == "global":
            out[int(row["step"])] = float(row["elapsed"]) / 60
    return out


def score_curve(name: str, work: Path, only_every: int = 1) -> dict:
    """Score every ``only_every``-th snapshot of ``train_curve`` (and the nearest-pose baseline
    once) on the held-out frames: no pose re-detection, image metrics only (``only_every`` 0:
    score nothing new). Scores are appended to ``WORK/NAME_curve/scores.jsonl`` and reused;
    returns baseline and points so far."""
    ds, folder = work / f"{name}_ds", work / f"{name}_curve"
    base_path, scores_path = folder / "baseline.json", folder / "scores.jsonl"
    if not base_path.exists():
        base = evaluate(None, ds, baseline="nearest-pose", redetect=False, progress=False)
        write_json(base_path, base["nearest-pose"])
    points = [json.loads(x) for x in scores_path.read_text().splitlines()] if scores_path.exists() else []
    train = {r["step"]: r for r in map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())}
    snaps = sorted(folder.glob("snapshots/step_*"))
    for i, snap in enumerate(snaps):
        step = int(snap.name.split("_")[1])
        wanted = only_every > 0 and ((i + 1) % only_every == 0 or i == len(snaps) - 1)
        if not wanted or any(p["step"] == step for p in points):
            continue
        t = time.perf_counter()
        res = evaluate(snap, ds, redetect=False, progress=False)["model"]
        row = {"step": step, "train_cpu_s": train[step]["train_cpu_s"], "score_s": time.perf_counter() - t}
        row |= {k: res[k] for k, _, _ in CURVE_METRICS} | {
            k: res.get(k) for k in ("face_ssim", f"face_{STLPIPS}")
        }
        points.append(row)
        with open(scores_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"{name}: scored step {step}: {row}", file=sys.stderr, flush=True)
    minutes = _trainer_minutes(folder / "run")
    for p in points:
        p["train_minutes"] = minutes.get(p["step"], float("nan"))
    points.sort(key=lambda p: p["step"])
    final = json.loads((folder / "final.json").read_text()) if (folder / "final.json").exists() else None
    return {"baseline": json.loads(base_path.read_text()), "points": points, "final": final}


def curve_final(name: str, work: Path) -> dict:
    """The full held-out evaluation (model and baseline, pose re-detection, joint groups) of the
    last snapshot of ``name``'s curve run, written to ``WORK/NAME_curve/final.json``; for the
    transfer target, also the cross-subject transfer made with that snapshot."""
    folder = work / f"{name}_curve"
    snap = sorted(folder.glob("snapshots/step_*"))[-1]
    t = time.perf_counter()
    res = evaluate(snap, work / f"{name}_ds", baseline="nearest-pose", out_dir=folder / "final_eval")
    out = {
        "snapshot": snap.name,
        "evaluate_s": time.perf_counter() - t,
        "results": {k: res[k] for k in ("model", "nearest-pose")},
    }
    if name == TRANSFER[0]:
        out["transfer"] = run_transfer(work, snap, tag=f"_{snap.name}")
    write_json(folder / "final.json", out, default=str)
    print(json.dumps(out, indent=1, default=str), file=sys.stderr)
    return out


def minutes_to_beat(curve: dict) -> dict[str, dict | None]:
    """Per curve metric, the first scored snapshot at which the model beats the baseline
    (step and trainer minutes), or None when none does."""
    out = {}
    for key, _, higher in CURVE_METRICS:
        base = curve["baseline"][key]
        first = next((p for p in curve["points"] if (p[key] > base if higher else p[key] < base)), None)
        out[key] = (
            None
            if first is None
            else {
                "step": first["step"],
                "minutes": first["train_minutes"],
                "cpu_minutes": first["train_cpu_s"] / 60,
            }
        )
    return out


def plot_curve(name: str, curve: dict, path: Path) -> None:
    """Body SSIM, perceptual distance and L1 of the held-out frames against training minutes (top)
    and steps (bottom), the nearest-pose baseline as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = curve["points"]
    fig, axes = plt.subplots(2, len(CURVE_METRICS), figsize=(12, 6.2), constrained_layout=True)
    for col, (key, title, _) in enumerate(CURVE_METRICS):
        for row, (xkey, xlabel) in enumerate(
            (("train_minutes", "training minutes (trainer clock, shared 2-core CPU)"), ("step", "step"))
        ):
            ax = axes[row, col]
            ax.plot([p[xkey] for p in pts], [p[key] for p in pts], "o-", color="tab:red", label="model")
            ax.axhline(curve["baseline"][key], ls="--", color="tab:blue", label="nearest-pose baseline")
            ax.set_xlabel(xlabel)
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    fig.suptitle(f"{name}: held-out quality over training (cpu preset, global stage)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def curve_markdown(curves: dict[str, dict], meta: dict) -> str:
    lines = [
        CURVE_BEGIN,
        f"Measured {meta['date']} on {meta['machine']} by `{meta['command']}`.",
        "",
        "| target | steps (global stage) | training minutes | CPU minutes (training process) | "
        "minutes to beat baseline: body SSIM | minutes to beat baseline: "
        f"body {STLPIPS} |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in curves.items():
        last = c["points"][-1]
        beat = minutes_to_beat(c)

        def cell(b, last=last):
            if b is None:
                return f"not within {last['step']} steps ({last['train_minutes']:.1f} min)"
            return f"**{b['minutes']:.1f} min** (step {b['step']}; {b['cpu_minutes']:.1f} CPU min)"

        lines.append(
            f"| {name} | {last['step']} | {last['train_minutes']:.1f} | {last['train_cpu_s'] / 60:.1f} | "
            f"{cell(beat['body_ssim'])} | {cell(beat[f'body_{STLPIPS}'])} |"
        )
    lines += ["", "| target | step | minutes | " + " | ".join(t for _, t, _ in CURVE_METRICS) + " |"]
    lines.append("|---|---|---|" + "---|" * len(CURVE_METRICS))
    for name, c in curves.items():
        b = c["baseline"]
        lines.append(
            f"| {name} | nearest-pose | — | " + " | ".join(f"{b[k]:.3f}" for k, _, _ in CURVE_METRICS) + " |"
        )
        for p in c["points"]:
            lines.append(
                f"| {name} | {p['step']} | {p['train_minutes']:.1f} | "
                + " | ".join(f"{p[k]:.3f}" for k, _, _ in CURVE_METRICS)
                + " |"
            )
    lines += ["", STLPIPS_NOTE]
    for name, c in curves.items():
        final = c.get("final")
        if not final:
            continue
        lines += [
            "",
            f"**{name}, last snapshot ({final['snapshot']}), full held-out evaluation** (pose re-detection "
            f"on, {final['evaluate_s']:.0f} s; pose distances in px at 1024-wide scale; joint groups "
            "compare the pose re-detected on the generated frame with the one re-detected on the real "
            "frame, PCK@0.2 × torso diagonal):",
            "",
            markdown_table({"frames": 0, **final["results"]}).replace("\n\n" + STLPIPS_NOTE, "").rstrip(),
        ]
        tr = final.get("transfer")
        if tr:
            fid = tr["fidelity"]
            lines += [
                "",
                f"**Cross-subject transfer with that snapshot**: the `{tr['target']}` model performs "
                f"`{tr['source']}` ({tr['frames']} frames; {tr['seconds']:.0f} s; normalization fallback: "
                f"{tr['fallback'] or 'none'}). The normalized source pose against the pose re-detected on "
                f"the output: body {fid.get('pose_body', float('nan')):.1f} px over all body joints, "
                f"missed body {fid['missed_body_rate']:.3f}, flicker {fid['flicker']:.2f}. Per joint group "
                "(distance in px at 1024-wide scale over the frames in brackets; PCK@0.2 × torso diagonal):",
                "",
                group_table({"transfer": fid}),
            ]
    lines.append(CURVE_END)
    return "\n".join(lines)


def run_transfer(
    work: Path,
    run: Path | None = None,
    tag: str = "",
    variant: str = "none",
    *,
    source: str = TRANSFER[1],
    name: str = TRANSFER[0],
) -> dict:
    """The cross-subject transfer of ``source`` onto target ``name`` (default ``TRANSFER``) with
    ``run`` (default the target's run of ``variant``, :func:`run_dir`), scored by transfer
    fidelity (per part, per joint group, per limb). The source's poses are detected once per
    work folder and reused."""
    tag = tag or ("" if variant == "none" else f"_{variant}")
    out = work / f"transfer_{Path(source).stem}_to_{name}{tag}.mp4"
    scored = out.with_suffix(".json")  # made before with this run: reused
    if scored.exists() and out.exists():
        return json.loads(scored.read_text())
    poses = work / f"source_{Path(source).stem}.npz"
    if not poses.exists():
        save_poses(poses, detect_video(VIDEOS / source, progress=False))
    t = time.perf_counter()
    res = transfer(
        run or run_dir(work, name, variant),
        VIDEOS / source,
        out,
        source_poses=poses,
        side_by_side_path=out.with_name(out.stem + "_sbs.mp4"),
    )
    seconds = time.perf_counter() - t
    fidelity = transfer_fidelity(out, load_poses(res.poses).keypoints)
    norm = json.loads(res.normalization.read_text())
    result = {
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
    write_json(scored, result, default=str)
    return result


def markdown(report: dict) -> str:
    names = list(report["targets"])
    cfg = report["budget"]
    lines = [
        BEGIN,
        f"Measured {report['date']} on {report['machine']}, by `{report['command']}` "
        f"({report['wall_minutes']:.0f} min in all). Budget per target: `cpu` preset, "
        f"{cfg['global_steps']} global-stage steps then {cfg['face_steps']} face-stage steps, one frame "
        "pair per step, 192×256 training frames (windows following the dancer), scored in a fixed "
        "256×256 window of the original frame; held-out frames are the last 20 % of each video, "
        "never trained on.",
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
        "| LPIPS (published) | " + " | ".join("not measured" for _ in range(2 * len(names))) + " | 0.031 |"
    )
    lines += [
        "",
        "Bold: the better of model and baseline. Pose distances are in pixels at 1024-wide scale, over "
        "the frames (in brackets) where the part is found on both the generated and the real frame. "
        + STLPIPS_NOTE,
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
        "",
        group_table({"transfer": fid}),
        END,
    ]
    return "\n".join(lines)


def limbs_markdown(after: dict, before: dict, before_name: str) -> str:
    """The per-limb before/after section: held-out image and pose figures, the share of each
    limb's core the generated alpha covers, and every target performing ``RAISED_SOURCE``."""
    names = [n for n in after["targets"] if n in before["targets"]]
    f3, f1, f2 = "{:.3f}", "{:.1f}", "{:.2f}"

    def cells(get, fmt, higher: bool | None = None) -> list[str]:
        out = []
        for n in names:
            b, a = (get(r["targets"][n]) for r in (before, after))
            pair = [format_metric({"v": v}, "v", fmt) for v in (b, a)]
            if higher is not None and all(isinstance(v, float) and np.isfinite(v) for v in (b, a)) and a != b:
                best = int((a > b) == higher)
                pair[best] = f"**{pair[best]}**"
            out += pair
        return out

    def row(title: str, get, fmt, higher: bool | None = None) -> str:
        return f"| {title} | " + " | ".join(cells(get, fmt, higher)) + " |"

    held = lambda key: lambda t: t["results"]["model"].get(key)  # noqa: E731
    train = lambda key: lambda t: t["train_frames_coverage"].get(key)  # noqa: E731
    raised = lambda key: lambda t: t["raised_transfer"]["fidelity"].get(key)  # noqa: E731
    lines = [
        LIMBS_BEGIN,
        f"Measured {after['date']} on {after['machine']}. Before: `{before['command']}` "
        f"(overrides {json.dumps(before['budget']['overrides'])}); after: `{after['command']}`. "
        f"Budget per target: `cpu` preset, {after['budget']['global_steps']} global + "
        f"{after['budget']['face_steps']} face steps, seed 0; the same datasets.",
        "",
        "| held-out frames | " + " | ".join(f"{n} before | {n} after" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
        row("body SSIM ↑", held("body_ssim"), f3, True),
        row(f"body {STLPIPS} ↓", held(f"body_{STLPIPS}"), f3, False),
        row("face SSIM ↑", held("face_ssim"), f3, True),
        row("pose distance body ↓", held("pose_body"), f2, False),
    ]
    for g in ("arms", "wrists_hands", "legs"):
        lines.append(row(f"{g.replace('_', ' + ')} distance ↓", held(f"dist_{g}"), f1, False))
    for k in LIMB_KINDS:
        lines.append(
            row(f"{k.replace('_', ' ')}: alpha covers its core ↑", held(f"alpha_covers_{k}"), f2, True)
        )
    for k in LIMB_KINDS:
        lines.append(
            row(
                f"{k.replace('_', ' ')}: alpha covers (training frames) ↑",
                train(f"alpha_covers_{k}"),
                f2,
                True,
            )
        )
    for k in LIMB_KINDS:
        lines.append(row(f"{k.replace('_', ' ')}: the mask covers its core", held(f"mask_covers_{k}"), f2))
    src = Path(RAISED_SOURCE).stem
    lines += [
        "",
        f"| each target performs `{RAISED_SOURCE}` | "
        + " | ".join(f"{n} before | {n} after" for n in names)
        + " |",
        "|---|" + "---|---|" * len(names),
        row("raised wrists drawn where asked ↑", raised("limb_drawn_raised_wrist"), f2, True),
        row("(raised wrist events)", raised("limb_drawn_raised_wrist_events"), "{:.0f}"),
        row("raised wrists drawn raised ↑", raised("raised_wrist_kept"), f2, True),
        row("wrist distance ↓ (px@1024)", raised("limb_end_dist_forearm"), f1, False),
        row("arms distance ↓", raised("dist_arms"), f1, False),
        row("legs distance ↓", raised("dist_legs"), f1, False),
    ]
    for k in LIMB_KINDS:
        lines.append(row(f"{k.replace('_', ' ')} drawn where asked ↑", raised(f"limb_drawn_{k}"), f2, True))
    lines += [
        "",
        "Bold: the better of before and after. Distances in px at 1024-wide scale. A limb's core is "
        "a capsule of radius 0.008 × the frame height along its segment; *alpha covers* is the mean "
        "share of it where the generated alpha is above 0.5 (both sides pooled). *Drawn where "
        "asked*: the re-detected far joint (elbow, wrist, knuckle, knee, ankle) lies within 0.1 × "
        f"the body height of the one asked for. Transfers: `WORK/transfer_{src}_to_TARGET*.mp4`.",
        LIMBS_END,
    ]
    return "\n".join(lines)


def _better(results: dict, key: str) -> str | None:
    a, b = results["model"].get(key), results["nearest-pose"].get(key)
    if not all(isinstance(v, float) and np.isfinite(v) for v in (a, b)) or a == b:
        return None
    higher = "↑" in next(t for t, k, _ in METRIC_ROWS if k == key)
    return "model" if (a > b) == higher else "nearest-pose"


def write_docs(section: str, path: Path, begin: str = BEGIN, end: str = END) -> None:
    text = path.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: no {begin} ... {end} markers to replace")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with atomic_path(path) as tmp:
        tmp.write_text(head + section + tail)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "quality", help="datasets and runs")
    ap.add_argument("--global-steps", type=int, default=600)
    ap.add_argument("--face-steps", type=int, default=240)
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument("--no-docs", action="store_true", help="do not touch docs/RESULTS.md or docs/images")
    ap.add_argument(
        "--curve-train",
        nargs=2,
        type=int,
        metavar=("STEPS", "EVERY"),
        help="only train the quality-over-time runs (global stage, a weight snapshot every EVERY steps)",
    )
    ap.add_argument(
        "--curve-score",
        type=int,
        metavar="NTH",
        help="score every NTH snapshot of the curve runs not scored yet (and the last)",
    )
    ap.add_argument(
        "--curve-report",
        action="store_true",
        help="plot the curves and write the docs section from the scores",
    )
    ap.add_argument(
        "--curve-final",
        action="store_true",
        help="full held-out evaluation of each curve run's last snapshot (pose re-detection, joint "
        "groups), and the cross-subject transfer with the aerobics one",
    )
    ap.add_argument("--target", choices=list(TARGETS), help="only this target (curve options)")
    ap.add_argument(
        "--targets",
        nargs="+",
        choices=list(TARGETS),
        default=list(TARGETS),
        help="the targets of the main run (default: all; the transfer runs when aerobics is one)",
    )
    ap.add_argument(
        "--appearance",
        choices=APPEARANCE_MODES,
        default="none",
        help="train with model.appearance set to this (runs in WORK/NAME_run_APPEARANCE, datasets "
        "shared); a variant or a subset of targets never rewrites docs/RESULTS.md",
    )
    ap.add_argument(
        "--variant",
        choices=list(VARIANTS),
        help="train with these config overrides (VARIANTS: runs in WORK/NAME_run_VARIANT, datasets "
        "shared); never rewrites docs/RESULTS.md by itself",
    )
    ap.add_argument(
        "--compare",
        choices=list(VARIANTS),
        metavar="VARIANT",
        help="write the per-limb before/after section of docs/RESULTS.md from WORK/quality.json "
        "(the default design) and WORK/quality_VARIANT.json (run both first)",
    )
    args = ap.parse_args()
    targets = {args.target: TARGETS[args.target]} if args.target else TARGETS
    if args.compare:
        report = {
            v: json.loads((args.work / f"quality{s}.json").read_text())
            for v, s in (("after", ""), (args.compare, f"_{args.compare}"))
        }
        section = limbs_markdown(report["after"], report[args.compare], args.compare)
        print(section)
        if not args.no_docs:
            write_docs(section, REPO / "docs" / "RESULTS.md", LIMBS_BEGIN, LIMBS_END)
        return
    variant = args.variant or args.appearance
    if args.curve_train:
        meta = args.work / "curve_meta.json"
        if not meta.exists():
            steps, every = args.curve_train
            args.work.mkdir(parents=True, exist_ok=True)
            cmd = f"python benchmarks/quality.py --curve-train {steps} {every}"
            write_json(meta, {"date": date.today().isoformat(), "machine": describe(), "command": cmd})
        for name, video in targets.items():
            print(f"== curve training {name} on {describe()}, {date.today()}", file=sys.stderr)
            train_curve(name, VIDEOS / video, args.work, *args.curve_train)
        return
    if args.curve_final:
        for name in targets:
            curve_final(name, args.work)
        return
    if args.curve_score or args.curve_report:
        curves = {
            n: score_curve(n, args.work, args.curve_score or 0)
            for n in targets
            if (args.work / f"{n}_curve" / "train_log.jsonl").exists()
        }
        if args.curve_report:
            images = args.work if args.no_docs else REPO / "docs" / "images"
            for n, c in curves.items():
                plot_curve(n, c, images / f"quality_curve_{n}.png")
            meta = json.loads((args.work / "curve_meta.json").read_text())
            section = curve_markdown(curves, meta)
            write_json(args.work / "curve.json", {"meta": meta, "curves": curves})
            print(section)
            if not args.no_docs:
                write_docs(section, REPO / "docs" / "RESULTS.md", CURVE_BEGIN, CURVE_END)
        return
    missing = [v for v in (*TARGETS.values(), TRANSFER[1], RAISED_SOURCE) if not (VIDEOS / v).exists()]
    if missing:
        raise SystemExit(f"{VIDEOS}: missing {', '.join(missing)} (the shared test footage)")
    started = time.perf_counter()
    if variant != "none" or args.targets != list(TARGETS):
        # the docs' table is the default design on every target; a variant is compared by hand
        # or by --compare
        args.no_docs = True
        print("a variant or a subset of targets: docs/RESULTS.md is left alone", file=sys.stderr)
    images = args.work if args.no_docs else REPO / "docs" / "images"
    args.work.mkdir(parents=True, exist_ok=True)
    flag = "--appearance" if variant in APPEARANCE_MODES else "--variant"
    report = {
        "date": date.today().isoformat(),
        "machine": f"{describe()}, {torch.get_num_threads()} threads",
        "command": "python benchmarks/quality.py"
        + (f" --global-steps {args.global_steps}" if args.global_steps != 600 else "")
        + (f" --face-steps {args.face_steps}" if args.face_steps != 240 else "")
        + (f" {flag} {variant}" if variant != "none" else "")
        + (f" --targets {' '.join(args.targets)}" if args.targets != list(TARGETS) else ""),
        "budget": {
            "preset": "cpu",
            "global_steps": args.global_steps,
            "face_steps": args.face_steps,
            "variant": variant,
            "overrides": overrides_of(variant) if variant != "none" else {},
        },
        "targets": {},
    }
    for name in args.targets:
        print(f"== {name}: {TARGETS[name]} (variant {variant})", file=sys.stderr)
        report["targets"][name] = run_target(
            name,
            VIDEOS / TARGETS[name],
            args.work,
            args.global_steps,
            args.face_steps,
            images,
            variant,
        )
    if TRANSFER[0] in args.targets:
        print("== transfer", file=sys.stderr)
        report["transfer"] = run_transfer(args.work, variant=variant)
    report["wall_minutes"] = (time.perf_counter() - started) / 60
    suffix = "" if variant == "none" else f"_{variant}"
    write_json(args.work / f"quality{suffix}.json", report, default=str)
    if args.json:
        write_json(args.json, report, default=str)
    section = markdown(report)
    print(section)
    if not args.no_docs:
        write_docs(section, REPO / "docs" / "RESULTS.md")


if __name__ == "__main__":
    main()

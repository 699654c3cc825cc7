"""The paper's evaluation protocol (Sec. 5) on held-out frames, for a model and a baseline.

Every held-out frame is generated from its own pose, in order, each output fed into the next
(temporal feedback), and compared with the real frame: SSIM and PSNR on a box around the body
and on the face box; pose distance between keypoints re-detected (MediaPipe) on the generated
and on the real frame, per body / face / hands, in pixels at 1024-wide scale, over points found
in both, with the rate of frames where the body is found on the real frame but not on the
generated one; and a flicker measure against the real video. LPIPS needs AlexNet/VGG weights
that cannot be had offline here: it is reported as unavailable, never estimated.

The nearest-pose baseline returns, for each held-out frame, the training frame whose normalized
body pose (centred on the hips, scaled by the torso) is closest, and is scored by the same code.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dancenow.data.dataset import load_dataset_info
from dancenow.errors import InputError
from dancenow.evaluation.metrics import body_box, crop_box, flicker, pose_distance, psnr, ssim
from dancenow.inference.model import load_model
from dancenow.inference.transfer import generate
from dancenow.pose.layout import BODY, B
from dancenow.pose.render import render_pose
from dancenow.utils.atomic import atomic_path, write_json
from dancenow.utils.precision import default_device
from dancenow.utils.progress import progress as progress_bar

PAPER = {  # EDN Table 1/2, their 1024x512 footage, T.S. + Face
    "body_ssim": 0.898,
    "body_lpips": 0.031,
    "face_ssim": 0.830,
    "pose_body": 2.57,
    "pose_face": 0.92,
    "pose_hands": 3.30,
}


def normalized_body(keypoints: np.ndarray) -> np.ndarray:
    """``(T, 137, 3)`` -> ``(T, 25, 3)`` body centred on the mid-hip (or neck) and scaled by the
    neck-to-mid-hip length, so poses compare regardless of where and how big the person is."""
    body = keypoints[:, BODY].astype(np.float64).copy()
    out = np.zeros_like(body)
    for t, b in enumerate(body):
        ok = b[:, 2] > 0
        if not ok.any():
            continue
        root = b[B["mid_hip"], :2] if ok[B["mid_hip"]] else b[ok, :2].mean(0)
        if ok[B["neck"]] and ok[B["mid_hip"]]:
            size = np.linalg.norm(b[B["neck"], :2] - b[B["mid_hip"], :2])
        else:
            size = np.ptp(b[ok, 1]) / 3 if ok.sum() > 1 else 1.0
        size = max(size, 1e-3)
        out[t, ok, :2] = (b[ok, :2] - root) / size
        out[t, ok, 2] = 1.0
    return out


def nearest_pose_indices(train: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query pose, the index of the training pose with the smallest mean joint distance
    (over joints present in both; normalized bodies ``(N, 25, 3)`` and ``(M, 25, 3)``)."""
    out = np.zeros(len(query), np.int64)
    t_ok = train[:, :, 2] > 0
    for i, q in enumerate(query):
        q_ok = q[:, 2] > 0
        both = t_ok & q_ok[None]
        n = both.sum(1)
        d = np.linalg.norm(train[:, :, :2] - q[None, :, :2], axis=2)
        mean = np.where(n > 0, (d * both).sum(1) / np.maximum(n, 1), np.inf)
        # prefer candidates sharing many joints: missing joints count as a fixed penalty
        mean = mean + 0.5 * (q_ok.sum() - n) / max(q_ok.sum(), 1)
        out[i] = int(np.argmin(mean))
    return out


@dataclass
class Scored:
    rows: list[dict]  # one per frame
    summary: dict  # means and rates


def score(
    generated: list[np.ndarray],
    real: list[np.ndarray],
    keypoints: np.ndarray,
    faces: np.ndarray,
    *,
    real_poses: list[np.ndarray] | None,
    progress: bool,
    label: str,
) -> Scored:
    """Compare generated with real frames (both ``(h, w, 3)`` uint8, model size) frame by frame.

    ``real_poses``: keypoints re-detected on the real frames (shared by every method scored), or
    None to skip the pose-distance metrics.
    """
    h, w = real[0].shape[:2]
    scale = 1024.0 / w
    rows = []
    redetect = real_poses is not None
    det_real = real_poses
    det_gen = _detect_sequence(generated, f"re-detect {label}", progress) if redetect else None
    for t, (g, r) in enumerate(zip(generated, real, strict=True)):
        row = {"frame": t, "ssim": ssim(g, r), "psnr": psnr(g, r)}
        box = body_box(keypoints[t], h, w)
        if box is not None:
            row |= {
                "body_ssim": ssim(crop_box(g, box), crop_box(r, box)),
                "body_psnr": psnr(crop_box(g, box), crop_box(r, box)),
            }
        fb = faces[t]
        row |= {
            "face_ssim": ssim(crop_box(g, fb), crop_box(r, fb)),
            "face_psnr": psnr(crop_box(g, fb), crop_box(r, fb)),
        }
        if redetect:
            found_real = (det_real[t][BODY, 2] > 0).any()
            found_gen = (det_gen[t][BODY, 2] > 0).any()
            row |= {"body_found_real": bool(found_real), "body_found_generated": bool(found_gen)}
            for part, v in pose_distance(det_gen[t], det_real[t], scale).items():
                row[f"pose_{part}"] = v
        rows.append(row)
    summary = {}
    for key in (
        "ssim",
        "psnr",
        "body_ssim",
        "body_psnr",
        "face_ssim",
        "face_psnr",
        "pose_body",
        "pose_face",
        "pose_hands",
    ):
        values = [r[key] for r in rows if key in r and np.isfinite(r[key])]
        if values:
            summary[key] = float(np.mean(values))
            if key.startswith("pose_"):
                summary[f"{key}_frames"] = len(values)
    if redetect:
        with_body = [r for r in rows if r["body_found_real"]]
        summary["missed_body_rate"] = (
            float(np.mean([not r["body_found_generated"] for r in with_body])) if with_body else float("nan")
        )
    summary["flicker_vs_real"] = flicker(generated, real)
    summary["lpips"] = "unavailable (no AlexNet/VGG LPIPS weights offline)"
    summary["frames"] = len(rows)
    return Scored(rows, summary)


def _detect_sequence(frames: list[np.ndarray], desc: str, progress: bool) -> list[np.ndarray]:
    from dancenow.pose.mediapipe_backend import HolisticDetector

    out = []
    bar = progress_bar(len(frames), desc, "frame", enabled=progress)
    with HolisticDetector() as det:
        for f in frames:
            out.append(det(f))
            bar.update(1)
    bar.close()
    return out


def evaluate(
    run: str | Path | None,
    dataset: str | Path,
    *,
    split: str = "val",
    baseline: str | None = None,
    out_dir: str | Path | None = None,
    redetect: bool = True,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate ``run`` (and/or the ``nearest-pose`` baseline) on ``split`` of ``dataset``.

    Writes ``evaluation.json``, ``frames.csv``, ``evaluation.md``, ``metrics_over_time.png``,
    ``worst_frames.png`` and ``heldout_frames.png`` (four evenly spaced frames: pose | generated |
    real) into ``out_dir`` when given. Returns the summary dict.
    """
    info = load_dataset_info(dataset)
    start, stop = info.split_range(split)
    if stop - start < 2:
        raise InputError(dataset, f"the {split} split has {stop - start} frames; nothing to evaluate")
    frames = np.load(Path(dataset) / "frames.npy", mmap_mode="r")
    keypoints = np.load(Path(dataset) / "keypoints.npy")
    faces = np.load(Path(dataset) / "faces.npy")
    real = [np.asarray(frames[t]) for t in range(start, stop)]
    kp, fb = keypoints[start:stop], faces[start:stop]
    results: dict = {"split": split, "frames": stop - start, "dataset": str(dataset), "paper": PAPER}
    generated_sets: dict[str, list[np.ndarray]] = {}
    if run is not None:
        dev = default_device(device)
        model = load_model(run, dev)
        if tuple(model.size) != (info.width, info.height):
            raise InputError(
                run,
                f"makes {model.size[0]}x{model.size[1]} frames but the dataset has "
                f"{info.width}x{info.height}",
            )
        generated_sets["model"] = [g for g, _ in generate(model, kp, device=dev, progress=progress)]
    if baseline == "nearest-pose":
        t0, t1 = info.split_range("train")
        idx = nearest_pose_indices(normalized_body(keypoints[t0:t1]), normalized_body(kp))
        generated_sets["nearest-pose"] = [np.asarray(frames[t0 + i]) for i in idx]
        results["nearest_pose_train_indices"] = (idx + t0).tolist()
    elif baseline is not None:
        raise InputError(None, f"unknown baseline {baseline!r} (nearest-pose)")
    scored = {}
    real_poses = _detect_sequence(real, "re-detect real", progress) if redetect else None
    for name, generated in generated_sets.items():
        scored[name] = score(generated, real, kp, fb, real_poses=real_poses, progress=progress, label=name)
        results[name] = scored[name].summary
    if out_dir is not None:
        write_reports(Path(out_dir), results, scored, generated_sets, real, kp)
    return results


def write_reports(
    out: Path,
    results: dict,
    scored: dict,
    generated_sets: dict,
    real: list[np.ndarray],
    keypoints: np.ndarray,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "evaluation.json", results, default=str)
    with atomic_path(out / "frames.csv") as tmp, open(tmp, "w", newline="") as f:
        keys = sorted({k for s in scored.values() for r in s.rows for k in r})
        writer = csv.DictWriter(f, fieldnames=["method", *keys])
        writer.writeheader()
        for name, s in scored.items():
            for r in s.rows:
                writer.writerow({"method": name, **r})
    with atomic_path(out / "evaluation.md") as tmp:
        tmp.write_text(markdown_table(results))
    if "model" in scored:
        plot_over_time(out / "metrics_over_time.png", scored)
        generated = generated_sets["model"]
        rows = scored["model"].rows
        worst = sorted(range(len(rows)), key=lambda i: rows[i].get("body_ssim", 1.0))[:6]
        frame_sheet(out / "worst_frames.png", [[generated[i], real[i]] for i in worst])
        h, w = real[0].shape[:2]
        spaced = np.linspace(0, len(real) - 1, min(4, len(real))).round().astype(int)
        frame_sheet(
            out / "heldout_frames.png",
            [[render_pose(keypoints[i], h, w), generated[i], real[i]] for i in spaced],
        )


METRIC_ROWS = (  # (title, summary key, format) in report order
    ("body SSIM ↑", "body_ssim", "{:.3f}"),
    ("body PSNR (dB) ↑", "body_psnr", "{:.2f}"),
    ("face SSIM ↑", "face_ssim", "{:.3f}"),
    ("face PSNR (dB) ↑", "face_psnr", "{:.2f}"),
    ("frame SSIM ↑", "ssim", "{:.3f}"),
    ("pose distance body ↓", "pose_body", "{:.2f}"),
    ("pose distance face ↓", "pose_face", "{:.2f}"),
    ("pose distance hands ↓", "pose_hands", "{:.2f}"),
    ("missed body detections ↓", "missed_body_rate", "{:.3f}"),
    ("flicker vs real ↓", "flicker_vs_real", "{:.2f}"),
)


def format_metric(summary: dict, key: str, fmt: str) -> str:
    """One table cell: the formatted value, or ``n/a`` when it is missing or not finite."""
    v = summary.get(key)
    return fmt.format(v) if isinstance(v, float) and math.isfinite(v) else "n/a"


def markdown_table(results: dict) -> str:
    methods = [m for m in ("model", "nearest-pose") if m in results]
    lines = [
        "| metric | " + " | ".join(methods) + " | paper (T.S.+Face) |",
        "|---|" + "---|" * (len(methods) + 1),
    ]
    for title, key, fmt in METRIC_ROWS:
        cells = [format_metric(results[m], key, fmt) for m in methods]
        paper = PAPER.get(key)
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {paper if paper is not None else '—'} |")
    lines.append("| LPIPS | " + " | ".join("unavailable offline" for _ in methods) + " | 0.031 |")
    return "\n".join(lines) + "\n"


def plot_over_time(path: Path, scored: dict) -> None:
    """A small line plot (drawn with OpenCV) of body SSIM per frame for each method."""
    h, w, pad = 240, 640, 30
    img = np.full((h, w, 3), 255, np.uint8)
    colors = {"model": (200, 30, 30), "nearest-pose": (30, 120, 200)}
    cv2.rectangle(img, (pad, pad // 2), (w - pad // 2, h - pad), (0, 0, 0), 1)
    for name, s in scored.items():
        ys = [r.get("body_ssim", np.nan) for r in s.rows]
        pts = [
            (pad + int(i * (w - 1.5 * pad) / max(len(ys) - 1, 1)), int(h - pad - y * (h - 1.5 * pad)))
            for i, y in enumerate(ys)
            if np.isfinite(y)
        ]
        for a, b in zip(pts, pts[1:], strict=False):
            cv2.line(img, a, b, colors.get(name, (0, 0, 0)), 1, cv2.LINE_AA)
        cv2.putText(
            img,
            f"{name} body SSIM",
            (pad + 5 + 200 * list(scored).index(name), pad + 5),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            colors.get(name, (0, 0, 0)),
            1,
            cv2.LINE_AA,
        )
    cv2.putText(img, "frame ->", (w - 90, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "0", (8, h - pad), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "1", (8, pad // 2 + 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def frame_sheet(path: Path, columns: list[list[np.ndarray]]) -> None:
    """A PNG of ``columns`` side by side, each a list of same-size RGB images stacked top to bottom
    (the worst frames: generated over real; evenly spaced frames: pose over generated over real)."""
    sheet = np.concatenate([np.concatenate(c, axis=0) for c in columns], axis=1)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def transfer_fidelity(
    output_video: str | Path, normalized_keypoints: np.ndarray, *, progress: bool = True
) -> dict:
    """Cross-subject transfer has no ground truth: score how well the output follows the pose it
    was asked for. Re-detect poses on ``output_video`` and compare them with ``normalized_keypoints``
    (the normalized source pose, ``(T, 137, 3)`` in the output's pixels): mean distance per part in
    pixels at 1024-wide scale, the missed-body rate, and the output's frame-to-frame flicker."""
    from dancenow.pose.mediapipe_backend import HolisticDetector
    from dancenow.video import iter_frames

    frames_seen, dists, missed, changes, prev = 0, {"body": [], "face": [], "hands": []}, 0, [], None
    bar = progress_bar(len(normalized_keypoints), "re-detect output", "frame", enabled=progress)
    with HolisticDetector() as det:
        for frame, target in zip(iter_frames(output_video), normalized_keypoints, strict=False):
            image = frame.image
            scale = 1024.0 / image.shape[1]
            found = det(image)
            if (target[BODY, 2] > 0).any() and not (found[BODY, 2] > 0).any():
                missed += 1
            for part, v in pose_distance(found, target, scale).items():
                if np.isfinite(v):
                    dists[part].append(v)
            if prev is not None:
                changes.append(float(np.abs(image.astype(np.float32) - prev).mean()))
            prev = image.astype(np.float32)
            frames_seen += 1
            bar.update(1)
    bar.close()
    out = {f"pose_{k}": float(np.mean(v)) for k, v in dists.items() if v}
    out |= {f"pose_{k}_frames": len(v) for k, v in dists.items()}
    out |= {
        "frames": frames_seen,
        "missed_body_rate": missed / max(frames_seen, 1),
        "flicker": float(np.mean(changes)) if changes else 0.0,
    }
    return out

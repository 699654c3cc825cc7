"""The paper's evaluation protocol (Sec. 5) on held-out frames, for a model and a baseline.

Every held-out frame is generated from its own pose, in order, each output fed into the next
(temporal feedback), and compared with the real frame: SSIM and PSNR on a box around the body
and on the face box; pose distance between keypoints re-detected (MediaPipe) on the generated
and on the real frame, per body / face / hands, in pixels at 1024-wide scale, over points found
in both, with the rate of frames where the body is found on the real frame but not on the
generated one, and per joint group (head, torso, arms, wrists and hands, legs, feet: distance,
PCK and whether raised wrists stay raised); a flicker measure against the real video; the body
box's L1; and an offline perceptual distance on the body and face boxes, the shift-tolerant
LPIPS (``stlpips_alex``, see :mod:`dancenow.evaluation.stlpips`). It is *not* the published
LPIPS (no AlexNet/VGG LPIPS weights offline), so it is never compared with the paper's 0.031.

The model is scored twice more. **At the video's size** (:mod:`~dancenow.evaluation.fullsize`):
the frame as transfer writes it against the real video frame, body and face boxes, with a
sharpness figure (model only: the baseline's frames are stored at the evaluation size). **Per
limb** (:mod:`~dancenow.evaluation.limbs`): the share of each limb's core that the person mask
and the generated alpha cover, on the scored frames and on a few runs of training frames.

The nearest-pose baseline returns, for each held-out frame, the training frame whose normalized
body pose (centred on the hips, scaled by the torso) is closest, and is scored by the same code.
"""

from __future__ import annotations

import csv
import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dancenow.data.crop import (
    crop_frame,
    face_boxes,
    face_size_for,
    transform_keypoints,
    untransform_keypoints,
    valid_region,
)
from dancenow.data.dataset import load_dataset_info
from dancenow.errors import InputError
from dancenow.evaluation.fullsize import PLAIN_PREFIX, FullSizeScore
from dancenow.evaluation.keypoints import GroupFidelity
from dancenow.evaluation.limbs import LimbCoverage, coverage_table
from dancenow.evaluation.metrics import body_box, crop_box, pose_distance, psnr, ssim
from dancenow.evaluation.stlpips import NAME as STLPIPS
from dancenow.evaluation.stlpips import load_stlpips, stlpips_distance
from dancenow.inference.model import load_model
from dancenow.inference.transfer import Compositor, FullSizeEnhancer, generate
from dancenow.pose.layout import BODY, JOINT_GROUPS, LIMB_KINDS
from dancenow.pose.nearest import nearest_pose_indices, normalized_body
from dancenow.pose.posefile import load_poses
from dancenow.pose.render import render_pose
from dancenow.utils.atomic import atomic_path, write_json
from dancenow.utils.precision import default_device
from dancenow.utils.progress import progress as progress_bar
from dancenow.video import iter_frames

PAPER = {  # EDN Table 1/2, their 1024x512 footage, T.S. + Face
    "body_ssim": 0.898,
    "body_lpips": 0.031,
    "face_ssim": 0.830,
    "pose_body": 2.57,
    "pose_face": 0.92,
    "pose_hands": 3.30,
}


class FrameReader:
    """Frames of a dataset's ``frames.npy`` ``(T, H, W, 3)`` uint8, read one at a time with plain
    file reads: memory stays at one frame however many are read (pages of a memory map would
    count towards the process's resident memory as they are touched)."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or dtype != np.uint8 or len(shape) != 4:
            raise InputError(path, f"expected a C-order uint8 (T, H, W, 3) array, got {dtype} {shape}")
        self.shape = shape
        self.frame_bytes = int(np.prod(shape[1:]))
        self._file = open(path, "rb")  # closed by close()

    def __getitem__(self, t: int) -> np.ndarray:
        self._file.seek(self.offset + int(t) * self.frame_bytes)
        data = self._file.read(self.frame_bytes)
        if len(data) != self.frame_bytes:
            raise InputError(self.path, f"frame {t} is truncated")
        return np.frombuffer(data, np.uint8).reshape(self.shape[1:]).copy()

    def frames(self, indices) -> Iterator[np.ndarray]:
        return (self[t] for t in indices)

    def close(self) -> None:
        self._file.close()


@dataclass
class Scored:
    rows: list[dict]  # one per frame
    summary: dict  # means and rates
    worst: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)  # (t, generated, real)
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # t -> (generated, real)


SUMMARY_KEYS = (  # per-frame values averaged into the summary
    "ssim",
    "psnr",
    "body_ssim",
    "body_psnr",
    "body_l1",
    f"body_{STLPIPS}",
    "face_ssim",
    "face_psnr",
    f"face_{STLPIPS}",
    "pose_body",
    "pose_face",
    "pose_hands",
)


def score_frame(
    g: np.ndarray,
    r: np.ndarray,
    keypoints: np.ndarray,
    face_box,
    *,
    perceptual: bool = True,
    inside: tuple[int, int, int, int] | None = None,
) -> dict:
    """Image metrics of one generated frame ``g`` against the real ``r`` (``(h, w, 3)`` uint8):
    whole-frame SSIM/PSNR; on the body box (from the real pose ``keypoints`` ``(137, 3)``) SSIM,
    PSNR, L1 (mean absolute difference, pixel values in [0, 1]) and the perceptual distance;
    on ``face_box`` SSIM, PSNR and the perceptual distance. ``inside``: ``(x0, y0, x1, y1)``, the
    only part of the frames scored (the rest lies beyond the video)."""
    if inside is not None:
        x0, y0, x1, y1 = inside
        g, r = g[y0:y1, x0:x1], r[y0:y1, x0:x1]
        keypoints = keypoints.copy()
        keypoints[:, :2] -= (x0, y0)
        fx0, fy0, fx1, fy1 = (int(v) for v in face_box)
        face_box = (max(fx0 - x0, 0), max(fy0 - y0, 0), max(min(fx1, x1) - x0, 0), max(min(fy1, y1) - y0, 0))
    h, w = r.shape[:2]
    row = {"ssim": ssim(g, r), "psnr": psnr(g, r)}
    box = body_box(keypoints, h, w)
    if box is not None:
        gb, rb = crop_box(g, box), crop_box(r, box)
        row |= {
            "body_ssim": ssim(gb, rb),
            "body_psnr": psnr(gb, rb),
            "body_l1": float(np.abs(gb.astype(np.float32) - rb.astype(np.float32)).mean() / 255.0),
        }
        if perceptual:
            row[f"body_{STLPIPS}"] = stlpips_distance(gb, rb)
    gf, rf = crop_box(g, face_box), crop_box(r, face_box)
    row |= {"face_ssim": ssim(gf, rf), "face_psnr": psnr(gf, rf)}
    if perceptual and min(gf.shape[:2]) >= 2:
        row[f"face_{STLPIPS}"] = stlpips_distance(gf, rf)
    return row


def score(
    generated: Iterable[np.ndarray],
    real: Iterable[np.ndarray],
    keypoints: np.ndarray,
    faces: np.ndarray,
    *,
    real_poses: list[np.ndarray] | None,
    progress: bool,
    label: str,
    keep_worst: int = 0,
    keep: Iterable[int] = (),
    perceptual: bool = True,
    inside: tuple[int, int, int, int] | None = None,
) -> Scored:
    """Compare generated with real frames (both ``(h, w, 3)`` uint8, model size) frame by frame,
    as they stream in: memory holds the per-frame rows, the ``keep_worst`` frames of lowest body
    SSIM and the frames listed in ``keep``, never the whole sequence.

    ``real_poses``: keypoints re-detected on the real frames (shared by every method scored), or
    None to skip the pose-distance metrics. ``inside``: ``(x0, y0, x1, y1)``, the part of the
    frames that shows the video (the image metrics leave the rest out).
    """
    redetect = real_poses is not None
    keep = set(keep)
    rows: list[dict] = []
    worst: list[tuple[float, int, np.ndarray, np.ndarray]] = []  # a heap: the highest SSIM on top
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    groups = GroupFidelity()
    changes, prev = [], None
    bar = progress_bar(len(keypoints), f"score {label}", "frame", enabled=progress)
    with ExitStack() as stack:
        det = stack.enter_context(_holistic()) if redetect else None
        for t, (g, r) in enumerate(zip(generated, real, strict=True)):
            row = {
                "frame": t,
                **score_frame(g, r, keypoints[t], faces[t], perceptual=perceptual, inside=inside),
            }
            if redetect:
                found = det(g)
                scale = 1024.0 / r.shape[1]
                row["body_found_real"] = bool((real_poses[t][BODY, 2] > 0).any())
                row["body_found_generated"] = bool((found[BODY, 2] > 0).any())
                for part, v in pose_distance(found, real_poses[t], scale).items():
                    row[f"pose_{part}"] = v
                groups.add(found, real_poses[t], scale)
            if prev is not None:  # flicker against the real video, one frame pair at a time
                dg = np.abs(g.astype(np.float32) - prev[0]).mean()
                dr = np.abs(r.astype(np.float32) - prev[1]).mean()
                changes.append(abs(float(dg - dr)))
            prev = (g.astype(np.float32), r.astype(np.float32))
            if keep_worst:
                heapq.heappush(worst, (-row.get("body_ssim", 1.0), -t, g, r))
                if len(worst) > keep_worst:
                    heapq.heappop(worst)
            if t in keep:
                kept[t] = (g, r)
            rows.append(row)
            bar.update(1)
    bar.close()
    summary = {}
    for key in SUMMARY_KEYS:
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
        summary |= groups.summary()
    summary["flicker_vs_real"] = float(np.mean(changes)) if changes else 0.0
    summary["frames"] = len(rows)
    worst_sorted = [(-mt, g, r) for _, mt, g, r in sorted(worst, key=lambda w: (-w[0], -w[1]))]
    return Scored(rows, summary, worst_sorted, kept)


@contextmanager
def _holistic():
    from dancenow.pose.mediapipe_backend import HolisticDetector

    with HolisticDetector() as det:
        yield det


def _detect_sequence(frames: Iterable[np.ndarray], total: int, desc: str, progress: bool) -> list[np.ndarray]:
    """Poses ``(137, 3)`` detected on each frame, in video mode (tracking across frames)."""
    out = []
    bar = progress_bar(total, desc, "frame", enabled=progress)
    with _holistic() as det:
        for f in frames:
            out.append(det(f))
            bar.update(1)
    bar.close()
    return out


class _EvalFrames:
    """The real frames of ``[start, stop)`` in the evaluation window: the stored held-out frames
    for the val split, else cropped from the target video as it is decoded."""

    def __init__(self, info, start: int, stop: int):
        self.info, self.start, self.stop = info, start, stop
        v0, v1 = info.split_range("val")
        self.stored = FrameReader(info.root / "eval_frames.npy") if (start, stop) == (v0, v1) else None

    def frames(self, indices) -> Iterator[np.ndarray]:
        """Frames ``indices`` (0 = ``start``, increasing)."""
        if self.stored is not None:
            return self.stored.frames(indices)
        return self._decode(list(indices))

    def _decode(self, indices: list[int]) -> Iterator[np.ndarray]:
        wanted = {self.start + i for i in indices}
        for t, frame in enumerate(iter_frames(self.info.source_video)):
            if t >= self.stop:
                break
            if t in wanted:
                yield crop_frame(frame.image, self.info.eval_crop, self.info.eval_size, border="black")

    def close(self) -> None:
        if self.stored is not None:
            self.stored.close()


@dataclass
class EvalGeometry:
    """Where evaluation compares frames: one fixed window of the original frame around
    everywhere the person goes (``dataset.json`` ``eval_crop``), at ``eval_size``, whatever the
    training crops; so models with different crops (or none) are scored on the same pixels."""

    info: object  # DatasetInfo
    start: int
    stop: int
    keypoints: np.ndarray  # (V, 137, 3) held-out poses in evaluation pixels
    faces: np.ndarray  # (V, 4) face boxes in evaluation pixels
    inside: tuple[int, int, int, int]  # the part of the evaluation window inside the video

    @classmethod
    def of(cls, info, start: int, stop: int) -> EvalGeometry:
        poses = load_poses(info.root / "poses.npz")
        ew, eh = info.eval_size
        kp = transform_keypoints(poses.keypoints[start:stop], info.eval_crop, (ew, eh))
        faces = face_boxes(kp, eh, ew, face_size_for(eh, ew))
        valid = valid_region(info.eval_crop, info.source_size, (ew, eh))
        rows, cols = np.flatnonzero(valid.any(1)), np.flatnonzero(valid.any(0))
        inside = (
            (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            if rows.size
            else (0, 0, ew, eh)
        )
        return cls(info, start, stop, kp, faces, inside)

    def model_frames(
        self,
        model,
        device,
        coverage: LimbCoverage | None = None,
        full_size: FullSizeScore | None = None,
        plain_full_size: FullSizeScore | None = None,
    ) -> Iterator[np.ndarray]:
        """The model's held-out frames as transfer makes them (each frame in its training window,
        through the full-size enhancer when the model has one, composited into the
        full-resolution plate), cut to the evaluation window. ``coverage``: also fed each frame's
        generated alpha against its person mask, in the training window; ``full_size``: also fed
        each full-resolution frame; ``plain_full_size``: the same frame without the enhancer."""
        info = self.info
        background = info.background()
        compositor = Compositor(background)
        enhancer = FullSizeEnhancer(model, background, device) if model.enhancer is not None else None
        size = (info.width, info.height)
        for crop, alpha, window, kp in _generated(
            model, info, self.start, self.stop, background, device, coverage
        ):
            video_kp = untransform_keypoints(kp, window, size)
            if enhancer is not None:
                if plain_full_size is not None:
                    plain_full_size.add(compositor(crop, alpha, window), video_kp)
                crop, alpha = enhancer(crop, alpha, kp, window)
            full = compositor(crop, alpha, window)
            if full_size is not None:
                full_size.add(full, video_kp)
            yield crop_frame(full, info.eval_crop, info.eval_size, border="black")


def _generated(model, info, start: int, stop: int, background, device, coverage: LimbCoverage | None):
    """``(crop, alpha, window, keypoints)`` of frames ``[start, stop)`` generated from their own poses in
    order (temporal feedback), each in its training window; ``coverage`` is fed each alpha."""
    # copies of the slices only: memory must not grow with the length of the video
    keypoints = np.array(np.load(info.root / "keypoints.npy", mmap_mode="r")[start:stop])
    windows = info.windows()[start:stop].copy()
    masks = np.load(info.root / "masks.npy", mmap_mode="r")
    frames = generate(model, keypoints, windows, background, device=device, progress=False)
    for i, (crop, alpha, _) in enumerate(frames):
        if coverage is not None:
            valid = valid_region(windows[i], info.source_size, (info.width, info.height))
            coverage.add(keypoints[i], np.asarray(masks[start + i]) / 255.0, alpha, valid)
        yield crop, alpha, windows[i], keypoints[i]


TRAIN_COVERAGE_RUNS = (4, 16)
"""Training frames whose limb coverage evaluation also measures: this many runs of this many
consecutive frames, evenly spaced over the training split (each run generated with feedback)."""


def training_coverage(model, info, device) -> dict:
    """:class:`LimbCoverage` of the model on training frames (``TRAIN_COVERAGE_RUNS``): a limb lost
    on the frames it was trained on is lost by the objective, not by generalization."""
    coverage = LimbCoverage()
    t0, t1 = info.split_range("train")
    runs, length = TRAIN_COVERAGE_RUNS
    length = min(length, t1 - t0)
    background = info.background()
    for s in np.linspace(t0, t1 - length, runs).round().astype(int):
        for _ in _generated(model, info, int(s), int(s) + length, background, device, coverage):
            pass
    return coverage.summary()


def evaluate(
    run: str | Path | None,
    dataset: str | Path,
    *,
    split: str = "val",
    baseline: str | None = None,
    out_dir: str | Path | None = None,
    redetect: bool = True,
    perceptual: bool = True,
    device: str | None = None,
    progress: bool = True,
    enhance: bool = True,
) -> dict:
    """Evaluate ``run`` (and/or the ``nearest-pose`` baseline) on ``split`` of ``dataset``.

    ``enhance``: through the run's full-size enhancer when it has one (the figures at the video's
    size are then also given without it, as ``plain_full_*``).

    Frames stream through: generated, scored and dropped one at a time, so memory does not grow
    with the number of held-out frames. ``perceptual``: also the shift-tolerant LPIPS distance.
    Writes ``evaluation.json``, ``frames.csv``, ``evaluation.md``, ``metrics_over_time.png``,
    ``worst_frames.png`` and ``heldout_frames.png`` (four evenly spaced frames: pose | generated |
    real) into ``out_dir`` when given. Returns the summary dict.
    """
    info = load_dataset_info(dataset)
    start, stop = info.split_range(split)
    if stop - start < 2:
        raise InputError(dataset, f"the {split} split has {stop - start} frames; nothing to evaluate")
    if baseline not in (None, "nearest-pose"):
        raise InputError(None, f"unknown baseline {baseline!r} (nearest-pose)")
    if baseline is not None and split != "val":
        raise InputError(
            None, "the nearest-pose baseline is scored on the held-out frames only (--split val)"
        )
    if split != "val" and not info.source_video.is_file():
        raise InputError(
            info.source_video,
            f"not found: the dataset stores only the held-out frames for evaluation, --split {split} "
            "reads the rest from the target video",
        )
    geometry = EvalGeometry.of(info, start, stop)
    kp, fb = geometry.keypoints, geometry.faces
    n = stop - start
    results: dict = {"split": split, "frames": n, "dataset": str(dataset), "paper": PAPER}
    if perceptual:
        load_stlpips()  # a missing package fails here, before minutes of generation
    model, dev = None, None
    if run is not None:
        dev = default_device(device)
        model = load_model(run, dev)
        if not enhance:
            model.enhancer = None
        if tuple(model.size) != (info.width, info.height):
            raise InputError(
                run,
                f"makes {model.size[0]}x{model.size[1]} frames but the dataset has "
                f"{info.width}x{info.height}",
            )
    reader = _EvalFrames(info, start, stop)
    baseline_reader = FrameReader(Path(dataset) / "baseline_frames.npy")
    try:
        methods: dict[str, Callable[[], Iterable[np.ndarray]]] = {}
        coverage, full_size, plain = LimbCoverage(), None, None
        if model is not None and info.source_video.is_file():
            full_size = FullSizeScore(info.source_video, start, stop, perceptual=perceptual)
            if model.enhancer is not None:
                plain = FullSizeScore(
                    info.source_video, start, stop, perceptual=perceptual, prefix=PLAIN_PREFIX
                )
        if model is not None:
            methods["model"] = lambda: geometry.model_frames(model, dev, coverage, full_size, plain)
        if baseline == "nearest-pose":
            t0, t1 = info.split_range("train")
            keypoints = np.load(Path(dataset) / "keypoints.npy")
            idx = nearest_pose_indices(
                normalized_body(keypoints[t0:t1]), normalized_body(keypoints[start:stop])
            )
            methods["nearest-pose"] = lambda: baseline_reader.frames(range(n))
            results["nearest_pose_train_indices"] = (idx + t0).tolist()
        real_poses = (
            _detect_sequence(reader.frames(range(n)), n, "re-detect real", progress) if redetect else None
        )
        spaced = np.linspace(0, n - 1, min(4, n)).round().astype(int).tolist()
        scored = {}
        for name, frames in methods.items():
            scored[name] = score(
                frames(),
                reader.frames(range(n)),
                kp,
                fb,
                inside=geometry.inside,
                real_poses=real_poses,
                progress=progress,
                label=name,
                keep_worst=6 if name == "model" else 0,
                keep=spaced if name == "model" else (),
                perceptual=perceptual,
            )
            results[name] = scored[name].summary
        if model is not None:
            results["model"] |= coverage.summary()
            if full_size is None:
                results["full_size"] = f"not scored: the target video {info.source_video} is not found"
            elif full_size.short:
                results["full_size"] = (
                    f"not scored: the target video {info.source_video} has fewer frames than the dataset"
                )
            else:
                results["model"] |= full_size.summary() | (plain.summary() if plain is not None else {})
            results["model_train_frames"] = training_coverage(model, info, dev)
    finally:
        reader.close()
        baseline_reader.close()
    if out_dir is not None:
        write_reports(Path(out_dir), results, scored, kp, spaced)
    return results


def write_reports(out: Path, results: dict, scored: dict[str, Scored], keypoints: np.ndarray, spaced) -> None:
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
        model = scored["model"]
        plot_over_time(out / "metrics_over_time.png", scored)
        frame_sheet(out / "worst_frames.png", [[g, r] for _, g, r in model.worst])
        h, w = next(iter(model.kept.values()))[1].shape[:2]
        frame_sheet(
            out / "heldout_frames.png",
            [[render_pose(keypoints[i], h, w), *model.kept[i]] for i in spaced],
        )


METRIC_ROWS = (  # (title, summary key, format) in report order
    ("body SSIM ↑", "body_ssim", "{:.3f}"),
    ("body PSNR (dB) ↑", "body_psnr", "{:.2f}"),
    ("body L1 ↓", "body_l1", "{:.4f}"),
    (f"body {STLPIPS} ↓ (not LPIPS)", f"body_{STLPIPS}", "{:.3f}"),
    ("face SSIM ↑", "face_ssim", "{:.3f}"),
    ("face PSNR (dB) ↑", "face_psnr", "{:.2f}"),
    (f"face {STLPIPS} ↓ (not LPIPS)", f"face_{STLPIPS}", "{:.3f}"),
    ("frame SSIM ↑", "ssim", "{:.3f}"),
    ("pose distance body ↓", "pose_body", "{:.2f}"),
    ("pose distance face ↓", "pose_face", "{:.2f}"),
    ("pose distance hands ↓", "pose_hands", "{:.2f}"),
    ("missed body detections ↓", "missed_body_rate", "{:.3f}"),
    ("flicker vs real ↓", "flicker_vs_real", "{:.2f}"),
    ("at the video's size: body SSIM ↑", "full_body_ssim", "{:.3f}"),
    ("at the video's size: body PSNR (dB) ↑", "full_body_psnr", "{:.2f}"),
    (f"at the video's size: body {STLPIPS} ↓", f"full_body_{STLPIPS}", "{:.3f}"),
    ("at the video's size: face SSIM ↑", "full_face_ssim", "{:.3f}"),
    (f"at the video's size: face {STLPIPS} ↓", f"full_face_{STLPIPS}", "{:.3f}"),
    ("at the video's size: sharpness (1 = the video's) ↑", "full_sharpness", "{:.2f}"),
    (f"without the enhancer: body {STLPIPS} ↓", f"{PLAIN_PREFIX}body_{STLPIPS}", "{:.3f}"),
    ("without the enhancer: face SSIM ↑", f"{PLAIN_PREFIX}face_ssim", "{:.3f}"),
    ("without the enhancer: sharpness ↑", f"{PLAIN_PREFIX}sharpness", "{:.2f}"),
)
STLPIPS_NOTE = (
    f"{STLPIPS}: shift-tolerant LPIPS (Ghildyal & Liu 2022, AlexNet, weights from the "
    "`stlpips-pytorch` wheel) on the body / face box, 0 = identical. It is not the published "
    "LPIPS: its numbers are not comparable with the paper's body LPIPS of 0.031."
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
    lines.append("| LPIPS (published) | " + " | ".join("not measured" for _ in methods) + " | 0.031 |")
    lines += ["", STLPIPS_NOTE]
    with_groups = [m for m in methods if "dist_torso" in results[m]]
    if with_groups:
        lines += ["", group_table({m: results[m] for m in with_groups})]
    if "model_train_frames" in results:
        split = results.get("split", "val")
        lines += [
            "",
            "Share of each limb's core (a capsule around its segment) that the person mask and the "
            "generated alpha cover:",
            "",
            coverage_table({split: results["model"], "train": results["model_train_frames"]}),
        ]
    return "\n".join(lines) + "\n"


def group_table(summaries: dict[str, dict]) -> str:
    """Per-joint-group fidelity (distance, PCK@0.2 torso) for each named summary, as Markdown."""
    names = list(summaries)
    lines = [
        "| joint group | " + " | ".join(f"{n} distance ↓ | {n} PCK ↑" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
    ]
    for g in JOINT_GROUPS:
        cells = []
        for n in names:
            s = summaries[n]
            d = format_metric(s, f"dist_{g}", "{:.1f}")
            cells += [f"{d} ({s.get(f'dist_{g}_frames', 0)})" if d != "n/a" else d]
            cells += [format_metric(s, f"pck_{g}", "{:.2f}")]
        lines.append(f"| {g.replace('_', ' and ')} | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        s = summaries[n]
        cells += [f"{format_metric(s, 'raised_wrist_kept', '{:.2f}')} (of {s['raised_wrist_events']})", ""]
    lines.append("| raised wrist drawn raised ↑ | " + " | ".join(cells) + " |")
    for k in (*LIMB_KINDS, "raised_wrist"):
        cells = []
        for n in names:
            s = summaries[n]
            v = format_metric(s, f"limb_drawn_{k}", "{:.2f}")
            cells += [f"{v} (of {s.get(f'limb_drawn_{k}_events', 0)})", ""]
        lines.append(f"| {k.replace('_', ' ')} drawn where asked ↑ | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    pixels at 1024-wide scale, the same and PCK per joint group with the share of raised wrists
    drawn raised (:class:`GroupFidelity`), the missed-body rate, and the output's flicker."""
    from dancenow.pose.mediapipe_backend import HolisticDetector
    from dancenow.video import iter_frames

    frames_seen, dists, missed, changes, prev = 0, {"body": [], "face": [], "hands": []}, 0, [], None
    groups = GroupFidelity()
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
            groups.add(found, target, scale)
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
    return out | groups.summary()

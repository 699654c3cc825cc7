"""``dancenow prepare``: turn a target video into a training dataset folder.

The folder (written atomically: a failure leaves nothing behind)::

    dataset.json    what was done: source, sizes, window size, face box size, splits (DatasetInfo),
                    how the background plate was made ("background"), the evaluation window
    frames.npy      (T, H, W, 3) uint8 RGB training frames, memory-mappable (no decoding while training);
                    black beyond the video's edges
    windows.npy     (T, 4) int64 each frame's crop window (x0, y0, x1, y1) in source pixels
    masks.npy       (T, H, W) uint8 person masks of those frames (255 = person), cropped like them
    keypoints.npy   (T, 137, 3) float32 keypoints in training-frame pixels (missing = 0)
    faces.npy       (T, 4) int32 face boxes (x0, y0, x1, y1) in training-frame pixels
    eval_frames.npy (V, E, E, 3) uint8 the held-out frames in the evaluation window (one fixed
                    window of the original frame around everywhere the person goes, E = H)
    baseline_frames.npy  (V, E, E, 3) uint8 the nearest-pose baseline's training frame for each
                    held-out frame, in the same window
    poses.npz       the pose file in source pixels, as `dancenow pose` writes it
    background.png  the target video's clean background plate without the person (data/plate.py),
                    at the video's size (transfer pastes generated crops back into it)
    background_uncovered.png  8-bit mask of the plate: 255 where the person never uncovered the
                    background (those pixels are inpainted), 0 elsewhere

Person masks come from MediaPipe's person segmentation (:class:`PersonSegmenter`, the mask
Holistic computes), run on every frame in the pass that writes the frames: the same pass serves
poses detected now and poses read from a file, and no per-frame mask outlives its frame.

Each frame is cropped with its own person-centred window (:func:`~dancenow.data.crop.person_windows`:
one size per video, portrait, following the dancer), or the whole frame letterboxed with
``full_frame=True``. Evaluation compares models in a fixed window of the original frame instead,
so designs with different crops compare; its real frames are stored here (the source video may
move away later).
Train/val split: the first ``1 - val_fraction`` of the frames train, the rest (contiguous, never
seen in training) validate, as in the paper's evaluation protocol.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dancenow.data import (
    DATASET_VERSION,
    DEFAULT_SIZE,
    DEFAULT_VAL_FRACTION,
    MAX_VAL_FRACTION,
    background_size,
    size_problem,
)
from dancenow.data import crop as cropping
from dancenow.data.plate import PlateBuilder, dilation_px
from dancenow.errors import InputError
from dancenow.pose.extract import DEFAULT_MAX_SIDE, detect_video
from dancenow.pose.layout import BODY
from dancenow.pose.mediapipe_backend import PersonSegmenter
from dancenow.pose.nearest import nearest_pose_indices, normalized_body
from dancenow.pose.posefile import PoseSequence, load_poses_of, save_poses
from dancenow.utils.atomic import atomic_dir
from dancenow.utils.disk import check_free_space
from dancenow.utils.progress import progress as progress_bar
from dancenow.video import iter_frames, probe

log = logging.getLogger(__name__)

__all__ = ["prepare_dataset"]


def _check_options(size, val_fraction: float, workers: int) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(None, f"size must be (width, height), got {size!r}") from None
    problem = size_problem(width, height)
    if problem:
        raise InputError(None, f"training size: {problem}")
    if not 0 <= val_fraction <= MAX_VAL_FRACTION:
        raise InputError(None, f"val fraction must be in [0, {MAX_VAL_FRACTION}], got {val_fraction}")
    if workers < 1:
        raise InputError(None, f"workers must be >= 1, got {workers}")
    return width, height


def _check_output(output: Path) -> None:
    """Refuse to replace anything that is not a dataset folder (``-o ~/Videos`` must not wipe it)."""
    if not output.exists():
        return
    if not output.is_dir():
        raise InputError(output, "exists and is not a folder; choose another output")
    if any(output.iterdir()) and not (output / "dataset.json").is_file():
        raise InputError(output, "exists and is not a dataset folder; choose another output")


@dataclass
class _Crops:
    """Where each frame goes: its training window and, for held-out frames, the evaluation window."""

    windows: np.ndarray  # (T, 4) int64 training windows, source pixels
    size: tuple[int, int]  # training (w, h)
    eval_window: tuple[int, int, int, int]
    eval_size: tuple[int, int]
    eval_slots: dict[int, list[tuple[str, int]]]  # frame -> [(array name, row)] of evaluation crops


def _write_frames(
    video: Path, folder: Path, crops: _Crops, num_frames: int, detected: np.ndarray, progress: bool
) -> PlateBuilder:
    """Stream the video into ``folder``: ``frames.npy`` ``(T, h, w, 3)`` and ``masks.npy``
    ``(T, h, w)`` uint8, one cropped frame and its person mask at a time, and the evaluation
    crops (``eval_frames.npy``, ``baseline_frames.npy``).

    Every frame is segmented (in order: the segmenter tracks the person); masks are cropped
    exactly like the frames, so they stay aligned pixel for pixel. Beyond the video's edges crops
    are black. ``detected``: ``(T,)`` bool, frames whose poses show a person. Returns the plate
    samples: up to ``BACKGROUND_SAMPLES`` frames spread over the video, with their masks, at
    :func:`~dancenow.data.background_size`.
    """
    width, height = crops.size
    plate = PlateBuilder(num_frames, BACKGROUND_SAMPLES)
    frames = np.lib.format.open_memmap(
        folder / "frames.npy", mode="w+", dtype=np.uint8, shape=(num_frames, height, width, 3)
    )
    masks = np.lib.format.open_memmap(
        folder / "masks.npy", mode="w+", dtype=np.uint8, shape=(num_frames, height, width)
    )
    rows = max([r + 1 for slots in crops.eval_slots.values() for _, r in slots], default=0)
    ew, eh = crops.eval_size
    evals = {name: np.zeros((rows, eh, ew, 3), np.uint8) for name in ("eval_frames", "baseline_frames")}
    count = 0
    bar = progress_bar(num_frames, f"prepare {video.name}", "frame", enabled=progress)
    try:
        with PersonSegmenter(max_side=DEFAULT_MAX_SIDE) as segment:
            for frame in iter_frames(video):
                if count == num_frames:
                    raise InputError(video, f"decodes to more frames than its {num_frames} poses")
                mask = segment(frame.image)
                window = crops.windows[count]
                frames[count] = cropping.crop_frame(frame.image, window, crops.size, border="black")
                masks[count] = cropping.crop_frame(mask, window, crops.size, border="black")
                for name, row in crops.eval_slots.get(count, ()):
                    evals[name][row] = cropping.crop_frame(
                        frame.image, crops.eval_window, crops.eval_size, border="black"
                    )
                if plate.wants(count):
                    plate.add(_shrink(frame.image), _shrink(mask), bool(detected[count]))
                count += 1
                bar.update(1)
        if count != num_frames:
            raise InputError(video, f"decodes to {count} frames, but its poses have {num_frames}")
        frames.flush()
        masks.flush()
    finally:
        bar.close()
        del frames, masks  # close the memory maps before the folder is renamed (or removed)
    for name, array in evals.items():
        np.save(folder / f"{name}.npy", array)
    return plate


BACKGROUND_SAMPLES = 25


def _shrink(image: np.ndarray) -> np.ndarray:
    """``(H, W, ...)`` ``image`` at :func:`~dancenow.data.background_size` (a copy)."""
    h, w = image.shape[:2]
    size = background_size((w, h))
    if size == (w, h):
        return image.copy()
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _write_plate(folder: Path, samples: PlateBuilder, seq: PoseSequence, source_size) -> dict:
    """Write ``background.png`` and ``background_uncovered.png``; returns how they were made."""
    scale = background_size(source_size)[0] / source_size[0]
    dilation = dilation_px(_person_height(seq) * scale)
    background, uncovered = samples.build(dilation)
    cv2.imwrite(str(folder / "background.png"), cv2.cvtColor(background, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "background_uncovered.png"), uncovered.astype(np.uint8) * 255)
    if uncovered.mean() > 0.02:
        log.info(
            "%.1f%% of the background is never uncovered by the person: inpainted "
            "(background_uncovered.png shows where)",
            100 * uncovered.mean(),
        )
    return {"samples": samples.used, "dilation_px": dilation, "uncovered_fraction": float(uncovered.mean())}


def _person_height(seq: PoseSequence) -> float:
    """Median height (source pixels) of the person's box over the frames where they are found."""
    boxes = cropping.person_boxes(seq.keypoints)
    heights = boxes[:, 3] - boxes[:, 1]
    heights = heights[np.isfinite(heights)]
    return float(np.median(heights)) if heights.size else 0.0


def _crops(
    seq: PoseSequence, source_size: tuple[int, int], size: tuple[int, int], full_frame: bool, splits
) -> _Crops:
    """Every frame's training window, the evaluation window, and which frames evaluation keeps
    (the held-out frames and, for each, its nearest-pose training frame)."""
    width, height = size
    num_frames = len(seq)
    eval_size = (height, height) if not full_frame else (width, height)
    if full_frame:
        window = cropping.full_frame_window(source_size, width / height)
        windows = np.tile(np.asarray(window, np.int64), (num_frames, 1))
        eval_window = window
    else:
        window_size = cropping.window_size_for(seq.keypoints, width / height)
        windows = cropping.person_windows(seq.keypoints, window_size, seq.fps)
        eval_window = cropping.person_window(seq.keypoints, source_size, 1.0)
    ch = int(windows[0, 3] - windows[0, 1])
    log.info("crop windows %dx%d source pixels, scale %.3f", windows[0, 2] - windows[0, 0], ch, height / ch)
    if height / ch > 1.5:
        log.warning(
            "the crop is %d px high in the source but %d px in training frames: frames will be blurry; "
            "a smaller --size suits this video better",
            ch,
            height,
        )
    (t0, t1), (v0, v1) = splits["train"], splits["val"]
    slots: dict[int, list[tuple[str, int]]] = {}
    for row, t in enumerate(range(v0, v1)):
        slots.setdefault(t, []).append(("eval_frames", row))
    if v1 > v0 and t1 > t0:
        nearest = nearest_pose_indices(
            normalized_body(seq.keypoints[t0:t1]), normalized_body(seq.keypoints[v0:v1])
        )
        for row, t in enumerate(nearest + t0):
            slots.setdefault(int(t), []).append(("baseline_frames", row))
    return _Crops(windows, (width, height), tuple(int(v) for v in eval_window), eval_size, slots)


def prepare_dataset(
    video: str | Path,
    output: str | Path,
    *,
    poses: str | Path | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    full_frame: bool = False,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Make a training dataset folder at ``output`` from the target ``video``.

    Args:
        video: the target person's video.
        output: dataset folder to create (an existing dataset folder is replaced; any other
            existing non-empty folder is refused).
        poses: a pose file of ``video`` (from ``dancenow pose``); default: detect poses now.
        size: ``(width, height)`` of the training frames, multiples of 32.
        val_fraction: the last ``val_fraction`` of the frames (contiguous) form the validation
            split, in [0, 0.9].
        full_frame: keep the whole frame (padded with black to the aspect ratio) instead of a
            window following the person.
        workers: pose-detection processes (only without ``poses``).
        progress: show progress bars.

    Returns:
        ``output`` as a Path.

    Raises:
        InputError: bad options, a bad video or pose file, a pose file of another video, no
            person in any frame, too few frames, not enough disk space.
    """
    width, height = _check_options(size, val_fraction, workers)
    video, output = Path(video), Path(output)
    _check_output(output)
    info = probe(video)
    # before pose detection (the long part): frames.npy and masks.npy dominate; keypoints, faces
    # and poses add a little
    per_frame = height * width * 4 + 2 * 137 * 3 * 4 + 48 + 2 * height * height * 3  # + evaluation crops
    check_free_space(output, info.num_frames * per_frame, "the dataset")
    if poses is not None:
        poses_path = Path(poses)
        seq = load_poses_of(poses_path, video, (info.width, info.height))
    else:
        poses_path = video
        seq = detect_video(video, workers=workers, progress=progress)
    detected = seq.detected(BODY)
    if not detected.any():
        raise InputError(poses_path, "no person detected in any frame")
    num_frames = len(seq)
    num_val = round(num_frames * val_fraction)
    num_train = num_frames - num_val
    if num_train < 2:
        raise InputError(video, f"too short: {num_frames} frames leave {num_train} for training (need 2)")

    source_size = (info.width, info.height)
    splits = {"train": [0, num_train], "val": [num_train, num_frames]}
    crops = _crops(seq, source_size, (width, height), full_frame, splits)
    keypoints = cropping.transform_keypoints(seq.keypoints, crops.windows, (width, height))
    face_size = cropping.face_size_for(height, width)
    faces = cropping.face_boxes(keypoints, height, width, face_size)

    meta = {
        "version": DATASET_VERSION,
        "source_video": str(video.resolve()),
        "source_size": [info.width, info.height],
        "fps": float(info.fps if info.fps > 0 else seq.fps),
        "num_frames": num_frames,
        "size": [width, height],
        "window_size": [int(v) for v in crops.windows[0, 2:] - crops.windows[0, :2]],
        "full_frame": bool(full_frame),
        "face_size": int(face_size),
        "splits": splits,
        "eval_crop": [int(v) for v in crops.eval_window],
        "eval_size": list(crops.eval_size),
        "detector": seq.detector,
        "body_detected_fraction": float(detected.mean()),
        "segmentation": PersonSegmenter.name,
    }
    with atomic_dir(output) as tmp:
        samples = _write_frames(video, tmp, crops, num_frames, detected, progress)
        meta["background"] = _write_plate(tmp, samples, seq, source_size)
        np.save(tmp / "windows.npy", crops.windows.astype(np.int64))
        np.save(tmp / "keypoints.npy", keypoints.astype(np.float32))
        np.save(tmp / "faces.npy", faces.astype(np.int32))
        save_poses(tmp / "poses.npz", seq)
        # dataset.json last: its presence marks a complete folder even if the rename were undone.
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info(
        "prepared %s: %d frames at %dx%d (train %d, val %d)",
        output,
        num_frames,
        width,
        height,
        num_train,
        num_val,
    )
    return output

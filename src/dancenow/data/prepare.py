"""``dancenow prepare``: turn a target video into a training dataset folder.

The folder (written atomically: a failure leaves nothing behind)::

    dataset.json    what was done: source, sizes, crop window, face box size, splits (DatasetInfo),
                    and how the background plate was made ("background")
    frames.npy      (T, H, W, 3) uint8 RGB training frames, memory-mappable (no decoding while training)
    masks.npy       (T, H, W) uint8 person masks of those frames (255 = person), cropped like them
    keypoints.npy   (T, 137, 3) float32 keypoints in training-frame pixels (missing = 0)
    faces.npy       (T, 4) int32 face boxes (x0, y0, x1, y1) in training-frame pixels
    poses.npz       the pose file in source pixels, as `dancenow pose` writes it
    background.png  the target video's clean background plate without the person (data/plate.py),
                    at the video's size (transfer pastes generated crops back into it)
    background_uncovered.png  8-bit mask of the plate: 255 where the person never uncovered the
                    background (those pixels are inpainted), 0 elsewhere

Person masks come from MediaPipe's person segmentation (:class:`PersonSegmenter`, the mask
Holistic computes), run on every frame in the pass that writes the frames: the same pass serves
poses detected now and poses read from a file, and no per-frame mask outlives its frame.

Frames are cropped with one fixed window that holds the person in every frame
(:mod:`dancenow.data.crop`), or the whole frame letterboxed with ``full_frame=True``.
Train/val split: the first ``1 - val_fraction`` of the frames train, the rest (contiguous, never
seen in training) validate, as in the paper's evaluation protocol.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from dancenow.data import (
    DATASET_VERSION,
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


def _write_frames(
    video: Path,
    folder: Path,
    window: tuple[int, int, int, int],
    size: tuple[int, int],
    num_frames: int,
    border: str,
    detected: np.ndarray,
    progress: bool,
) -> PlateBuilder:
    """Stream the video into ``folder``: ``frames.npy`` ``(T, h, w, 3)`` and ``masks.npy``
    ``(T, h, w)`` uint8, one cropped frame and its person mask at a time.

    Every frame is segmented (in order: the segmenter tracks the person); masks are cropped
    exactly like the frames, so they stay aligned pixel for pixel. ``detected``: ``(T,)`` bool,
    frames whose poses show a person. Returns the plate samples:
    up to ``BACKGROUND_SAMPLES`` frames spread over the video, with their masks, at
    :func:`~dancenow.data.background_size`.
    """
    width, height = size
    plate = PlateBuilder(num_frames, BACKGROUND_SAMPLES)
    frames = np.lib.format.open_memmap(
        folder / "frames.npy", mode="w+", dtype=np.uint8, shape=(num_frames, height, width, 3)
    )
    masks = np.lib.format.open_memmap(
        folder / "masks.npy", mode="w+", dtype=np.uint8, shape=(num_frames, height, width)
    )
    count = 0
    bar = progress_bar(num_frames, f"prepare {video.name}", "frame", enabled=progress)
    try:
        with PersonSegmenter(max_side=DEFAULT_MAX_SIDE) as segment:
            for frame in iter_frames(video):
                if count == num_frames:
                    raise InputError(video, f"decodes to more frames than its {num_frames} poses")
                mask = segment(frame.image)
                frames[count] = cropping.crop_frame(frame.image, window, size, border=border)
                masks[count] = cropping.crop_frame(mask, window, size, border=border)
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


def _crop_window(
    seq: PoseSequence, source_size: tuple[int, int], size: tuple[int, int], full_frame: bool
) -> tuple[tuple[int, int, int, int], str]:
    """The crop window (source pixels) and how to fill what lies beyond the frame."""
    width, height = size
    if full_frame:
        window, border = cropping.full_frame_window(source_size, width / height), "black"
    else:
        window, border = cropping.person_window(seq.keypoints, source_size, width / height), "replicate"
    scale = height / (window[3] - window[1])
    log.info("crop window %s (source pixels), scale %.3f", window, scale)
    if scale > 1.5:
        log.warning(
            "the crop is %d px high in the source but %d px in training frames: frames will be blurry; "
            "a smaller --size suits this video better",
            window[3] - window[1],
            height,
        )
    return window, border


def prepare_dataset(
    video: str | Path,
    output: str | Path,
    *,
    poses: str | Path | None = None,
    size: tuple[int, int] = (256, 256),
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
            crop around the person.
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
    check_free_space(output, info.num_frames * (height * width * 4 + 2 * 137 * 3 * 4 + 16), "the dataset")
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
    window, border = _crop_window(seq, source_size, (width, height), full_frame)
    keypoints = cropping.transform_keypoints(seq.keypoints, window, (width, height))
    face_size = cropping.face_size_for(height, width)
    faces = cropping.face_boxes(keypoints, height, width, face_size)

    meta = {
        "version": DATASET_VERSION,
        "source_video": str(video.resolve()),
        "source_size": [info.width, info.height],
        "fps": float(info.fps if info.fps > 0 else seq.fps),
        "num_frames": num_frames,
        "size": [width, height],
        "crop": [float(v) for v in window],
        "full_frame": bool(full_frame),
        "face_size": int(face_size),
        "splits": {"train": [0, num_train], "val": [num_train, num_frames]},
        "detector": seq.detector,
        "body_detected_fraction": float(detected.mean()),
        "segmentation": PersonSegmenter.name,
    }
    with atomic_dir(output) as tmp:
        samples = _write_frames(video, tmp, window, (width, height), num_frames, border, detected, progress)
        meta["background"] = _write_plate(tmp, samples, seq, source_size)
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

"""A clean background plate of a target video: the room without the person.

A plain per-pixel median over frames keeps a ghost of the person wherever they stand still for
a while (a tai-chi form, a turn on the spot): there the person *is* the median. The plate here
takes, for each pixel, the median over only the sampled frames where that pixel is outside the
dilated person mask. Pixels the person covers in every sample have no such frame; they are
filled by OpenCV inpainting from their surroundings and reported in a mask, so nothing
downstream mistakes them for seen background.

Memory stays bounded: :class:`PlateBuilder` keeps a fixed number of frames (spread over the
video, as they stream past) and computes the median in horizontal strips.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "BELOW",
    "DILATION",
    "INPAINT_RADIUS",
    "MIN_FREE",
    "PERSON_THRESHOLD",
    "PlateBuilder",
    "clean_plate",
    "dilation_px",
]

PERSON_THRESHOLD = 64
"""A mask value (0..255) above this counts as person: generous, since a missed person leaves a ghost."""
DILATION = 0.04
"""The person mask grows by this fraction of the person's height: the segmentation's soft edge,
loose hair and clothes."""
BELOW = 3
"""...and downward by this many times as much: shadows and floor reflections lie under the feet,
outside any person mask."""
MIN_FREE = 2
"""A pixel needs this many samples showing the background, or it is inpainted: one sample whose
mask missed the person (a segmentation dropout) must not paint the person back into the plate."""
INPAINT_RADIUS = 5  # pixels: OpenCV's neighbourhood for each inpainted pixel
_STRIP_BYTES = 32 * 2**20  # working memory of the masked median


def dilation_px(person_height: float) -> int:
    """Pixels by which to grow the person mask of a person ``person_height`` pixels tall (>= 2)."""
    return max(2, round(DILATION * person_height))


def _grow(person: np.ndarray, dilation: int) -> np.ndarray:
    """``(H, W)`` bool ``person`` grown by ``dilation`` pixels, and by ``BELOW`` x that downward."""
    m = person.astype(np.uint8)
    if dilation > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
        m = cv2.dilate(m, disc)
        down = BELOW * dilation
        # A column kernel anchored at its bottom: each pixel takes the mask from up to `down` rows above.
        m = cv2.dilate(m, np.ones((down + 1, 1), np.uint8), anchor=(0, down))
    return m > 0


def _masked_median_rows(frames: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median of ``frames`` ``(N, h, W, 3)`` uint8 over samples where ``person`` ``(N, h, W)``
    is False. Returns ``(h, W, 3)`` uint8 (0 where no sample is free) and ``(h, W)`` free-sample counts.
    """
    values = frames.astype(np.uint16)
    values[person] = 256  # sorts after every real value
    values.sort(axis=0)
    count = (~person).sum(axis=0)  # (h, W)
    lo = np.maximum(count - 1, 0) // 2
    hi = count // 2
    lo3 = np.broadcast_to(lo[None, ..., None], (1, *values.shape[1:]))
    hi3 = np.broadcast_to(np.minimum(hi, len(frames) - 1)[None, ..., None], (1, *values.shape[1:]))
    a = np.take_along_axis(values, lo3, axis=0)[0]
    b = np.take_along_axis(values, hi3, axis=0)[0]
    median = (a + b + 1) // 2  # np.median's mean of the two middle values, rounded half up
    median[count == 0] = 0
    return median.astype(np.uint8), count


def clean_plate(frames: np.ndarray, masks: np.ndarray, dilation: int) -> tuple[np.ndarray, np.ndarray]:
    """The background plate of ``frames`` with the person masked out.

    Args:
        frames: ``(N, H, W, 3)`` uint8 frames sampled over the video (any channel order).
        masks: ``(N, H, W)`` uint8 person masks of those frames (0..255; 255 = person).
        dilation: pixels by which each mask grows before it is applied (:func:`dilation_px`),
            and ``BELOW`` times as much downward.

    Returns:
        ``(plate, uncovered)``: ``(H, W, 3)`` uint8 plate, and ``(H, W)`` bool, True where fewer
        than :data:`MIN_FREE` samples showed the background (those pixels are inpainted).
    """
    frames = np.asarray(frames)
    masks = np.asarray(masks)
    if frames.ndim != 4 or frames.shape[-1] != 3 or masks.shape != frames.shape[:3] or len(frames) == 0:
        raise ValueError(f"need (N, H, W, 3) frames and (N, H, W) masks, got {frames.shape}, {masks.shape}")
    n, height, width = masks.shape
    person = np.stack([_grow(m > PERSON_THRESHOLD, dilation) for m in masks])  # (N, H, W)
    plate = np.empty((height, width, 3), np.uint8)
    uncovered = np.empty((height, width), bool)
    rows = max(1, _STRIP_BYTES // (n * width * 3 * 2))
    for r0 in range(0, height, rows):
        r1 = min(height, r0 + rows)
        plate[r0:r1], count = _masked_median_rows(frames[:, r0:r1], person[:, r0:r1])
        uncovered[r0:r1] = count < min(MIN_FREE, n)
    if uncovered.all():
        # Nothing to inpaint from (the person fills every sample): the plain median is the best
        # guess left, and every pixel is flagged as never seen.
        return np.median(frames, axis=0).astype(np.uint8), uncovered
    if uncovered.any():
        plate = cv2.inpaint(plate, uncovered.astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return plate, uncovered


class PlateBuilder:
    """Collects up to ``samples`` frames (with their masks) spread evenly over a ``num_frames`` video.

    Feed every frame in order to :meth:`add`; only the sampled ones are kept.
    """

    def __init__(self, num_frames: int, samples: int):
        # Evenly over the whole video, first and last frames included (a short video must not
        # be sampled only at its start).
        self.indices = frozenset(np.linspace(0, max(0, num_frames - 1), samples).round().astype(int).tolist())
        self.frames: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.trusted: list[bool] = []
        self.used = 0  # samples the plate was built from (after build)

    def wants(self, index: int) -> bool:
        """Whether frame ``index`` (0-based) is one of the samples."""
        return index in self.indices

    def add(self, frame: np.ndarray, mask: np.ndarray, person_detected: bool) -> None:
        """Keep one sampled ``(H, W, 3)`` uint8 frame and its ``(H, W)`` uint8 mask.

        ``person_detected``: the frame's poses show a person. If its mask is empty anyway (the
        segmenter lost them, as it can on a video's first frame), the sample is only used when
        no other is: its mask would call the person background.
        """
        self.frames.append(frame)
        self.masks.append(mask)
        self.trusted.append(not (person_detected and not (mask > PERSON_THRESHOLD).any()))

    def build(self, dilation: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`clean_plate` of the kept samples (those with a trusted mask, if any)."""
        keep = [i for i, ok in enumerate(self.trusted) if ok]
        if not keep:
            log.warning(
                "the person segmentation found nobody in the sampled frames: the background may show them"
            )
            keep = list(range(len(self.frames)))
        self.used = len(keep)
        return clean_plate(
            np.stack([self.frames[i] for i in keep]), np.stack([self.masks[i] for i in keep]), dilation
        )

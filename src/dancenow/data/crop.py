"""Where the training frames come from in the source video, and where the face is in them.

A dataset crops every frame with its OWN window, a person-centred window that follows the
dancer (:func:`person_windows`): one size (scale) for the whole video, portrait aspect, its
centre tracking the person's box, smoothed over time. The generator only draws the person (plus
an alpha map, composited over the clean background plate), so a moving window no longer teaches
a moving background. Windows are integer source pixels and may reach outside the frame; the
part outside is black and marked invalid (:func:`valid_region`): it is left out of every loss
and metric, never filled with replicated edge pixels. ``full_frame`` datasets keep one window,
the whole frame letterboxed (:func:`full_frame_window`).

Coordinates are continuous: source pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)``, so a frame
``W`` wide spans ``[0, W)``. A crop window ``(x0, y0, x1, y1)`` resized to ``(w, h)`` maps a
source point ``(x, y)`` to ``((x - x0) * w / (x1 - x0), (y - y0) * h / (y1 - y0))``. That is
exactly what ``cv2.resize`` does to the pixels of an integer window (pixel centres at ``i + 0.5``
on both sides), so keypoints and pixels stay registered to a small fraction of a pixel.

The person box rule (constants below): per frame, the box of all keypoints present (body,
face, hands), extended upward by ``HEAD_TOP`` x the nose-to-neck distance above the highest head
point (the nose and eyes are not the top of the head), downward by ``FEET_BELOW`` x that
distance (heels and soles under the ankles), and sideways by ``SIDE`` x that distance (arms and
hair are wider than joints). Each box edge is passed through a running median of
``SPIKE_WINDOW`` frames, which deletes detector glitches lasting up to ``SPIKE_WINDOW // 2``
frames.

:func:`person_windows` (per frame, the default): the window's height is the largest filtered
box (its height, or its width over the aspect) plus ``MARGIN`` on each side, the same in every
frame; its centre is the box centre, smoothed by a Gaussian of ``SMOOTH_SECONDS``.
:func:`person_window` (one window for the whole video, every position the person takes): kept
for evaluation, which scores every model in the same fixed window of the original frame.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings

import cv2
import numpy as np

from dancenow.pose.layout import FACE, NUM_KEYPOINTS, B

log = logging.getLogger(__name__)

__all__ = [
    "crop_frame",
    "face_boxes",
    "face_size_for",
    "full_frame_window",
    "head_units",
    "person_boxes",
    "person_window",
    "person_windows",
    "ScaledCropper",
    "window_size_for",
    "transform_keypoints",
    "valid_region",
]

HEAD_TOP = 0.6  # head top above the highest head point, in nose-to-neck distances
FEET_BELOW = 0.3  # soles below the lowest point (often an ankle), in nose-to-neck distances
SIDE = 0.25  # flesh and hair beyond the outermost joints, in nose-to-neck distances
MARGIN = 0.08  # added on each side, as a fraction of the window's width / height
SPIKE_WINDOW = 5  # running-median length (frames): glitches of <= 2 frames are ignored
MIN_CROP = 16  # smallest crop side in source pixels (a lone keypoint must not give a 1 px crop)
SMOOTH_SECONDS = 0.1  # standard deviation of the Gaussian that smooths the window's centre

# Head points: nose, eyes, ears (BODY_25) and the whole face.
_HEAD = np.r_[
    [B["nose"], B["right_eye"], B["left_eye"], B["right_ear"], B["left_ear"]], FACE.start : FACE.stop
]
# Without any nose-to-neck distance in the whole video, assume this fraction of the box height.
_UNIT_PER_BOX_HEIGHT = 0.13


def _present(keypoints: np.ndarray) -> np.ndarray:
    return (keypoints[..., 2] > 0) & np.isfinite(keypoints[..., :2]).all(axis=-1)


def _check(keypoints: np.ndarray) -> np.ndarray:
    keypoints = np.asarray(keypoints)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be (T, {NUM_KEYPOINTS}, 3), got {keypoints.shape}")
    return keypoints


@contextlib.contextmanager
def _quiet_nan():
    """Silence numpy's 'All-NaN slice' warning: frames without any keypoint are expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def head_units(keypoints: np.ndarray) -> np.ndarray:
    """``(T,)`` nose-to-neck distance per frame (pixels); the video's median where either is missing.

    The one length that every detector gives and that scales with the person's size in the image.
    """
    kp = _check(keypoints)
    nose, neck = kp[:, B["nose"]], kp[:, B["neck"]]
    ok = _present(nose) & _present(neck)
    unit = np.hypot(*(nose[:, :2] - neck[:, :2]).T)
    ok &= unit > 0
    if ok.any():
        fallback = float(np.median(unit[ok]))
    else:
        present = _present(kp)
        ys = np.where(present, kp[..., 1], np.nan)
        with _quiet_nan():
            heights = np.nanmax(ys, axis=1) - np.nanmin(ys, axis=1)
        heights = heights[np.isfinite(heights)]
        fallback = _UNIT_PER_BOX_HEIGHT * float(np.median(heights)) if heights.size else 0.0
    return np.where(ok, unit, fallback)


def person_boxes(keypoints: np.ndarray) -> np.ndarray:
    """``(T, 4)`` float64 ``(x0, y0, x1, y1)`` per frame around the whole person, NaN where nobody is.

    The box of the keypoints present, extended to the head top, under the feet and sideways
    (see the module docstring).
    """
    kp = _check(keypoints).astype(np.float64)
    present = _present(kp)
    xs = np.where(present, kp[..., 0], np.nan)
    ys = np.where(present, kp[..., 1], np.nan)
    with _quiet_nan():
        boxes = np.stack([np.nanmin(xs, 1), np.nanmin(ys, 1), np.nanmax(xs, 1), np.nanmax(ys, 1)], axis=1)
        head_y = np.nanmin(ys[:, _HEAD], axis=1)  # NaN without any head point
    unit = head_units(kp)
    neck = kp[:, B["neck"]]
    has_neck = _present(neck)
    # The head top is above the highest head point; with no head point at all (occluded, out of
    # the frame), it is ~1.6 nose-to-neck distances above the neck.
    top = np.where(
        np.isfinite(head_y),
        head_y - HEAD_TOP * unit,
        np.where(has_neck, neck[:, 1] - (1 + HEAD_TOP) * unit, boxes[:, 1]),
    )
    boxes[:, 1] = np.fmin(boxes[:, 1], top)
    boxes[:, 3] += FEET_BELOW * unit
    boxes[:, 0] -= SIDE * unit
    boxes[:, 2] += SIDE * unit
    return boxes


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median of a 1-D series; the ends use the frames that exist."""
    if len(values) < 3 or window < 3:
        return values
    half = window // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.median(windows, axis=1)


def _filtered_boxes(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 4)`` person boxes whose edges are spike-filtered (:func:`_running_median`) over the
    frames that have one, NaN elsewhere, and ``(T,)`` bool: which frames have one.

    The present frames are filtered as one series: a dropout is not a position.

    Raises:
        ValueError: no keypoint in any frame.
    """
    boxes = person_boxes(keypoints)
    ok = np.isfinite(boxes).all(axis=1)
    if not ok.any():
        raise ValueError("no keypoints in any frame")
    boxes[ok] = np.stack([_running_median(boxes[ok, k], SPIKE_WINDOW) for k in range(4)], axis=1)
    return boxes, ok


def _fit(lo: float, size: int, frame: int) -> int:
    """Shift an integer interval ``[lo, lo + size)`` to lie inside ``[0, frame)``.

    When it is longer than the frame it is kept as close to where it was while still covering
    the whole frame, so no frame pixel that could be used is thrown away.
    """
    a, b = min(0, frame - size), max(0, frame - size)
    return int(min(max(round(lo), a), b))


def _aspect_window(box, aspect: float, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Grow float ``box`` around its centre to ``aspect`` (w/h), round to integers, fit into the frame."""
    x0, y0, x1, y1 = box
    bw, bh = max(x1 - x0, MIN_CROP), max(y1 - y0, MIN_CROP)
    if bw / bh > aspect:
        cw = math.ceil(bw)
        ch = max(1, round(cw / aspect))
    else:
        ch = math.ceil(bh)
        cw = max(1, round(ch * aspect))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    fw, fh = frame_size
    left = _fit(cx - cw / 2, cw, fw)
    top = _fit(cy - ch / 2, ch, fh)
    return left, top, left + cw, top + ch


def person_window(
    keypoints: np.ndarray, frame_size: tuple[int, int], aspect: float, *, margin: float = MARGIN
) -> tuple[int, int, int, int]:
    """One crop window ``(x0, y0, x1, y1)`` (integer source pixels) holding the person in every frame.

    Args:
        keypoints: ``(T, 137, 3)`` in source pixels (confidence 0 = missing).
        frame_size: source ``(W, H)``.
        aspect: training width / height; the window has this aspect ratio to within half a pixel.
        margin: added on each side, as a fraction of the person window's width / height.

    Raises:
        ValueError: no keypoint in any frame.
    """
    boxes, ok = _filtered_boxes(keypoints)
    filtered = boxes[ok]
    x0, y0 = filtered[:, 0].min(), filtered[:, 1].min()
    x1, y1 = filtered[:, 2].max(), filtered[:, 3].max()
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    window = _aspect_window((x0 - mx, y0 - my, x1 + mx, y1 + my), aspect, frame_size)
    # Verify: the frames whose own (unextended) keypoints leave the window are the ones judged to
    # be glitches; say how many, so a bad detection run does not go unnoticed.
    kp = _check(keypoints)
    present = _present(kp)
    wx0, wy0, wx1, wy1 = window
    outside = present & ((kp[..., 0] < wx0) | (kp[..., 0] >= wx1) | (kp[..., 1] < wy0) | (kp[..., 1] >= wy1))
    cut = int(outside.any(axis=1).sum())
    if cut:
        log.warning(
            "%d of %d frames have keypoints outside the crop window (treated as detection glitches)",
            cut,
            len(kp),
        )
    return window


def _nearest_present(ok: np.ndarray) -> np.ndarray:
    """``(T,)`` index of the nearest frame where ``ok`` (``(T,)`` bool, some True) holds, the
    earlier on a tie: each frame's own index where it holds."""
    have = np.flatnonzero(ok)
    pos = np.searchsorted(have, np.arange(len(ok)))
    before = have[np.clip(pos - 1, 0, len(have) - 1)]
    after = have[np.clip(pos, 0, len(have) - 1)]
    t = np.arange(len(ok))
    return np.where(np.abs(t - before) <= np.abs(after - t), before, after)


def _gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing of ``(T,)`` ``values`` (ends reflected)."""
    if sigma <= 0 or len(values) < 2:
        return values.astype(np.float64)
    radius = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values.astype(np.float64), radius, mode="reflect" if len(values) > radius else "edge")
    return np.convolve(padded, kernel, mode="valid")


def window_size_for(keypoints: np.ndarray, aspect: float, *, margin: float = MARGIN) -> tuple[int, int]:
    """``(width, height)`` in source pixels of the person-centred window of a video: the largest
    (spike-filtered) person box, plus ``margin`` on each side, grown to ``aspect`` (w/h)."""
    boxes, ok = _filtered_boxes(keypoints)
    filtered = boxes[ok]
    heights = np.maximum(filtered[:, 3] - filtered[:, 1], (filtered[:, 2] - filtered[:, 0]) / aspect)
    ch = max(MIN_CROP, math.ceil(float(heights.max()) * (1 + 2 * margin)))
    return max(1, round(ch * aspect)), ch


def person_windows(
    keypoints: np.ndarray,
    window_size: tuple[int, int],
    fps: float,
    *,
    smooth_seconds: float = SMOOTH_SECONDS,
) -> np.ndarray:
    """``(T, 4)`` int64 windows ``(x0, y0, x1, y1)`` (source pixels), one per frame, all
    ``window_size = (w, h)``, centred on the person's (spike-filtered, smoothed) box.

    Frames without any keypoint take the window of the nearest frame with one. The windows are
    never shifted into the frame: what lies outside is invalid (:func:`valid_region`).

    Raises:
        ValueError: no keypoint in any frame.
    """
    boxes, ok = _filtered_boxes(keypoints)
    filtered = boxes[_nearest_present(ok)]
    sigma = smooth_seconds * fps
    cx = _gaussian_smooth((filtered[:, 0] + filtered[:, 2]) / 2, sigma)
    cy = _gaussian_smooth((filtered[:, 1] + filtered[:, 3]) / 2, sigma)
    w, h = (int(v) for v in window_size)
    x0 = np.round(cx - w / 2).astype(np.int64)
    y0 = np.round(cy - h / 2).astype(np.int64)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def valid_region(
    window: tuple[float, float, float, float], frame_size: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """``(h, w)`` bool: the pixels of the ``size = (w, h)`` crop of ``window`` that lie wholly
    inside the ``frame_size = (W, H)`` video (True), as against beyond its edges (False)."""
    x0, y0, x1, y1 = (float(v) for v in window)
    fw, fh = frame_size
    w, h = size
    sx, sy = (x1 - x0) / w, (y1 - y0) / h  # source pixels per crop pixel
    cols = np.arange(w)
    rows = np.arange(h)
    # a small tolerance: a crop pixel whose edge lands on the frame's edge is inside
    eps = 1e-6
    col_ok = (x0 + cols * sx >= -eps) & (x0 + (cols + 1) * sx <= fw + eps)
    row_ok = (y0 + rows * sy >= -eps) & (y0 + (rows + 1) * sy <= fh + eps)
    return row_ok[:, None] & col_ok[None, :]


def full_frame_window(frame_size: tuple[int, int], aspect: float) -> tuple[int, int, int, int]:
    """The whole ``(W, H)`` frame, padded equally on both sides to ``aspect`` (letterbox / pillarbox)."""
    fw, fh = frame_size
    if fw / fh > aspect:
        ch = max(fh, round(fw / aspect))
        top = -((ch - fh) // 2)
        return 0, top, fw, top + ch
    cw = max(fw, round(fh * aspect))
    left = -((cw - fw) // 2)
    return left, 0, left + cw, fh


class ScaledCropper:
    """Crops of one still ``image`` (the background plate) for many windows of one size.

    ``image`` shows the whole ``source_size = (W, H)`` video (it may be stored smaller); every
    window is ``window_size`` source pixels and becomes ``size = (w, h)`` crop pixels. The image
    is resized once to the crop scale, then each window is a sub-pixel translation of it (black,
    i.e. invalid, beyond the frame): registered with :func:`crop_frame` of the same window.
    """

    def __init__(
        self,
        image: np.ndarray,
        source_size: tuple[int, int],
        window_size: tuple[int, int],
        size: tuple[int, int],
    ):
        (sw, sh), (cw, ch), (w, h) = source_size, window_size, size
        self.sx, self.sy = w / cw, h / ch  # crop pixels per source pixel
        target = (max(1, round(sw * self.sx)), max(1, round(sh * self.sy)))
        shrink = target[0] < image.shape[1] or target[1] < image.shape[0]
        self.image = cv2.resize(image, target, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        self.fx, self.fy = target[0] / sw, target[1] / sh  # scaled-image pixels per source pixel
        self.size = (w, h)

    def __call__(self, window) -> np.ndarray:
        x0, y0 = float(window[0]), float(window[1])
        # crop pixel centre u + 0.5 is source x0 + (u + 0.5) / sx, i.e. scaled-image pixel index
        # (x0 + (u + 0.5) / sx) * fx - 0.5
        ax, ay = self.fx / self.sx, self.fy / self.sy
        m = np.array(
            [[ax, 0.0, x0 * self.fx + 0.5 * ax - 0.5], [0.0, ay, y0 * self.fy + 0.5 * ay - 0.5]], np.float64
        )
        return cv2.warpAffine(
            self.image,
            m,
            self.size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )


def crop_frame(
    image: np.ndarray,
    window: tuple[int, int, int, int],
    size: tuple[int, int],
    *,
    border: str = "replicate",
) -> np.ndarray:
    """Cut integer ``window`` out of ``(H, W, 3)`` (or ``(H, W)``) ``image``, resized to ``size = (w, h)``.

    Outside the frame the window is filled with the nearest edge pixels (``border="replicate"``)
    or black (``"black"``). Shrinking uses area averaging (no aliasing); enlarging, bicubic.

    Returns:
        ``(h, w, 3)`` (or ``(h, w)``) uint8.
    """
    x0, y0, x1, y1 = (int(v) for v in window)
    fh, fw = image.shape[:2]
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty crop window {window}")
    # The part of the window inside the frame (possibly empty when the window misses the frame).
    ix0, iy0 = min(max(x0, 0), fw), min(max(y0, 0), fh)
    ix1, iy1 = max(min(x1, fw), ix0), max(min(y1, fh), iy0)
    if ix1 == ix0 or iy1 == iy0:
        region = np.zeros((y1 - y0, x1 - x0, *image.shape[2:]), np.uint8)
    else:
        region = image[iy0:iy1, ix0:ix1]
        pads = (iy0 - y0, y1 - iy1, ix0 - x0, x1 - ix1)  # top, bottom, left, right
        if any(pads):
            if border == "replicate":
                region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_REPLICATE)
            elif border == "black":
                region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_CONSTANT, value=0)
            else:
                raise ValueError(f"border must be 'replicate' or 'black', got {border!r}")
    w, h = size
    if region.shape[1] == w and region.shape[0] == h:
        return np.ascontiguousarray(region)
    shrink = region.shape[1] > w or region.shape[0] > h
    return cv2.resize(region, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def transform_keypoints(
    keypoints: np.ndarray, window: tuple[float, float, float, float], size: tuple[int, int]
) -> np.ndarray:
    """Source-pixel keypoints ``(..., 137, 3)`` -> pixels of the ``size = (w, h)`` crop of ``window``
    (one ``(4,)`` window, or ``(T, 4)``: one per frame of ``(T, 137, 3)`` keypoints).

    Missing keypoints stay ``(0, 0, 0)``; confidences are kept.
    """
    kp = np.asarray(keypoints, np.float32)
    win = np.asarray(window, np.float64)
    if win.ndim == 2:  # one window per frame: (T, 4) against (T, 137, 3)
        if len(win) != len(kp):
            raise ValueError(f"{len(win)} windows for {len(kp)} frames")
        win = win[:, None, :]
    x0, y0, x1, y1 = (win[..., k] for k in range(4))
    w, h = size
    present = _present(kp)
    out = np.zeros_like(kp)
    out[..., 0] = np.where(present, (kp[..., 0] - x0) * (w / (x1 - x0)), 0.0)
    out[..., 1] = np.where(present, (kp[..., 1] - y0) * (h / (y1 - y0)), 0.0)
    out[..., 2] = np.where(present, kp[..., 2], 0.0)
    return out


def untransform_keypoints(
    keypoints: np.ndarray, window: tuple[float, float, float, float], size: tuple[int, int]
) -> np.ndarray:
    """The inverse of :func:`transform_keypoints` for one window: ``(..., 137, 3)`` pixels of the
    ``size = (w, h)`` crop of ``window`` -> source pixels. Missing keypoints stay ``(0, 0, 0)``."""
    kp = np.asarray(keypoints, np.float32)
    x0, y0, x1, y1 = (float(v) for v in window)
    w, h = size
    present = _present(kp)
    out = np.zeros_like(kp)
    out[..., 0] = np.where(present, x0 + kp[..., 0] * ((x1 - x0) / w), 0.0)
    out[..., 1] = np.where(present, y0 + kp[..., 1] * ((y1 - y0) / h), 0.0)
    out[..., 2] = np.where(present, kp[..., 2], 0.0)
    return out


def face_size_for(height: int, width: int | None = None) -> int:
    """Side of the face box for frames ``height`` pixels high: height / 8 in multiples of 8, >= 16.

    DESIGN section 7: 128 px at 1024 px high. Never larger than the frame's shorter side.
    """
    size = max(16, 8 * round(height / 64))
    limit = min(height, width if width is not None else height)
    return min(size, limit)


def face_boxes(keypoints: np.ndarray, height: int, width: int, face_size: int) -> np.ndarray:
    """``(T, 4)`` int32 ``(x0, y0, x1, y1)`` square face boxes of side ``face_size`` inside the frame.

    Centred on the nose, or the mean of the ears present when the nose is missing; a frame
    without either takes the box of the nearest frame that has one (the earlier on a tie).
    Boxes are shifted, never shrunk, to stay inside ``[0, width) x [0, height)``.

    Args:
        keypoints: ``(T, 137, 3)`` in pixels of the frame the boxes are for.
    """
    kp = _check(keypoints).astype(np.float64)
    if not 1 <= face_size <= min(height, width):
        raise ValueError(f"face_size {face_size} does not fit a {width}x{height} frame")
    nose = kp[:, B["nose"]]
    ears = kp[:, [B["right_ear"], B["left_ear"]]]
    ear_ok = _present(ears)
    n_ears = ear_ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ear_mean = (ears[..., :2] * ear_ok[..., None]).sum(axis=1) / n_ears[:, None]
    nose_ok = _present(nose)
    centre = np.where(nose_ok[:, None], nose[:, :2], ear_mean)
    ok = nose_ok | (n_ears > 0)
    if not ok.any():
        log.warning("no nose or ear in any frame: face boxes placed at the top centre")
        centre = np.tile([width / 2, face_size / 2], (len(kp), 1))
    elif not ok.all():
        centre = centre[_nearest_present(ok)]
    x0 = np.clip(np.round(centre[:, 0] - face_size / 2), 0, width - face_size)
    y0 = np.clip(np.round(centre[:, 1] - face_size / 2), 0, height - face_size)
    return np.stack([x0, y0, x0 + face_size, y0 + face_size], axis=1).astype(np.int32)

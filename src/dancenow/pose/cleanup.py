"""Keypoint clean-up: fill short dropouts, then smooth jitter with a One-Euro filter.

Everything works on ``(T, 137, 3)`` float32 arrays in the ``openpose137`` layout
(x, y in pixels, confidence; confidence 0 = missing and then x = y = 0), one keypoint
at a time, so a dropped wrist never disturbs the elbow.

Why One-Euro (Casiez, Roussel, Vogel, CHI 2012): a dancer's limbs alternate between
holds, where detector jitter of a few pixels is what the eye sees, and swings of
thousands of pixels per second, where any fixed low-pass visibly lags. One-Euro is a
first-order low-pass whose cutoff rises with the (smoothed) speed,
``cutoff = min_cutoff + beta * |dx/dt|``: strong smoothing on holds, almost none in swings.

Units. Coordinates are divided by ``scale`` (normally the frame height) before filtering,
so speeds are in *frame heights per second* and the same ``beta`` suits 480p and 4K.
``min_cutoff`` and ``d_cutoff`` are in Hz.

Offline, the whole video is known, so :func:`smooth` by default averages a forward and a
backward pass. Each pass lags by the same amount in opposite directions, so the average
has (to first order) no lag at all, and its noise is lower than either pass alone. On a 2 Hz,
200 px swing at 1080p, 30 fps (84 px per frame at mid-swing) with 3 px of noise, the forward pass
alone trails by ~0.15 frame and is off by ~10 px RMS; the average is off by ~3.7 px, with no lag.
The price is at the ends of a present stretch, where one pass has no history: there the
average keeps up to half of the other pass's lag for a few frames (at most ~1/(4*pi*beta)
frame heights, ~5 px at 1080p with the defaults).

Limit worth knowing: a first-order filter rounds the turning points of a fast swing (the
speed is zero there, so the cutoff drops). That is most of the 3.7 px above, about the jitter
of a good detector; a setting that rounds less lets correspondingly more jitter through on holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from dancenow.pose.layout import NUM_KEYPOINTS, PARTS
from dancenow.pose.posefile import PoseSequence

# Default One-Euro parameters (units in the module docstring), tuned on synthetic 30 fps tracks
# with the bidirectional pass (numbers in tests/pose/test_cleanup.py and the notes below):
# - MIN_CUTOFF 0.5 Hz: a still joint with 3 px of noise at 1080p keeps ~0.35-0.4 of its jitter.
# - BETA 16 per frame-height/s: by 0.3 h/s (a slow arm raise) the cutoff is already ~5 Hz, and a
#   2 Hz / 200 px swing (2.3 h/s peak) is tracked with zero lag and ~3.5 px of rounding at its
#   turning points. Higher beta rounds less but lets noise through on holds (noise itself reads
#   as speed, ~0.1 h/s for 3 px at 30 fps): beta 32 with d_cutoff 12 trades hold jitter 0.35 -> 0.5
#   of the raw for swing error 1.3 -> 1.0 of it at 3 px noise.
# - D_CUTOFF 8 Hz, not Casiez's 1 Hz: the speed estimate is itself low-passed, and at 1 Hz it lags
#   a 2 Hz swing by ~60 degrees, so the cutoff collapses mid-swing and the limb is smoothed exactly
#   when it moves fastest.
# Per-part values can be given as {part: value}; the defaults are the same for every part because
# the face rides on a head that bobs as fast as the torso, and lowering the face's beta to 8 made
# a 1 Hz / 50 px head bob 1.5x noisier than the raw points; hands travel with the wrists.
MIN_CUTOFF = 0.5
BETA = 16.0
D_CUTOFF = 8.0


def _present(keypoints: np.ndarray) -> np.ndarray:
    """``(..., K)`` bool: confidence > 0."""
    return keypoints[..., 2] > 0


def _check(keypoints: np.ndarray) -> np.ndarray:
    keypoints = np.asarray(keypoints)
    if keypoints.ndim != 3 or keypoints.shape[2] != 3:
        raise ValueError(f"keypoints must be (T, K, 3), got {keypoints.shape}")
    return keypoints


def fill_gaps(keypoints: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate short dropouts of each keypoint.

    Args:
        keypoints: ``(T, K, 3)`` (x, y, confidence), confidence 0 = missing.
        max_gap: longest run of missing frames (in frames) that is filled; 0 fills nothing.

    Returns:
        A new ``(T, K, 3)`` float32 array. A run of missing frames is filled only when it is
        interior (the keypoint is present just before and just after it) and at most ``max_gap``
        long; x, y are interpolated linearly in time (frame index) and the confidence is the
        smaller of the two neighbours' (a guess is no surer than its weakest anchor). Longer,
        leading and trailing gaps stay missing: extrapolating a dancer's limb is a guess too far.
    """
    keypoints = _check(keypoints)
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    out = keypoints.astype(np.float32, copy=True)
    num_frames = len(out)
    if num_frames == 0 or max_gap == 0:
        return out
    present = _present(out)  # (T, K)
    t = np.arange(num_frames)[:, None]
    # Index of the last present frame at or before t, and of the first at or after t
    # (-1 and T when there is none); running max/min make this one vectorised pass.
    prev = np.maximum.accumulate(np.where(present, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(present, t, num_frames)[::-1], axis=0)[::-1]
    fill = ~present & (prev >= 0) & (nxt < num_frames) & (nxt - prev - 1 <= max_gap)
    if not fill.any():
        return out
    ti, ki = np.nonzero(fill)
    p, n = prev[ti, ki], nxt[ti, ki]
    w = ((ti - p) / (n - p)).astype(np.float32)[:, None]
    out[ti, ki, :2] = (1 - w) * out[p, ki, :2] + w * out[n, ki, :2]
    out[ti, ki, 2] = np.minimum(out[p, ki, 2], out[n, ki, 2])
    return out


class OneEuroFilter:
    """One-Euro filter (Casiez et al. 2012), vectorised: every element of the input is its own
    independent 1-D filter with its own state.

    ``min_cutoff`` (Hz), ``beta`` (per unit of speed) and ``d_cutoff`` (Hz) are scalars or arrays
    broadcastable to the filtered shape, e.g. ``(K, 1)`` for per-keypoint parameters on ``(K, 2)``
    coordinates. Call it once per sample, in time order::

        f = OneEuroFilter(min_cutoff=0.5, beta=16.0)   # on coordinates / frame height
        for t in range(T):
            y[t] = f(x[t], dt, present=valid[t])   # x[t]: (K, 2), valid[t]: (K, 1) bool

    An element that is not ``present`` passes through unchanged and forgets its state, so the
    next present sample restarts it (no smoothing across a dropout).
    """

    def __init__(
        self,
        min_cutoff: float | np.ndarray = MIN_CUTOFF,
        beta: float | np.ndarray = BETA,
        d_cutoff: float | np.ndarray = D_CUTOFF,
    ):
        self.min_cutoff = np.asarray(min_cutoff, np.float64)
        self.beta = np.asarray(beta, np.float64)
        self.d_cutoff = np.asarray(d_cutoff, np.float64)
        if (self.min_cutoff <= 0).any() or (self.d_cutoff <= 0).any() or (self.beta < 0).any():
            raise ValueError("One-Euro needs min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.reset()

    def reset(self) -> None:
        """Forget all state; the next sample of every element starts a new track."""
        self._x: np.ndarray | None = None  # last filtered value
        self._dx: np.ndarray | None = None  # last filtered derivative
        self._ready: np.ndarray | None = None  # bool: element has a previous sample

    @staticmethod
    def _alpha(cutoff: np.ndarray, dt: float | np.ndarray) -> np.ndarray:
        # Exponential smoothing factor of a first-order low-pass with this cutoff, sampled every dt.
        tau = 1.0 / (2.0 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(
        self, x: np.ndarray, dt: float | np.ndarray, present: np.ndarray | bool = True
    ) -> np.ndarray:
        """Filter one sample ``x`` (any fixed shape) taken ``dt`` seconds after the previous one."""
        x = np.asarray(x, np.float64)
        present = np.broadcast_to(np.asarray(present, bool), x.shape)
        if self._x is None:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            self._ready = np.zeros(x.shape, bool)
        elif self._x.shape != x.shape:
            raise ValueError(f"sample shape changed from {self._x.shape} to {x.shape}; call reset()")
        update = present & self._ready
        dx = (x - self._x) / dt
        edx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(edx)
        y = self._x + self._alpha(cutoff, dt) * (x - self._x)
        # Present elements without history start here: output = input, derivative 0.
        y = np.where(update, y, x)
        self._x = np.where(present, y, self._x)
        self._dx = np.where(update, edx, 0.0)
        self._ready = present.copy()
        return y


def _per_keypoint(value: float | Mapping[str, float], name: str) -> np.ndarray:
    """A scalar or a ``{part: value}`` mapping (parts of ``layout.PARTS``) -> ``(137, 1)`` float64."""
    if not isinstance(value, Mapping):
        return np.full((NUM_KEYPOINTS, 1), float(value))
    unknown = set(value) - set(PARTS)
    missing = set(PARTS) - set(value)
    if unknown or missing:
        raise ValueError(f"{name} needs exactly the parts {sorted(PARTS)}, got {sorted(value)}")
    out = np.empty((NUM_KEYPOINTS, 1))
    for part, sl in PARTS.items():
        out[sl] = float(value[part])
    return out


def _run(
    xy: np.ndarray, present: np.ndarray, dts: np.ndarray, min_cutoff, beta, d_cutoff: float
) -> np.ndarray:
    """One causal One-Euro pass over ``(T, K, 2)``; ``dts[t]`` = seconds between frame t-1 and t."""
    f = OneEuroFilter(min_cutoff, beta, d_cutoff)
    out = np.empty_like(xy)
    for t in range(len(xy)):
        out[t] = f(xy[t], dts[t], present[t, :, None])
    return out


def smooth(
    keypoints: np.ndarray,
    fps: float,
    *,
    min_cutoff: float | Mapping[str, float] = MIN_CUTOFF,
    beta: float | Mapping[str, float] = BETA,
    d_cutoff: float = D_CUTOFF,
    scale: float | None = None,
    times: np.ndarray | None = None,
    bidirectional: bool = True,
) -> np.ndarray:
    """One-Euro smoothing of every keypoint's track.

    Args:
        keypoints: ``(T, K, 3)`` (x, y, confidence) in pixels; confidence 0 = missing.
        fps: frame rate, used when ``times`` is not given.
        min_cutoff: Hz; the cutoff of a still point. Lower = steadier holds, slow moves more flattened.
            A float, or a mapping ``{"body", "face", "left_hand", "right_hand"} -> float``
            (for K = 137).
        beta: cutoff increase per frame-height-per-second of speed. Higher = less lag on fast moves.
            Float or per-part mapping like ``min_cutoff``.
        d_cutoff: Hz; cutoff of the low-pass on the speed estimate.
        scale: pixels per unit of the filter's coordinates, normally the frame height, so that the
            parameters do not depend on resolution. ``None`` takes the largest present y
            (a lower bound of the frame height).
        times: ``(T,)`` frame timestamps in seconds (variable frame rate); default ``t / fps``.
        bidirectional: average a forward and a backward pass, which cancels the filter's lag
            (offline use). ``False`` gives the plain causal filter.

    Returns:
        A new ``(T, K, 3)`` float32 array: x, y smoothed where present, confidences unchanged.
        Each present stretch of a keypoint is filtered on its own (the filter restarts after a
        missing frame); missing points stay exactly zero.
    """
    keypoints = _check(keypoints)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    out = keypoints.astype(np.float32, copy=True)
    num_frames, num_points = out.shape[:2]
    if num_frames < 2:
        return out
    if isinstance(min_cutoff, Mapping) or isinstance(beta, Mapping):
        if num_points != NUM_KEYPOINTS:
            raise ValueError(f"per-part parameters need {NUM_KEYPOINTS} keypoints, got {num_points}")
    min_cutoff = _per_keypoint(min_cutoff, "min_cutoff")
    beta = _per_keypoint(beta, "beta")
    if num_points != NUM_KEYPOINTS:  # plain scalars on another layout
        min_cutoff, beta = min_cutoff[:1], beta[:1]

    present = _present(out)
    if scale is None:
        scale = float(out[..., 1][present].max()) + 1.0 if present.any() else 1.0
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if times is None:
        times = np.arange(num_frames, dtype=np.float64) / fps
    times = np.asarray(times, np.float64)
    if times.shape != (num_frames,):
        raise ValueError(f"times must be ({num_frames},), got {times.shape}")
    # Non-increasing timestamps (duplicated frames, broken containers) fall back to one frame.
    dts = np.diff(times, prepend=times[0] - 1.0 / fps)
    dts = np.where(dts > 0, dts, 1.0 / fps)

    xy = out[..., :2].astype(np.float64) / scale
    fwd = _run(xy, present, dts, min_cutoff, beta, d_cutoff)
    if bidirectional:
        # The backward pass sees frame t+1 -> t, so its step is the interval after t.
        bwd = _run(
            xy[::-1], present[::-1], dts[::-1][np.r_[0, 0 : num_frames - 1]], min_cutoff, beta, d_cutoff
        )
        fwd = 0.5 * (fwd + bwd[::-1])
    smoothed = (fwd * scale).astype(np.float32)
    out[..., :2] = np.where(present[..., None], smoothed, 0.0)
    return out


def clean(
    poses: PoseSequence,
    *,
    max_gap_seconds: float = 0.25,
    smooth: bool = True,
    min_cutoff: float | Mapping[str, float] = MIN_CUTOFF,
    beta: float | Mapping[str, float] = BETA,
    d_cutoff: float = D_CUTOFF,
) -> PoseSequence:
    """Fill dropouts up to ``max_gap_seconds`` long, then (optionally) One-Euro smooth.

    Gap filling comes first so that a one-frame dropout does not restart the filter. Returns a
    new :class:`PoseSequence` with the same fps, size, detector and times; speeds are measured in
    frame heights (``scale = poses.height``) so the defaults suit any resolution.
    """
    if max_gap_seconds < 0:
        raise ValueError(f"max_gap_seconds must be >= 0, got {max_gap_seconds}")
    max_gap = int(round(max_gap_seconds * poses.fps))
    keypoints = fill_gaps(poses.keypoints, max_gap)
    if smooth:
        keypoints = _smooth(
            keypoints,
            poses.fps,
            min_cutoff=min_cutoff,
            beta=beta,
            d_cutoff=d_cutoff,
            scale=poses.height,
            times=poses.times,
        )
    return replace(poses, keypoints=keypoints, times=poses.times.copy())


_smooth = smooth  # `clean`'s flag shadows the function's name inside it

"""Global pose normalization (Everybody Dance Now, Sec. 3.2; the official ``graph_posenorm.py`` logic).

A source dancer filmed by another camera is taller or shorter in pixels, and stands elsewhere in the
frame, than the target the generator was trained on. Normalization maps every source pose into the
target video's frame so that, at a similar depth, the source has the target's height and ground line.

Everything works on ``(T, 137, 3)`` keypoints in the ``openpose137`` layout (x, y in pixels of the
video's own frame, confidence; confidence 0 = missing and then x = y = 0).

Per video (:func:`compute_stats`), with ``a`` = the per-frame ankle y (mean of the present ankles;
heels/toes when no ankle is present):

- ``close`` = max ``a`` (largest y = nearest the camera), ``median`` = median ``a``,
- ``far`` = min{ a : a >= median - frac * (close - median) } (``frac`` 0.5 default, 0.7 allowed) --
  the smallest ankle y that is not an outlier above the median,
- heights (head y to ankle y; head = nose, else the mean of eyes/ears): ``close_height`` = max height
  over frames whose ``a`` is within 5 % of ``close - far`` of ``close``, ``far_height`` likewise near
  ``far``. The max, not the mean, because a dancer crouches far more often than they stretch. When no
  frame lies that near, the nearest frames with a height are used; when ``close == far`` (a single
  depth) both are the max over the frames at that depth.

Per source frame (:func:`normalize`): ``p = (a - src_far) / (src_close - src_far)``, clamped to
``P_CLAMP`` = [-0.5, 1.5] so that a jump or a detector glitch cannot extrapolate into an absurd size,

    scale     = (tgt_far_h + p (tgt_close_h - tgt_far_h)) / (src_far_h + p (src_close_h - src_far_h))
    y_anchor' = tgt_far + p (tgt_close - tgt_far)
    y'        = y_anchor' + scale (y - a)                       (scaling about the ankle anchor)
    x'        = tgt_center_x + scale (x - src_center_x)

with ``center_x`` the median anchor x over a video. The paper normalizes height and ground position
only; for x we map the source's own centre onto the target's, so the dancer's lateral movement is
kept (scaled) while their placement follows where the target usually stands. When the source has a
single depth (``src_close - src_far`` below 1 % of its height), ``p = 1``: the close statistics of
both videos are used and nothing is divided by zero. The per-frame scale and translations are
median-filtered (``median_window`` frames) before being applied to all 137 points.

Fallbacks (each recorded in :attr:`NormalizationResult.params`):

- a frame without an ankle takes its anchor y from the nearest frames that have one (linear
  interpolation between them, the nearest one at the ends); a frame without any body point keeps
  an all-missing output;
- a video whose ankles are mostly missing (half-body shots) is anchored at the hips (mid-hip, else
  the mean of the hips), sizes measured head-to-hip; without hips, at the neck (neck, else the mean
  of the shoulders) with the shoulder width as the size. :class:`PoseStats` stores all three levels so
  that a target can serve any source; the level used is the first both videos have, starting at the
  lower-ranked of the two videos' own anchors;
- without heads, heights are measured from the neck instead (stored alongside the head-based ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from dancenow.errors import InputError
from dancenow.pose.layout import BODY, NUM_KEYPOINTS, B
from dancenow.pose.posefile import PoseSequence
from dancenow.utils.atomic import write_json

LEVELS = ("ankle", "hip", "neck")  # anchors, most to least preferred
P_CLAMP = (-0.5, 1.5)  # depth fraction p is clamped here: mild extrapolation only
NEAR_FRACTION = 0.05  # "near close/far" = within this fraction of (close - far)
MIN_ANCHOR_COVERAGE = 0.5  # a level anchors a video when present in at least this share of body frames
SINGLE_DEPTH = 0.01  # a depth range below this fraction of the body size is detector jitter, not depth
MIN_SIZE_FRACTION = 0.25  # an extrapolated size never drops below this share of the smaller measured one

_ANKLES = (B["right_ankle"], B["left_ankle"])
_FEET = (B["left_big_toe"], B["left_small_toe"], B["left_heel"])
_FEET += (B["right_big_toe"], B["right_small_toe"], B["right_heel"])
_HIPS = (B["right_hip"], B["left_hip"])
_SHOULDERS = (B["right_shoulder"], B["left_shoulder"])
_EYES_EARS = (B["right_eye"], B["left_eye"], B["right_ear"], B["left_ear"])

# level -> ((top, close-size field, far-size field, name written to params), ...), best first.
_SIZES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "ankle": (
        ("head", "close_height", "far_height", "head_to_ankle"),
        ("neck", "close_neck_height", "far_neck_height", "neck_to_ankle"),
    ),
    "hip": (
        ("head", "close_hip_height", "far_hip_height", "head_to_hip"),
        ("neck", "close_hip_neck_height", "far_hip_neck_height", "neck_to_hip"),
    ),
    "neck": (("shoulders", "close_shoulder_width", "far_shoulder_width", "shoulder_width"),),
}


@dataclass
class PoseStats:
    """Depth and size statistics of one video's poses, in pixels of that video's frame.

    Every level (``ankle``, ``hip``, ``neck``) has ``close_<level>_y`` (max anchor y), ``far_<level>_y``,
    ``median_<level>_y``, ``<level>_center_x`` (median anchor x) and ``<level>_frames`` (frames where the
    anchor is present), plus sizes near close and far (see ``_SIZES``). A level or size the video lacks
    is ``None``. ``anchor`` is the level this video is normally anchored at.
    """

    close_ankle_y: float | None = None  # max ankle y (nearest the camera)
    far_ankle_y: float | None = None  # min ankle y not below median - frac (close - median)
    median_ankle_y: float | None = None  # median ankle y
    close_height: float | None = None  # head-to-ankle height near close (max)
    far_height: float | None = None  # head-to-ankle height near far (max)
    anchor: str = "ankle"  # "ankle"; "hip" when ankles are mostly missing; "neck" when hips are too
    frames_used: int = 0  # frames where the anchor is present
    num_frames: int = 0  # frames in the video
    frac: float = 0.5  # the frac that defined far
    ankle_center_x: float | None = None  # median ankle x
    ankle_frames: int = 0  # frames with an ankle (or heel/toe)
    close_neck_height: float | None = None  # neck-to-ankle height near close (heads missing)
    far_neck_height: float | None = None  # neck-to-ankle height near far
    close_hip_y: float | None = None  # hip level: anchor = mid-hip (else the mean of the hips)
    far_hip_y: float | None = None
    median_hip_y: float | None = None
    close_hip_height: float | None = None  # head-to-hip height near close
    far_hip_height: float | None = None  # head-to-hip height near far
    close_hip_neck_height: float | None = None  # neck-to-hip (torso) length near close
    far_hip_neck_height: float | None = None  # neck-to-hip length near far
    hip_center_x: float | None = None
    hip_frames: int = 0
    close_neck_y: float | None = None  # neck level: anchor = neck (else the mean of the shoulders)
    far_neck_y: float | None = None
    median_neck_y: float | None = None
    close_shoulder_width: float | None = None  # shoulder-to-shoulder distance near close
    far_shoulder_width: float | None = None  # shoulder-to-shoulder distance near far
    neck_center_x: float | None = None
    neck_frames: int = 0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "anchor":
                if value not in LEVELS:
                    raise ValueError(f"PoseStats.anchor must be one of {LEVELS}, got {value!r}")
            elif f.type == "int":
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                    raise ValueError(f"PoseStats.{f.name} must be a non-negative int, got {value!r}")
                setattr(self, f.name, int(value))
            elif value is not None or f.name == "frac":
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ValueError(f"PoseStats.{f.name} must be a number, got {value!r}")
                if not math.isfinite(value):
                    raise ValueError(f"PoseStats.{f.name} must be finite, got {value!r}")
                setattr(self, f.name, float(value))
        _check_frac(self.frac)
        for level in LEVELS:
            ys = [getattr(self, n) for n in _y_fields(level)]
            if any(v is None for v in ys) and any(v is not None for v in ys):
                raise ValueError(f"PoseStats: {', '.join(_y_fields(level))} must be all set or all None")
            if ys[0] is not None and ys[1] > ys[0]:
                raise ValueError(f"PoseStats: far_{level}_y ({ys[1]}) exceeds close_{level}_y ({ys[0]})")
            for _, close_name, far_name, _ in _SIZES[level]:
                for name in (close_name, far_name):
                    value = getattr(self, name)
                    if value is not None and (value <= 0 or ys[0] is None):
                        raise ValueError(f"PoseStats.{name} must be positive and need {level} positions")
        if not self.level_sizes(self.anchor):
            raise ValueError(f"PoseStats: anchor {self.anchor!r} has no positions or no sizes")

    @property
    def center_x(self) -> float:
        """Median x of the anchor over the video."""
        return getattr(self, f"{self.anchor}_center_x")

    def level_sizes(self, level: str) -> list[str]:
        """The size measures (tops) available at ``level``, best first; ``[]`` when the level is absent."""
        if getattr(self, f"close_{level}_y") is None:
            return []
        return [
            top
            for top, close_name, far_name, _ in _SIZES[level]
            if getattr(self, close_name) is not None and getattr(self, far_name) is not None
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (floats, ints, strings, ``None``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PoseStats:
        """Rebuild from :meth:`to_dict`'s output; raises ``ValueError`` on anything else."""
        if not isinstance(d, Mapping):
            raise ValueError(f"pose statistics must be a mapping, got {type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown pose statistics field(s): {', '.join(sorted(map(str, unknown)))}")
        return cls(**d)


class _Level(NamedTuple):
    """The statistics of one video that the per-frame mapping needs (pixels of that video)."""

    close_y: float
    far_y: float
    close_size: float
    far_size: float
    center_x: float


def _y_fields(level: str) -> tuple[str, str, str, str]:
    return (f"close_{level}_y", f"far_{level}_y", f"median_{level}_y", f"{level}_center_x")


def _level(stats: PoseStats, level: str, top: str) -> _Level:
    _, close_name, far_name, _ = next(s for s in _SIZES[level] if s[0] == top)
    return _Level(
        getattr(stats, f"close_{level}_y"),
        getattr(stats, f"far_{level}_y"),
        getattr(stats, close_name),
        getattr(stats, far_name),
        getattr(stats, f"{level}_center_x"),
    )


@dataclass
class NormalizationResult:
    """Source poses mapped into the target's frame, and how."""

    keypoints: np.ndarray  # (T, 137, 3) float32, x/y in target-frame pixels; missing points stay 0
    params: dict[str, Any]  # JSON-ready: stats, anchor, fallbacks, per-frame p / scale / translation

    def write_params(self, path: str | Path) -> None:
        """Write :attr:`params` as JSON to ``path`` (atomically)."""
        write_json(path, self.params)


# --- per-frame features ------------------------------------------------------------------------------


def _check_keypoints(keypoints: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be (T, {NUM_KEYPOINTS}, 3), got {kp.shape}")
    if not np.isfinite(kp).all():
        raise ValueError("keypoints contain NaN or Inf")
    return kp


def _check_frac(frac: float) -> None:
    # `not (0 < frac <= 1)` also rejects NaN.
    if isinstance(frac, bool) or not isinstance(frac, (int, float, np.floating)) or not (0 < frac <= 1):
        raise ValueError(f"frac must be in (0, 1] (0.5 default, 0.7 in the paper's variant), got {frac!r}")


def _mean_point(kp: np.ndarray, idx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y), each (T,): mean of the present keypoints among ``idx``; NaN where none is present."""
    present = kp[:, idx, 2] > 0
    n = present.sum(axis=1)
    out = []
    for c in (0, 1):
        total = np.where(present, kp[:, idx, c], 0.0).sum(axis=1)
        out.append(np.divide(total, n, out=np.full(len(kp), np.nan), where=n > 0))
    return out[0], out[1]


def _first_present(
    primary: tuple[np.ndarray, np.ndarray], fallback: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    missing = np.isnan(primary[1])
    return np.where(missing, fallback[0], primary[0]), np.where(missing, fallback[1], primary[1])


def _features(kp: np.ndarray) -> dict[str, Any]:
    """Per-frame anchors and sizes, each (T,) float64 with NaN where unavailable.

    ``{level: (x, y)}`` for the anchors and ``{(level, top): size}`` for the sizes. Non-positive
    heights (upside down, or a detector glitch) are treated as unavailable.
    """
    ankle = _first_present(_mean_point(kp, _ANKLES), _mean_point(kp, _FEET))
    hip = _first_present(_mean_point(kp, (B["mid_hip"],)), _mean_point(kp, _HIPS))
    neck = _first_present(_mean_point(kp, (B["neck"],)), _mean_point(kp, _SHOULDERS))
    head_y = _first_present(_mean_point(kp, (B["nose"],)), _mean_point(kp, _EYES_EARS))[1]
    both_shoulders = (kp[:, _SHOULDERS, 2] > 0).all(axis=1)
    width = np.linalg.norm(kp[:, _SHOULDERS[0], :2] - kp[:, _SHOULDERS[1], :2], axis=1)
    sizes = {
        ("ankle", "head"): ankle[1] - head_y,
        ("ankle", "neck"): ankle[1] - neck[1],
        ("hip", "head"): hip[1] - head_y,
        ("hip", "neck"): hip[1] - neck[1],
        ("neck", "shoulders"): np.where(both_shoulders, width, np.nan),
    }
    with np.errstate(invalid="ignore"):  # NaN compares False: stays NaN below
        sizes = {k: np.where(v > 0, v, np.nan) for k, v in sizes.items()}
    return {"anchors": {"ankle": ankle, "hip": hip, "neck": neck}, "sizes": sizes}


def _size_near(y: np.ndarray, size: np.ndarray, at: float, tol: float) -> float | None:
    """Max ``size`` over frames whose ``y`` is within ``tol`` of ``at`` (else over the nearest ones)."""
    ok = np.isfinite(y) & np.isfinite(size)
    if not ok.any():
        return None
    dist = np.where(ok, np.abs(y - at), np.inf)
    near = dist <= max(tol, dist.min())
    return float(size[near].max())


# --- statistics --------------------------------------------------------------------------------------


def compute_stats(keypoints: np.ndarray, *, frac: float = 0.5) -> PoseStats:
    """Depth and size statistics of one video's ``(T, 137, 3)`` keypoints (see the module docstring).

    Raises ``InputError`` when no frame shows ankles, hips or a neck with a size to measure.
    """
    _check_frac(frac)
    kp = _check_keypoints(keypoints)
    feats = _features(kp)
    values: dict[str, Any] = {"frac": float(frac), "num_frames": len(kp)}
    usable = []
    for level in LEVELS:
        x, y = feats["anchors"][level]
        present = np.isfinite(y)
        values[f"{level}_frames"] = int(present.sum())
        if not present.any():
            continue
        a = y[present]
        close, median = float(a.max()), float(np.median(a))
        far = float(a[a >= median - frac * (close - median)].min())
        values.update(
            {
                f"close_{level}_y": close,
                f"far_{level}_y": far,
                f"median_{level}_y": median,
                f"{level}_center_x": float(np.median(x[present])),
            }
        )
        tol = NEAR_FRACTION * (close - far)
        for top, close_name, far_name, _ in _SIZES[level]:
            values[close_name] = _size_near(y, feats["sizes"][level, top], close, tol)
            values[far_name] = _size_near(y, feats["sizes"][level, top], far, tol)
            if values[close_name] is not None:
                usable.append(level)
    if not usable:
        raise InputError(None, "no frame shows a measurable body (ankles, hips or shoulders with a head)")
    # The best level present in most frames; else whichever usable level is present most often.
    body_frames = int((kp[:, BODY, 2] > 0).any(axis=1).sum())
    covered = [
        lv for lv in LEVELS if lv in usable and values[f"{lv}_frames"] >= MIN_ANCHOR_COVERAGE * body_frames
    ]
    anchor = covered[0] if covered else max(usable, key=lambda lv: values[f"{lv}_frames"])
    return PoseStats(anchor=anchor, frames_used=values[f"{anchor}_frames"], **values)


# --- normalization -----------------------------------------------------------------------------------


def _choose_level(source: PoseStats, target: PoseStats) -> tuple[str, str]:
    """(level, top): the best anchor both videos have, starting at the lower-ranked of their anchors."""
    start = max(LEVELS.index(source.anchor), LEVELS.index(target.anchor))
    for level in LEVELS[start:]:
        target_tops = target.level_sizes(level)
        for top in source.level_sizes(level):
            if top in target_tops:
                return level, top
    raise InputError(
        None,
        f"source (anchored at {source.anchor}) and target (anchored at {target.anchor}) pose statistics "
        "share no measurable anchor (ankles, hips or neck)",
    )


def _median_filter(values: np.ndarray, window: int) -> np.ndarray:
    """Running median of a (N,) array over ``window`` (odd) samples, edges padded by repetition."""
    if window == 1 or len(values) < 2:
        return values.copy()
    padded = np.pad(values, window // 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


def _interp_size(level: _Level, p: np.ndarray) -> np.ndarray:
    size = level.far_size + p * (level.close_size - level.far_size)
    # Guards the extrapolated ends (p < 0 or p > 1) when close and far sizes differ wildly.
    return np.maximum(size, MIN_SIZE_FRACTION * min(level.close_size, level.far_size))


def _to_list(values: np.ndarray, keep: np.ndarray) -> list[float | None]:
    return [float(v) if k else None for v, k in zip(values, keep, strict=True)]


def normalize(
    source: np.ndarray, source_stats: PoseStats, target_stats: PoseStats, *, median_window: int = 5
) -> NormalizationResult:
    """Map source keypoints ``(T, 137, 3)`` (source-frame pixels) into the target's frame.

    ``source_stats`` should come from :func:`compute_stats` on the same keypoints, ``target_stats`` from
    the target video. Returns ``(T, 137, 3)`` float32 keypoints in target-frame pixels (confidences
    unchanged, missing points exactly 0) and JSON-ready parameters.
    """
    if isinstance(median_window, bool) or not isinstance(median_window, int) or median_window < 1:
        raise ValueError(f"median_window must be a positive odd int, got {median_window!r}")
    if median_window % 2 == 0:
        raise ValueError(f"median_window must be odd (a centred window), got {median_window}")
    kp = _check_keypoints(source)
    num_frames = len(kp)
    level, top = _choose_level(source_stats, target_stats)
    src, tgt = _level(source_stats, level, top), _level(target_stats, level, top)
    body = (kp[:, BODY, 2] > 0).any(axis=1)
    anchor_y = _features(kp)["anchors"][level][1]
    present = np.isfinite(anchor_y)
    if body.any() and not present.any():
        raise ValueError(
            f"no source frame has a {level} although the statistics anchor there; "
            "were source_stats computed from these keypoints?"
        )

    fallbacks = [] if level == "ankle" else [level]
    if top == "neck":
        fallbacks.append("neck_height")  # heads missing: heights measured from the neck
    interpolated = body & ~present
    if interpolated.any():
        fallbacks.append("interpolated_anchor")
    single_depth = src.close_y - src.far_y <= SINGLE_DEPTH * max(src.close_size, src.far_size)
    if single_depth:
        fallbacks.append("single_depth")

    frames = np.arange(num_frames)
    scale = np.full(num_frames, np.nan)
    tx, ty, p = scale.copy(), scale.copy(), scale.copy()
    if body.any():
        # Frames without the anchor take it from their nearest neighbours that have it.
        a = np.interp(frames, frames[present], anchor_y[present])[body]
        if single_depth:
            pb = np.ones_like(a)  # one depth: use the close statistics, never divide by ~0
        else:
            pb = np.clip((a - src.far_y) / (src.close_y - src.far_y), *P_CLAMP)
        s = _interp_size(tgt, pb) / _interp_size(src, pb)
        target_anchor_y = tgt.far_y + pb * (tgt.close_y - tgt.far_y)
        p[body] = pb
        scale[body] = _median_filter(s, median_window)
        tx[body] = _median_filter(tgt.center_x - s * src.center_x, median_window)
        ty[body] = _median_filter(target_anchor_y - s * a, median_window)

    out = np.zeros_like(kp)
    valid = (kp[..., 2] > 0) & body[:, None]
    with np.errstate(invalid="ignore"):  # NaN transforms of body-less frames are masked out
        out[..., 0] = np.where(valid, scale[:, None] * kp[..., 0] + tx[:, None], 0.0)
        out[..., 1] = np.where(valid, scale[:, None] * kp[..., 1] + ty[:, None], 0.0)
    out[..., 2] = np.where(valid, kp[..., 2], 0.0)

    size_name = next(s[3] for s in _SIZES[level] if s[0] == top)
    params = {
        "method": "edn_global",
        "anchor": level,
        "size_measure": size_name,
        "fallback": None if level == "ankle" else level,
        "fallbacks": fallbacks,
        "single_depth_source": bool(single_depth),
        "interpolated_frames": int(interpolated.sum()),
        "frames_without_body": int((~body).sum()),
        "frac": {"source": source_stats.frac, "target": target_stats.frac},
        "median_window": median_window,
        "p_clamp": list(P_CLAMP),
        "near_fraction": NEAR_FRACTION,
        "source_stats": source_stats.to_dict(),
        "target_stats": target_stats.to_dict(),
        "p": _to_list(p, body),
        "scale": _to_list(scale, body),
        "translation": [[float(x), float(y)] if b else None for x, y, b in zip(tx, ty, body, strict=True)],
    }
    return NormalizationResult(keypoints=out.astype(np.float32), params=params)


def normalize_sequence(
    source: PoseSequence, target_stats: PoseStats, *, frac: float = 0.5, median_window: int = 5
) -> NormalizationResult:
    """Compute the source's statistics (with ``frac``) and :func:`normalize` it onto ``target_stats``."""
    source_stats = compute_stats(source.keypoints, frac=frac)
    result = normalize(source.keypoints, source_stats, target_stats, median_window=median_window)
    result.params["source_frame"] = {"width": source.width, "height": source.height, "fps": source.fps}
    return result


def fit_frame(
    source: np.ndarray, source_size: tuple[int, int], target_size: tuple[int, int]
) -> NormalizationResult:
    """No normalization (``--normalize none``): the source frame mapped onto the target frame as a
    whole, scaled to the same height and centred. Sizes are ``(width, height)``; missing points stay 0."""
    (sw, sh), (tw, th) = source_size, target_size
    s = th / sh
    out = source.copy()
    present = out[..., 2] > 0
    out[..., 0] = np.where(present, (source[..., 0] - sw / 2) * s + tw / 2, 0)
    out[..., 1] = np.where(present, source[..., 1] * s, 0)
    return NormalizationResult(keypoints=out, params={"mode": "none", "scale": s})

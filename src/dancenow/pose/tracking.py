"""One consistent person when a detector reports several.

A frame's detections are a list of ``(137, 3)`` arrays in the ``openpose137`` layout
(x, y, confidence; confidence 0 = missing). :func:`choose_person` picks one of them,
given the pose chosen in the most recent frame that had one; :func:`track` applies it
to a whole video and returns ``(T, 137, 3)`` float32.

The rules, in order:

1. No candidates: nothing to choose (``None``).
2. No previous pose: the most *prominent* candidate, see :func:`prominence`. The
   person a video is about is usually the largest, most confidently detected one;
   bystanders and camera operators are smaller, cut off by the frame edge, or blurred.
3. A previous pose: the candidate *closest* to it, see :func:`pose_distance`. Identity
   is kept by continuity, not by size, so a dancer who moves away from the camera (or
   is briefly smaller than a bystander) is not dropped. Candidates that share no valid
   body joint with the previous pose cannot be compared; when none can, rule 2 decides.

Only body joints (BODY_25, indices 0:25) are used: face and hand points are dense and
tiny, and would dominate a mean distance without saying more about identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dancenow.pose.layout import BODY, NUM_KEYPOINTS

# A fragment of the right person (a detector split one body into two "people") shares
# fewer joints with the previous pose than the whole body does; this small cost per
# missing fraction of shared joints breaks near-ties in favour of the fuller detection,
# while staying far below the distance to a different person (typically > 0.3).
_COVERAGE_WEIGHT = 0.1


def _check_pose(pose: np.ndarray, what: str) -> np.ndarray:
    pose = np.asarray(pose)
    if pose.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"{what} must be ({NUM_KEYPOINTS}, 3), got {pose.shape}")
    return pose


def _valid_body(pose: np.ndarray) -> np.ndarray:
    """(25,) bool: body joints with confidence > 0."""
    return pose[BODY, 2] > 0


def prominence(pose: np.ndarray) -> float:
    """How prominent a ``(137, 3)`` pose is: body bounding-box area × mean body confidence.

    The box spans the valid body joints (confidence > 0), in square pixels; the mean
    confidence is over those joints only. A pose with fewer than two valid body joints
    has no area and scores 0.
    """
    pose = _check_pose(pose, "pose")
    valid = _valid_body(pose)
    if valid.sum() < 2:
        return 0.0
    xy = pose[BODY][valid, :2].astype(np.float64)
    w, h = xy.max(axis=0) - xy.min(axis=0)
    return float(w * h * pose[BODY][valid, 2].astype(np.float64).mean())


def body_size(pose: np.ndarray) -> float:
    """Diagonal of the valid body joints' bounding box of a ``(137, 3)`` pose, in pixels (≥ 1)."""
    pose = _check_pose(pose, "pose")
    valid = _valid_body(pose)
    if not valid.any():
        return 1.0
    xy = pose[BODY][valid, :2].astype(np.float64)
    # At least one pixel, so a single-joint pose still gives a finite normalised distance.
    return max(float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0)))), 1.0)


def pose_distance(candidate: np.ndarray, previous: np.ndarray) -> float:
    """Distance of ``candidate`` from ``previous`` (both ``(137, 3)``), in units of the previous body size.

    Mean Euclidean distance over the body joints valid in both, divided by
    :func:`body_size` of ``previous``, plus a small penalty for the fraction of the
    previous pose's valid joints the candidate lacks. ``inf`` when no joint is shared.
    """
    candidate = _check_pose(candidate, "candidate")
    previous = _check_pose(previous, "previous")
    prev_valid = _valid_body(previous)
    shared = _valid_body(candidate) & prev_valid
    if not shared.any():
        return float("inf")
    diff = candidate[BODY][shared, :2].astype(np.float64) - previous[BODY][shared, :2].astype(np.float64)
    mean_dist = float(np.hypot(diff[:, 0], diff[:, 1]).mean()) / body_size(previous)
    return mean_dist + _COVERAGE_WEIGHT * (1.0 - shared.sum() / prev_valid.sum())


def choose_person(candidates: Sequence[np.ndarray], previous: np.ndarray | None) -> int | None:
    """Index of the person to keep among one frame's ``candidates``, or ``None`` if there are none.

    ``candidates``: ``(137, 3)`` arrays (x, y, confidence). ``previous``: the ``(137, 3)``
    pose chosen in the most recent frame that had one, or ``None`` at the start of a
    video. See the module docstring for the rules; ties go to the lower index.
    """
    if len(candidates) == 0:
        return None
    poses = [_check_pose(c, f"candidate {i}") for i, c in enumerate(candidates)]
    if previous is not None:
        dists = [pose_distance(p, previous) for p in poses]
        best = int(np.argmin(dists))
        if np.isfinite(dists[best]):
            return best
    scores = [prominence(p) for p in poses]
    # Among equally prominent candidates (e.g. all score 0), prefer the one with the most
    # detected points of any part: some detection beats none.
    counts = [int((p[:, 2] > 0).sum()) for p in poses]
    return max(range(len(poses)), key=lambda i: (scores[i], counts[i], -i))


def track(frames: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Keep one person through a video.

    ``frames``: per frame, a list of ``(137, 3)`` candidate poses (possibly empty).
    Returns ``(T, 137, 3)`` float32 with the chosen person per frame; frames without
    candidates are all zeros (missing), and the next choice is made against the last
    pose chosen before them.
    """
    out = np.zeros((len(frames), NUM_KEYPOINTS, 3), np.float32)
    previous: np.ndarray | None = None
    for t, candidates in enumerate(frames):
        i = choose_person(candidates, previous)
        if i is None:
            continue
        previous = np.asarray(candidates[i], np.float32)
        out[t] = previous
    return out

"""One consistent person: synthetic people crossing, growing, vanishing and fragmenting."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.pose.layout import NUM_KEYPOINTS
from dancenow.pose.tracking import body_size, choose_person, pose_distance, prominence, track

# A standing BODY_25 figure about 400 px tall at scale 1: (dx, dy) from the mid-hip, y down.
_STANDING = np.array(
    [
        (0, -170), (0, -130), (-40, -130), (-55, -70), (-60, -10), (40, -130), (55, -70), (60, -10),
        (0, 0), (-25, 0), (-28, 90), (-30, 180), (25, 0), (28, 90), (30, 180),
        (-8, -178), (8, -178), (-18, -172), (18, -172),
        (40, 195), (48, 192), (28, 190), (-40, 195), (-48, 192), (-28, 190),
    ],
    np.float64,
)  # fmt: skip
# The same figure with both arms raised above the head: a second, differently posed person.
_ARMS_UP = _STANDING.copy()
_ARMS_UP[[3, 4, 6, 7]] = [(-60, -190), (-65, -250), (60, -190), (65, -250)]


def person(
    x: float, y: float, scale: float = 1.0, conf: float = 0.8, shape=_STANDING, keep=None
) -> np.ndarray:
    """A ``(137, 3)`` pose with only body joints, mid-hip at (x, y); ``keep`` = body joints to keep."""
    pose = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    pose[:25, :2] = shape * scale + (x, y)
    pose[:25, 2] = conf
    if keep is not None:
        drop = np.setdiff1d(np.arange(25), keep)
        pose[drop] = 0
    return pose


def test_no_candidates():
    assert choose_person([], None) is None
    assert choose_person([], person(100, 100)) is None


def test_first_frame_picks_most_prominent():
    small = person(200, 500, scale=0.5)
    big = person(700, 500, scale=1.0)
    faint = person(400, 500, scale=1.0, conf=0.2)
    assert choose_person([small, big, faint], None) == 1
    assert prominence(big) > prominence(faint) > 0
    # Nothing to measure (no body joints): the candidate with any detected point wins.
    empty = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    hands_only = empty.copy()
    hands_only[100, :] = (10, 10, 0.9)
    assert choose_person([empty, hands_only], None) == 1
    assert choose_person([empty, empty], None) == 0


def test_crossing_people_keep_identity():
    """A walks right and shrinks, B walks left and grows (so B becomes the more prominent); they cross."""
    rng = np.random.default_rng(0)
    n = 40
    frames, truth = [], []
    for t in range(n):
        a = person(100 + 20 * t, 600, scale=1.2 - 0.01 * t)
        b = person(900 - 20 * t, 600, scale=0.9 + 0.02 * t, shape=_ARMS_UP)
        for p in (a, b):  # detector jitter
            p[:25, :2] += rng.normal(0, 2, (25, 2)).astype(np.float32)
        cands = [a, b] if rng.random() < 0.5 else [b, a]
        frames.append(cands)
        truth.append(a)
    assert prominence(frames[0][0]) != prominence(frames[-1][0])  # the size order really flips
    assert prominence(truth[-1]) < max(prominence(c) for c in frames[-1])
    out = track(frames)
    assert out.shape == (n, NUM_KEYPOINTS, 3) and out.dtype == np.float32
    for t in range(n):
        np.testing.assert_array_equal(out[t], truth[t], err_msg=f"frame {t}")


def test_bystander_and_target_disappearing():
    """B vanishes for a while; later A vanishes (no one in frame) and comes back: A is kept."""
    frames, truth = [], []
    for t in range(30):
        a = person(400 + 5 * t, 600)
        b = person(800, 600, scale=0.8, shape=_ARMS_UP)
        if 10 <= t < 15:
            frames.append([a])  # B gone
            truth.append(a)
        elif 20 <= t < 24:
            frames.append([])  # nobody
            truth.append(np.zeros_like(a))
        else:
            frames.append([b, a])
            truth.append(a)
    out = track(frames)
    np.testing.assert_array_equal(out, np.stack(truth))


def test_fragment_of_target_beats_bystander():
    prev = person(500, 600)
    upper = person(505, 600, keep=list(range(9)) + [15, 16, 17, 18])
    lower = person(505, 600, keep=list(range(8, 25)))
    bystander = person(650, 600, scale=1.1)
    assert choose_person([bystander, upper], prev) == 1
    # Between two fragments of the right person, the fuller one.
    assert choose_person([bystander, upper, lower], prev) == 2


def test_falls_back_to_prominence_when_nothing_shared():
    prev = person(500, 600, keep=[0, 1, 2, 3])
    legs_small = person(100, 600, scale=0.5, keep=list(range(9, 15)))
    legs_big = person(900, 600, scale=1.0, keep=list(range(9, 15)))
    assert pose_distance(legs_big, prev) == np.inf
    assert choose_person([legs_small, legs_big], prev) == 1
    # One comparable candidate is preferred over incomparable ones, however prominent.
    head_far = person(520, 600, scale=0.5, keep=[0, 1])
    assert choose_person([legs_big, head_far], prev) == 1


def test_distance_is_normalised_by_previous_body_size():
    prev = person(500, 600, scale=1.0)
    moved = person(540, 600, scale=1.0)
    d1 = pose_distance(moved, prev)
    d2 = pose_distance(person(580, 600, scale=2.0), person(500, 600, scale=2.0))
    assert d1 == pytest.approx(d2) == pytest.approx(40 / body_size(prev))
    assert pose_distance(prev, prev) == 0.0


def test_shape_checked():
    with pytest.raises(ValueError, match="137"):
        choose_person([np.zeros((25, 3))], None)
    assert track([]).shape == (0, NUM_KEYPOINTS, 3)

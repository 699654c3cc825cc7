"""Global pose normalization on synthetic stick people: recovery of a known mapping, fallbacks, edges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dancenow.errors import InputError
from dancenow.pose.layout import FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND, B
from dancenow.pose.normalize import (
    P_CLAMP,
    NormalizationResult,
    PoseStats,
    compute_stats,
    fit_frame,
    normalize,
    normalize_sequence,
)
from dancenow.pose.posefile import PoseSequence

# (keypoint, dx, dy) in units of the height (nose above ankles); dy > 0 is up (smaller image y).
# "right" is the person's own, so on image left for a dancer facing the camera.
_STICK = (
    (B["nose"], 0.0, 1.0),
    (B["right_eye"], -0.03, 1.02),
    (B["left_eye"], 0.03, 1.02),
    (B["right_ear"], -0.06, 1.0),
    (B["left_ear"], 0.06, 1.0),
    (B["neck"], 0.0, 0.87),
    (B["right_shoulder"], -0.12, 0.86),
    (B["left_shoulder"], 0.12, 0.86),
    (B["right_elbow"], -0.2, 0.68),
    (B["left_elbow"], 0.2, 0.68),
    (B["right_wrist"], -0.22, 0.5),
    (B["left_wrist"], 0.22, 0.5),
    (B["mid_hip"], 0.0, 0.52),
    (B["right_hip"], -0.06, 0.52),
    (B["left_hip"], 0.06, 0.52),
    (B["right_knee"], -0.06, 0.27),
    (B["left_knee"], 0.06, 0.27),
    (B["right_ankle"], -0.06, 0.0),
    (B["left_ankle"], 0.06, 0.0),
    (B["right_heel"], -0.07, -0.02),
    (B["left_heel"], 0.07, -0.02),
    (B["right_big_toe"], -0.09, -0.03),
    (B["left_big_toe"], 0.09, -0.03),
    (B["right_small_toe"], -0.11, -0.03),
    (B["left_small_toe"], 0.11, -0.03),
    (FACE.start + 30, 0.0, 0.99),  # nose tip
    (FACE.start + 8, 0.0, 0.93),  # chin
    (LEFT_HAND.start, 0.22, 0.5),  # hand wrist
    (LEFT_HAND.start + 8, 0.24, 0.44),  # index tip
    (RIGHT_HAND.start, -0.22, 0.5),
    (RIGHT_HAND.start + 8, -0.24, 0.44),
)
_FEET = [B[n] for n in ("right_ankle", "left_ankle", "right_heel", "left_heel")]
_FEET += [B[n] for n in ("right_big_toe", "left_big_toe", "right_small_toe", "left_small_toe")]
_HEAD = [B[n] for n in ("nose", "right_eye", "left_eye", "right_ear", "left_ear")] + list(range(25, 95))


def stick_person(ankle_x: float, ankle_y: float, height: float, wave: float = 0.0) -> np.ndarray:
    """``(137, 3)`` standing person with mean ankle at (ankle_x, ankle_y), nose ``height`` px above it.

    ``wave`` raises the right wrist by that fraction of the height (some non-rigid motion).
    """
    kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for i, dx, dy in _STICK:
        dy += wave if i == B["right_wrist"] else 0.0
        kp[i] = (ankle_x + dx * height, ankle_y - dy * height, 0.9)
    return kp


def walk_toward_camera(n: int = 40) -> np.ndarray:
    """``(n, 137, 3)``: ankle y 300 -> 500 and height 200 -> 330 (both linear), swaying sideways."""
    t = np.linspace(0.0, 1.0, n)
    return np.stack(
        [
            stick_person(640 + 120 * np.sin(6 * ti), 300 + 200 * ti, 200 + 130 * ti, 0.1 * np.sin(9 * ti))
            for ti in t
        ]
    )


def transform(kp: np.ndarray, s: float, dx: float, dy: float) -> np.ndarray:
    """Scale present points by ``s`` and shift by (dx, dy) -- the same motion seen by another camera."""
    out = kp.copy()
    present = out[..., 2] > 0
    out[..., 0] = np.where(present, s * kp[..., 0] + dx, 0.0)
    out[..., 1] = np.where(present, s * kp[..., 1] + dy, 0.0)
    return out


def drop(kp: np.ndarray, points, frames=slice(None)) -> np.ndarray:
    """Copy of ``kp`` with ``points`` missing (all zeros) in ``frames``."""
    out = kp.copy()
    out[np.ix_(np.arange(len(kp))[frames], points)] = 0.0
    return out


def assert_on_target(result: NormalizationResult, target: np.ndarray, tol: float = 1.0) -> None:
    """Present points land within ``tol`` px of the target's; missing ones stay missing."""
    present = result.keypoints[..., 2] > 0
    assert not (present & (target[..., 2] == 0)).any()
    err = np.abs(result.keypoints[..., :2] - target[..., :2])[present]
    assert err.max() < tol, f"max error {err.max():.3f} px"


def test_far_is_the_smallest_value_within_frac_of_the_median():
    # Ankle y 0, 10, ..., 100: median 50, close 100. frac 0.5 -> threshold 25 -> far 30; 0.7 -> 15 -> 20.
    kp = np.stack([stick_person(500, y, 200) for y in range(0, 101, 10)])
    for frac, far in ((0.5, 30.0), (0.7, 20.0), (1.0, 0.0)):
        stats = compute_stats(kp, frac=frac)
        assert (stats.close_ankle_y, stats.median_ankle_y, stats.far_ankle_y) == (100.0, 50.0, far)
        assert stats.anchor == "ankle" and stats.frames_used == 11 and stats.frac == frac
        assert stats.close_height == pytest.approx(200.0) and stats.far_height == pytest.approx(200.0)


def test_walk_toward_camera_normalizes_back_onto_target():
    target = walk_toward_camera()
    source = transform(target, 0.6, 230.0, -40.0)
    tgt_stats = compute_stats(target)
    result = normalize_sequence(PoseSequence(source, fps=30.0, width=1280, height=720), tgt_stats)
    assert result.keypoints.dtype == np.float32 and result.keypoints.shape == target.shape
    assert_on_target(result, target)
    params = result.params
    assert params["anchor"] == "ankle" and params["fallback"] is None and params["fallbacks"] == []
    assert params["size_measure"] == "head_to_ankle"
    np.testing.assert_allclose(params["scale"], 1 / 0.6, rtol=1e-5)
    assert min(params["p"]) < 0 and max(params["p"]) == pytest.approx(1.0)  # above far: extrapolated
    assert P_CLAMP[0] <= min(params["p"]) and max(params["p"]) <= P_CLAMP[1]
    assert params["source_frame"] == {"width": 1280, "height": 720, "fps": 30.0}
    json.dumps(params, allow_nan=False)


def test_heights_grow_with_depth():
    stats = compute_stats(walk_toward_camera())
    assert stats.close_ankle_y == pytest.approx(500.0) and stats.close_height == pytest.approx(330.0)
    assert 300.0 < stats.far_ankle_y < 400.0 and 200.0 < stats.far_height < stats.close_height
    # Far height is the height at the far ankle y (linear in it), max within 5 % of the range.
    assert stats.far_height == pytest.approx(200 + 130 * (stats.far_ankle_y - 300) / 200, abs=5.0)


@pytest.mark.filterwarnings("error")
def test_constant_depth_divides_by_nothing():
    target = np.stack([stick_person(640, 500, 300, 0.1 * np.sin(i)) for i in range(10)])
    source = np.stack([stick_person(200, 400, 150, 0.1 * np.cos(i)) for i in range(10)])
    src_stats, tgt_stats = compute_stats(source), compute_stats(target)
    assert src_stats.close_ankle_y == src_stats.far_ankle_y == 400.0
    result = normalize(source, src_stats, tgt_stats)
    np.testing.assert_allclose(result.params["scale"], 2.0)  # target height / source height
    assert result.params["single_depth_source"] and "single_depth" in result.params["fallbacks"]
    ankles = result.keypoints[:, [B["right_ankle"], B["left_ankle"]]]
    np.testing.assert_allclose(ankles[..., 1], 500.0, atol=1e-3)
    np.testing.assert_allclose(ankles[..., 0].mean(axis=1), 640.0, atol=1e-3)
    heights = ankles[..., 1].mean(axis=1) - result.keypoints[:, B["nose"], 1]
    np.testing.assert_allclose(heights, 300.0, atol=1e-3)

    # A single-depth source onto a moving target: the target's close statistics (p = 1).
    walk = walk_toward_camera()
    result = normalize(source, src_stats, compute_stats(walk))
    np.testing.assert_allclose(result.params["p"], 1.0)
    np.testing.assert_allclose(result.params["scale"], 330.0 / 150.0, rtol=1e-5)
    np.testing.assert_allclose(result.keypoints[:, B["right_ankle"], 1], 500.0, atol=1e-3)


def test_missing_ankles_in_some_frames_use_the_nearest_frames():
    target = walk_toward_camera()
    full = transform(target, 1.5, -100.0, 60.0)
    source = drop(full, _FEET, [0, 1, 12, 13, 14, 39])
    # Statistics of the full source isolate the per-frame interpolation: the walk is linear, so the
    # interpolated anchors are exact and every present point lands on the target.
    result = normalize(source, compute_stats(full), compute_stats(target))
    assert result.params["anchor"] == "ankle" and "interpolated_anchor" in result.params["fallbacks"]
    assert result.params["interpolated_frames"] == 6
    assert_on_target(result, target)
    # With its own statistics the source's depth range is shorter (its first and last frames lost their
    # feet), and EDN maps range onto range, so the result is only close: scale within 15 %.
    result = normalize(source, compute_stats(source), compute_stats(target))
    np.testing.assert_allclose(result.params["scale"], 1 / 1.5, rtol=0.15)


def test_half_body_source_falls_back_to_hips_then_neck():
    target = walk_toward_camera()
    tgt_stats = compute_stats(target)
    legs = _FEET + [B["right_knee"], B["left_knee"]]
    half = drop(transform(target, 0.5, 300.0, -100.0), legs)
    src_stats = compute_stats(half)
    assert src_stats.anchor == "hip" and src_stats.close_ankle_y is None and src_stats.ankle_frames == 0
    result = normalize(half, src_stats, tgt_stats)
    assert result.params["fallback"] == "hip" and result.params["size_measure"] == "head_to_hip"
    np.testing.assert_allclose(result.params["scale"], 2.0, rtol=1e-5)
    assert_on_target(result, target)

    no_hips = drop(half, [B["mid_hip"], B["right_hip"], B["left_hip"]])
    result = normalize(no_hips, compute_stats(no_hips), tgt_stats)
    assert result.params["fallback"] == "neck" and result.params["size_measure"] == "shoulder_width"
    np.testing.assert_allclose(result.params["scale"], 2.0, rtol=1e-5)
    assert_on_target(result, target)

    # A half-body *target* pulls a full-body source down to the hips as well.
    result = normalize(target, tgt_stats, compute_stats(drop(target, legs)))
    assert result.params["fallback"] == "hip"
    assert_on_target(result, target)


def test_missing_heads_measure_height_from_the_neck():
    target = walk_toward_camera()
    headless = drop(transform(target, 0.8, 10.0, 20.0), _HEAD)
    src_stats = compute_stats(headless)
    assert src_stats.close_height is None and src_stats.close_neck_height is not None
    result = normalize(headless, src_stats, compute_stats(target))
    assert result.params["size_measure"] == "neck_to_ankle" and "neck_height" in result.params["fallbacks"]
    np.testing.assert_allclose(result.params["scale"], 1 / 0.8, rtol=1e-5)
    assert_on_target(result, target)


def test_one_frame_source():
    target = walk_toward_camera()
    tgt_stats = compute_stats(target)
    source = stick_person(100.0, 250.0, 120.0)[None]
    result = normalize(source, compute_stats(source), tgt_stats)
    assert result.keypoints.shape == (1, NUM_KEYPOINTS, 3)
    assert result.params["scale"] == [pytest.approx(tgt_stats.close_height / 120.0)]
    ankle_y = result.keypoints[0, [B["right_ankle"], B["left_ankle"]], 1]
    np.testing.assert_allclose(ankle_y, tgt_stats.close_ankle_y, atol=1e-3)
    nose_y = result.keypoints[0, B["nose"], 1]
    assert ankle_y.mean() - nose_y == pytest.approx(tgt_stats.close_height, abs=1e-3)


def test_missing_points_stay_zero():
    target = walk_toward_camera(12)
    source = transform(target, 0.7, 5.0, 5.0)
    rng = np.random.default_rng(0)
    source[rng.random(source.shape[:2]) < 0.3] = 0.0
    source[4] = 0.0  # no body at all
    source[7, 25:] = 0.0  # body only
    result = normalize(source, compute_stats(source), compute_stats(target))
    missing = source[..., 2] == 0
    assert (result.keypoints[missing] == 0).all()
    assert (result.keypoints[~missing, 2] == source[~missing, 2]).all()
    assert result.params["scale"][4] is None and result.params["translation"][4] is None
    assert result.params["frames_without_body"] == 1
    json.dumps(result.params, allow_nan=False)


def test_write_params(tmp_path):
    target = walk_toward_camera(8)
    result = normalize(target, compute_stats(target), compute_stats(target), median_window=3)
    path = tmp_path / "out.normalization.json"
    result.write_params(path)
    params = json.loads(path.read_text())
    assert PoseStats.from_dict(params["target_stats"]) == compute_stats(target)
    np.testing.assert_allclose(result.keypoints, target, atol=1e-3)  # onto itself: identity


def test_pose_stats_round_trip_and_rejects_garbage():
    stats = compute_stats(walk_toward_camera(), frac=0.7)
    again = PoseStats.from_dict(json.loads(json.dumps(stats.to_dict(), allow_nan=False)))
    assert again == stats and again.center_x == stats.ankle_center_x
    # The fields named in the design are enough to build one by hand.
    PoseStats(close_ankle_y=500, far_ankle_y=400, median_ankle_y=450, close_height=300, far_height=200,
              ankle_center_x=640, anchor="ankle", frames_used=10)  # fmt: skip

    good = stats.to_dict()
    bad = [
        [1, 2],
        "stats",
        {**good, "close_ankle_y": float("nan")},
        {**good, "far_height": float("inf")},
        {**good, "close_height": "330"},
        {**good, "close_height": True},
        {**good, "close_height": -1.0},
        {**good, "far_ankle_y": 9999.0},  # far below close
        {**good, "median_ankle_y": None},  # positions partly missing
        {**good, "anchor": "knee"},
        {**good, "frac": 0.0},
        {**good, "frames_used": -1},
        {**good, "frames_used": 2.5},
        {**good, "surprise": 1},
        {"anchor": "ankle"},  # no values for the anchor
        {**good, "anchor": "hip", "close_hip_height": None, "close_hip_neck_height": None},
    ]
    for d in bad:
        with pytest.raises(ValueError):
            PoseStats.from_dict(d)


def test_argument_validation():
    kp = walk_toward_camera(5)
    for frac in (0.0, -0.1, 1.01, float("nan"), True):
        with pytest.raises(ValueError, match="frac"):
            compute_stats(kp, frac=frac)
    assert compute_stats(kp, frac=0.7).frac == 0.7
    stats = compute_stats(kp)
    for window in (0, 4, -1, 2.0):
        with pytest.raises(ValueError, match="median_window"):
            normalize(kp, stats, stats, median_window=window)
    with pytest.raises(ValueError, match="137"):
        compute_stats(kp[:, :25])
    with pytest.raises(InputError, match="no frame"):
        compute_stats(np.zeros((3, NUM_KEYPOINTS, 3), np.float32))


def test_fit_frame_maps_the_whole_source_frame_onto_the_target_frame():
    """``--normalize none``: same height, centred; missing points stay exactly 0."""
    kp = np.zeros((2, 137, 3), np.float32)
    kp[0, 0] = (100, 50, 1)  # the centre of a 200x100 frame
    kp[1, 1] = (0, 100, 0.5)  # its bottom-left corner
    result = fit_frame(kp, (200, 100), (400, 300))
    assert result.params == {"mode": "none", "scale": 3.0}
    np.testing.assert_array_equal(result.keypoints[0, 0], (200, 150, 1))
    np.testing.assert_array_equal(result.keypoints[1, 1], (-100, 300, 0.5))
    assert not result.keypoints[0, 1:].any() and not result.keypoints[1, 0].any()

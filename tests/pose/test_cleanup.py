"""Keypoint clean-up on synthetic tracks: gap filling, One-Euro smoothing, ``clean``.

The smoothing tests print their measurements (run ``pytest -s``) and put them in the assertion
messages: RMS error against the true track before/after smoothing, and the lag in frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.pose.cleanup import OneEuroFilter, clean, fill_gaps, smooth
from dancenow.pose.layout import NUM_KEYPOINTS
from dancenow.pose.posefile import PoseSequence

FPS = 30.0
HEIGHT = 1080


def _track(x: np.ndarray, y: np.ndarray | float = 500.0, k: int = 4) -> np.ndarray:
    """``(T, 137, 3)`` with keypoint ``k`` following (x, y) at confidence 1, all others missing."""
    kp = np.zeros((len(x), NUM_KEYPOINTS, 3), np.float32)
    kp[:, k, 0] = x
    kp[:, k, 1] = y
    kp[:, k, 2] = 1.0
    return kp


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, float) - b) ** 2)))


def _lag(truth: np.ndarray, estimate: np.ndarray) -> float:
    """Frames by which ``estimate`` trails ``truth``: argmax of their cross-correlation, refined
    to a fraction of a frame by a parabola through the peak and its neighbours."""
    a, b = truth - truth.mean(), estimate - estimate.mean()
    c = np.correlate(b, a, "full")
    i = int(np.argmax(c))
    frac = 0.0
    if 0 < i < len(c) - 1:
        frac = 0.5 * (c[i - 1] - c[i + 1]) / (c[i - 1] - 2 * c[i] + c[i + 1])
    return i - (len(a) - 1) + frac


# --- fill_gaps -------------------------------------------------------------------------------


def test_fill_gap_is_exact_for_linear_motion():
    t = np.arange(20, dtype=np.float32)
    kp = _track(100 + 5 * t, 200 - 2 * t)
    kp[:, 7] = _track(300 + t)[:, 4]  # another keypoint, untouched by the gap
    kp[9, 4, 2], kp[13, 4, 2] = 0.8, 0.6
    kp[10:13, 4] = 0  # 3 missing frames
    out = fill_gaps(kp, max_gap=3)
    np.testing.assert_allclose(out[10:13, 4, 0], 100 + 5 * t[10:13], atol=1e-4)
    np.testing.assert_allclose(out[10:13, 4, 1], 200 - 2 * t[10:13], atol=1e-4)
    np.testing.assert_allclose(out[10:13, 4, 2], 0.6)  # the weaker neighbour
    np.testing.assert_array_equal(np.delete(out, np.s_[10:13], axis=0), np.delete(kp, np.s_[10:13], axis=0))
    np.testing.assert_array_equal(out[:, 7], kp[:, 7])
    assert out.dtype == np.float32 and kp[11, 4, 2] == 0, "input must not be modified"


def test_gap_longer_than_max_gap_stays_missing():
    kp = _track(np.linspace(0, 100, 30))
    kp[10:14, 4] = 0  # 4 missing frames
    out = fill_gaps(kp, max_gap=3)
    assert not out[10:14, 4].any()
    assert fill_gaps(kp, max_gap=4)[10:14, 4, 2].min() > 0
    assert not fill_gaps(kp, max_gap=0)[10:14, 4].any()


def test_leading_and_trailing_gaps_stay_missing():
    kp = _track(np.linspace(0, 100, 30))
    kp[:2, 4] = 0
    kp[-2:, 4] = 0
    out = fill_gaps(kp, max_gap=10)
    assert not out[:2, 4].any() and not out[-2:, 4].any()
    assert not out[:, :4].any() and not out[:, 5:].any(), "never-seen keypoints stay missing"


def test_fill_gaps_rejects_bad_input():
    with pytest.raises(ValueError, match="max_gap"):
        fill_gaps(_track(np.zeros(5)), max_gap=-1)
    with pytest.raises(ValueError, match=r"\(T, K, 3\)"):
        fill_gaps(np.zeros((5, 137)), max_gap=1)
    assert fill_gaps(np.zeros((0, NUM_KEYPOINTS, 3)), 3).shape == (0, NUM_KEYPOINTS, 3)


# --- One-Euro --------------------------------------------------------------------------------


def test_one_euro_filter_basics():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(f(x, 0.1), x)  # first sample passes through
    np.testing.assert_allclose(f(x, 0.1), x)  # a constant stays constant
    y = f(x + 1, 0.1)
    assert ((y > x) & (y < x + 1)).all(), "a step is followed part of the way"
    # A missing element passes through and restarts: its next sample is taken as is.
    f(np.zeros((2, 2)), 0.1, present=np.array([[True], [False]]))
    np.testing.assert_array_equal(f(x + 10, 0.1)[1], (x + 10)[1])
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0.0, beta=1.0)


def test_still_point_jitter_drops(capsys):
    rng = np.random.default_rng(0)
    truth = 960.0
    noisy = truth + rng.normal(0, 3.0, 300)  # 3 px at 1080p, 30 fps, 10 s
    out = smooth(_track(noisy), FPS, scale=HEIGHT)[:, 4, 0]
    before, after = _rms(noisy, truth), _rms(out, truth)
    msg = f"still point, 3 px noise: RMS {before:.2f} px -> {after:.2f} px ({before / after:.1f}x lower)"
    print(msg)
    assert after * 2 <= before, msg


@pytest.mark.parametrize("sigma", [3.0, 8.0])
def test_fast_sinusoid_no_lag(sigma):
    """2 Hz, 200 px amplitude at 1080p, 30 fps: 84 px per frame at mid-swing.

    With 8 px of noise (a motion-blurred wrist) smoothing must not be worse than the raw points.
    With 3 px the turning points' rounding (~3.5 px, see cleanup's notes) exceeds the noise, so
    the bound is looser there; the lag must be at most one frame either way.
    """
    rng = np.random.default_rng(1)
    t = np.arange(300) / FPS
    truth = 960 + 200 * np.sin(2 * np.pi * 2.0 * t)
    noisy = truth + rng.normal(0, sigma, len(t))
    out = smooth(_track(noisy), FPS, scale=HEIGHT)[:, 4, 0]
    causal = smooth(_track(noisy), FPS, scale=HEIGHT, bidirectional=False)[:, 4, 0]
    before, after = _rms(noisy, truth), _rms(out, truth)
    lag = _lag(truth, out)
    msg = (
        f"2 Hz / 200 px sinusoid, {sigma:g} px noise: RMS {before:.2f} -> {after:.2f} px, "
        f"lag {lag:+.2f} frames "
        f"(causal pass alone: RMS {_rms(causal, truth):.2f} px, lag {_lag(truth, causal):+.2f} frames)"
    )
    print(msg)
    assert abs(lag) <= 1, msg
    assert after <= (1.0 if sigma >= 8 else 1.5) * before, msg


def test_missing_points_stay_zero_and_filter_restarts():
    x = np.r_[np.full(50, 100.0), np.zeros(10), np.full(40, 500.0)]
    kp = _track(x)
    kp[50:60, 4] = 0
    out = smooth(kp, FPS, scale=HEIGHT)
    assert not out[50:60, 4].any()
    assert not out[:, :4].any() and not out[:, 5:].any()
    # No smoothing across the dropout: the track resumes where it really is.
    np.testing.assert_allclose(out[60:, 4, 0], 500.0, atol=1e-3)
    np.testing.assert_allclose(out[:50, 4, 0], 100.0, atol=1e-3)
    np.testing.assert_array_equal(out[..., 2], kp[..., 2])


def test_smoothing_is_resolution_independent():
    rng = np.random.default_rng(2)
    x = 500 + 100 * np.sin(np.arange(120) / 5) + rng.normal(0, 3, 120)
    small = smooth(_track(x, 300.0), FPS, scale=540)
    large = smooth(_track(2 * x, 600.0), FPS, scale=1080)
    np.testing.assert_allclose(large[..., :2], 2 * small[..., :2], rtol=1e-5, atol=1e-3)


def test_per_part_parameters():
    rng = np.random.default_rng(3)
    kp = _track(960 + rng.normal(0, 3, 100), k=30)  # a face point
    steady = smooth(
        kp, FPS, scale=HEIGHT, min_cutoff={"body": 0.5, "face": 0.1, "left_hand": 1, "right_hand": 1}
    )
    loose = smooth(
        kp, FPS, scale=HEIGHT, min_cutoff={"body": 0.5, "face": 5.0, "left_hand": 1, "right_hand": 1}
    )
    assert np.std(steady[:, 30, 0]) < np.std(loose[:, 30, 0])
    with pytest.raises(ValueError, match="parts"):
        smooth(kp, FPS, min_cutoff={"body": 1.0})


# --- clean -----------------------------------------------------------------------------------


def test_clean_keeps_metadata_and_fills_short_gaps():
    t = np.arange(60)
    kp = _track(100 + 3.0 * t)
    kp[20:24, 4] = 0  # 4 frames = 0.13 s: filled by the default 0.25 s
    kp[40:50, 4] = 0  # 10 frames = 0.33 s: kept missing
    times = t / FPS + 0.5
    poses = PoseSequence(kp, fps=FPS, width=1920, height=HEIGHT, detector="synthetic", times=times)
    out = clean(poses)
    assert (out.fps, out.width, out.height, out.detector) == (FPS, 1920, HEIGHT, "synthetic")
    np.testing.assert_array_equal(out.times, times)
    assert out.keypoints.shape == kp.shape and out.keypoints.dtype == np.float32
    assert (out.keypoints[20:24, 4, 2] > 0).all() and not out.keypoints[40:50, 4].any()
    # Linear motion is left alone, except for a small pull in the first frames of a stretch, where
    # the forward pass has no history to lag with and so cannot cancel the backward pass's lead.
    np.testing.assert_allclose(out.keypoints[5:35, 4, 0], 100 + 3.0 * t[5:35], atol=0.5)
    np.testing.assert_allclose(out.keypoints[:40, 4, 0], 100 + 3.0 * t[:40], atol=2.5)
    filled_only = clean(poses, smooth=False)
    np.testing.assert_allclose(filled_only.keypoints[20:24, 4, 0], 100 + 3.0 * t[20:24], atol=1e-4)
    assert poses.keypoints[21, 4, 2] == 0, "input must not be modified"

"""Stick-figure rendering: shapes, colours where limbs are, skipping, determinism, robustness."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.pose.layout import (
    BODY_COLORS,
    FACE,
    FACE_COLOR,
    HAND_COLORS,
    LEFT_HAND,
    NUM_KEYPOINTS,
    RIGHT_HAND,
    B,
)
from dancenow.pose.render import line_widths, overlay, render_pose


def _hand(wrist, direction, side: float, length: float) -> np.ndarray:
    """(21, 2) OpenPose hand: five fingers fanning out from ``wrist`` along ``direction``."""
    u = np.asarray(direction, float) / np.linalg.norm(direction)
    v = np.array([-u[1], u[0]]) * side  # towards the thumb
    pts = [np.asarray(wrist, float)]
    spread = np.radians([55, 20, 5, -10, -25])  # thumb, index, middle, ring, pinky
    base = [(0.15, 0.3), (0.55, 0.25), (0.6, 0.05), (0.55, -0.13), (0.5, -0.3)]  # (along u, along v)
    bones = [(0.25, 0.2, 0.16), (0.25, 0.15, 0.12), (0.28, 0.17, 0.13), (0.25, 0.15, 0.12), (0.2, 0.12, 0.1)]
    for f in range(5):
        d = np.cos(spread[f]) * u + np.sin(spread[f]) * v
        p = pts[0] + length * (base[f][0] * u + base[f][1] * v)
        pts.append(p)
        for bone in bones[f]:
            p = p + length * bone * d
            pts.append(p)
    return np.array(pts)


def _face(cx: float, cy: float, s: float) -> np.ndarray:
    """(70, 2) iBUG-68 + pupils face of half-width ``s`` centred at (cx, cy), facing the camera."""
    pts = []
    phi = np.linspace(0, np.pi, 17)
    pts += list(zip(cx - s * np.cos(phi), cy - 0.1 * s + 1.2 * s * np.sin(phi), strict=True))  # jaw 0-16
    bx = np.linspace(0.8, 0.15, 5)
    pts += [(cx - x * s, cy - 0.55 * s - 0.1 * s * np.sin(np.pi * (0.8 - x) / 0.65)) for x in bx]
    pts += [(cx + x * s, cy - 0.55 * s - 0.1 * s * np.sin(np.pi * (0.8 - x) / 0.65)) for x in bx[::-1]]
    pts += [(cx, cy + y * s) for y in np.linspace(-0.4, 0.15, 4)]  # nose bridge 27-30
    pts += [(cx + x * s, cy + (0.3 + 0.05 * (1 - abs(x) / 0.25)) * s) for x in np.linspace(-0.25, 0.25, 5)]
    ang = np.radians([180, 120, 60, 0, -60, -120])  # corner, upper lid, corner, lower lid
    for ex in (-0.4, 0.4):  # right eye 36-41 (image left), left eye 42-47
        pts += [(cx + ex * s + 0.16 * s * np.cos(a), cy - 0.3 * s - 0.07 * s * np.sin(a)) for a in ang]
    for n, w, h in ((12, 0.4, 0.16), (8, 0.28, 0.06)):  # mouth outer 48-59, inner 60-67
        ang = np.pi + np.arange(n) * 2 * np.pi / n
        pts += [(cx + w * s * np.cos(a), cy + 0.65 * s + h * s * np.sin(a)) for a in ang]
    pts += [(cx - 0.4 * s, cy - 0.3 * s), (cx + 0.4 * s, cy - 0.3 * s)]  # pupils 68, 69
    return np.array(pts)


def sample_pose(size: int = 512) -> np.ndarray:
    """A plausible full ``(137, 3)`` pose (left arm raised) for a ``size`` x ``size`` image."""
    body = {
        "nose": (256, 92), "neck": (256, 140), "right_shoulder": (214, 144), "right_elbow": (196, 204),
        "right_wrist": (184, 262), "left_shoulder": (298, 144), "left_elbow": (338, 116),
        "left_wrist": (360, 66), "mid_hip": (256, 262), "right_hip": (236, 262), "right_knee": (228, 352),
        "right_ankle": (222, 440), "left_hip": (276, 262), "left_knee": (292, 352), "left_ankle": (302, 440),
        "right_eye": (249, 86), "left_eye": (263, 86), "right_ear": (240, 90), "left_ear": (272, 90),
        "left_big_toe": (318, 456), "left_small_toe": (326, 452), "left_heel": (298, 450),
        "right_big_toe": (206, 456), "right_small_toe": (198, 452), "right_heel": (226, 450),
    }  # fmt: skip
    kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for name, xy in body.items():
        kp[B[name], :2] = xy
    kp[FACE, :2] = _face(256, 96, 15)
    kp[LEFT_HAND, :2] = _hand(body["left_wrist"], (0.35, -1), side=-1, length=30)
    kp[RIGHT_HAND, :2] = _hand(body["right_wrist"], (-0.15, 1), side=1, length=30)
    kp[:, :2] *= size / 512
    kp[:, 2] = 0.9
    return kp


def _only(indices: list[int], xy: list[tuple[float, float]]) -> np.ndarray:
    kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for i, p in zip(indices, xy, strict=True):
        kp[i] = (*p, 1.0)
    return kp


def test_shape_dtype_and_default_widths():
    img = render_pose(sample_pose(), 512, 384)
    assert img.shape == (512, 384, 3) and img.dtype == np.uint8
    assert img.any()
    assert line_widths(512) == (4, 2, 1)
    assert line_widths(1080) == (8, 4, 3)
    assert line_widths(16) == (1, 1, 1)


def test_empty_pose_is_black():
    img = render_pose(np.zeros((NUM_KEYPOINTS, 3)), 64, 80)
    assert img.shape == (64, 80, 3) and not img.any()


def test_single_limb_colour_near_segment_only():
    # Right upper arm: shoulder (2) -> elbow (3), coloured by the elbow; 4 px wide at 512 high.
    img = render_pose(_only([2, 3], [(100, 256), (400, 256)]), 512, 512)
    ys, xs = np.nonzero(img.any(axis=2))
    assert abs(ys - 256).max() <= 4, "pixels drawn far from the limb"
    assert xs.min() >= 100 - 4 and xs.max() <= 400 + 4
    # The limb's middle is solid elbow colour; the shoulder's joint dot has its own colour.
    assert (img[256, 250] == BODY_COLORS[3]).all()
    assert (img[256, 100] == BODY_COLORS[2]).all()
    assert not img[:250].any() and not img[263:].any()


def test_missing_end_skips_limb():
    both = render_pose(_only([2, 3], [(20, 50), (108, 50)]), 100, 128)
    one = _only([2, 3], [(20, 50), (108, 50)])
    one[3] = 0  # elbow missing: only the shoulder's dot remains
    img = render_pose(one, 100, 128)
    assert img[50, 64].sum() == 0 and both[50, 64].sum() > 0
    assert img[50, 20].any()
    # Non-finite coordinates count as missing too.
    nan = _only([2, 3], [(20, 50), (np.nan, 50)])
    assert not render_pose(nan, 100, 128)[50, 64].any()


def test_face_and_hands_colours_and_switches():
    kp = sample_pose()
    img = render_pose(kp, 512, 512)
    face_box = img[70:125, 235:280].reshape(-1, 3)
    assert (face_box == FACE_COLOR).all(axis=1).any()
    hand_colours = {tuple(c) for c in HAND_COLORS[1:]}
    assert any(tuple(c) in hand_colours for c in img[30:100, 340:400].reshape(-1, 3))
    no_face = render_pose(kp, 512, 512, face=False)
    assert not (no_face[70:125, 235:280].reshape(-1, 3) == FACE_COLOR).all(axis=1).any()
    hand_only = np.zeros_like(kp)
    hand_only[RIGHT_HAND] = kp[RIGHT_HAND]
    assert not render_pose(hand_only, 512, 512, hands=False).any()
    drawn = render_pose(hand_only, 512, 512).reshape(-1, 3)
    assert {tuple(c) for c in drawn} & hand_colours


def test_deterministic():
    kp = sample_pose()
    a = render_pose(kp, 512, 512)
    b = render_pose(kp.copy(), 512, 512)
    assert np.array_equal(a, b)


def test_line_width_grows_with_height():
    def thickness(size: int) -> int:
        kp = _only([2, 3], [(0.2 * size, 0.5 * size), (0.8 * size, 0.5 * size)])
        img = render_pose(kp, size, size, face=False, hands=False)
        # Anti-aliased edges are faint; count the pixels at least half as bright as the limb.
        return int((img[:, size // 2].max(axis=1) >= 128).sum())

    t256, t512, t1024 = thickness(256), thickness(512), thickness(1024)
    assert t256 < t512 < t1024, (t256, t512, t1024)
    assert 3 <= t512 <= 6
    kp = _only([2, 3], [(20, 50), (108, 50)])
    thin = (render_pose(kp, 100, 128, line_width=1)[:, 64].max(axis=1) >= 128).sum()
    thick = (render_pose(kp, 100, 128, line_width=9)[:, 64].max(axis=1) >= 128).sum()
    assert thin <= 3 and thick >= 9


@pytest.mark.parametrize("far", [1e4, -1e6, 3e9, -1e30])
def test_out_of_range_coordinates_do_not_crash(far):
    kp = sample_pose(128)
    kp[B["right_wrist"], :2] = (far, far / 3)
    kp[LEFT_HAND.start + 8, :2] = (-far, 10)
    kp[FACE.start + 30, :2] = (64, far)
    img = render_pose(kp, 128, 128)
    assert img.shape == (128, 128, 3)
    # The visible part of the forearm (elbow -> far wrist) is still drawn where it starts.
    ex, ey = np.round(kp[B["right_elbow"], :2]).astype(int)
    assert img[ey, ex].any()


def test_far_limb_keeps_its_direction():
    # Elbow ten million pixels to the right: the visible arm still runs along y = 256 to the edge.
    img = render_pose(_only([2, 3], [(100, 256), (1e7, 256.0)]), 512, 512)
    assert (img[256, 300:] == BODY_COLORS[3]).all()
    assert not img[:250].any() and not img[263:].any()


def test_canvas_is_not_modified():
    canvas = np.full((512, 512, 3), 40, np.uint8)
    before = canvas.copy()
    img = render_pose(sample_pose(), 512, 512, canvas=canvas)
    assert np.array_equal(canvas, before)
    assert (img != canvas).any()
    assert (img[0, 0] == 40).all()  # untouched background keeps the canvas
    assert np.array_equal(overlay(canvas, sample_pose()), img)
    with pytest.raises(ValueError, match="canvas"):
        render_pose(sample_pose(), 256, 256, canvas=canvas)

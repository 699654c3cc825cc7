"""Stick-figure rendering: ``openpose137`` keypoints -> the generator's RGB label image.

OpenPose style (what the paper's networks were trained on): body limbs are filled ellipses
coloured by the limb's second keypoint plus a dot per joint, the face is thin white contour
lines with dots for the pupils, and hands get one hue per finger, brighter towards the tip.
All names, limbs and colours come from :mod:`dancenow.pose.layout`.

Rendering is a pure function of (keypoints, size, options): the label for a frame must be
identical every time it is drawn (training, evaluation and transfer all re-render), so there is
no randomness and no state. Drawing is anti-aliased with sub-pixel coordinates, so a joint that
moves by a fraction of a pixel changes the label a little instead of jumping a whole pixel,
which would read as flicker to the temporal discriminator.
"""

from __future__ import annotations

import cv2
import numpy as np

from dancenow.pose.layout import (
    BODY,
    BODY_COLORS,
    BODY_LIMBS,
    FACE,
    FACE_COLOR,
    FACE_LIMBS,
    HAND_COLORS,
    HAND_LIMBS,
    LEFT_HAND,
    NUM_KEYPOINTS,
    RIGHT_HAND,
)

# Line widths per pixel of image height: 4 px body / 2 px hands / 1 px face at 512 high,
# 8 / 4 / 3 px at 1080. Face lines are thinnest because 70 points crowd into ~1/8 of the height.
BODY_WIDTH_PER_HEIGHT = 1 / 128
HAND_WIDTH_PER_HEIGHT = 1 / 256
FACE_WIDTH_PER_HEIGHT = 1 / 384

# cv2 draws with integer coordinates; SHIFT fractional bits give 1/16 px precision.
_SHIFT = 4
_ONE = 1 << _SHIFT
# Vertices of the polygon that approximates a limb's ellipse (fine enough at 4K).
_ELLIPSE_VERTICES = 48
# The two pupils are not part of any face contour; they are drawn as dots so gaze shows.
_PUPILS = (68, 69)


def line_widths(height: int, line_width: int | None = None) -> tuple[int, int, int]:
    """``(body, hands, face)`` line widths in pixels for an image ``height`` pixels high.

    ``line_width`` overrides the body width; hands and face keep their proportions to it.
    """
    if line_width is not None:
        if line_width < 1:
            raise ValueError(f"line_width must be >= 1, got {line_width}")
        return line_width, max(1, round(line_width / 2)), max(1, round(line_width / 3))
    return (
        max(1, round(height * BODY_WIDTH_PER_HEIGHT)),
        max(1, round(height * HAND_WIDTH_PER_HEIGHT)),
        max(1, round(height * FACE_WIDTH_PER_HEIGHT)),
    )


def _clip_segment(p: np.ndarray, q: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Liang-Barsky: the part of segment p-q inside the box [lo, hi], or None if none is.

    Clipping (rather than clamping each end) keeps a limb's direction when one end is absurdly
    far away, so its visible part stays where it was.
    """
    d = q - p
    t0, t1 = 0.0, 1.0
    for axis in range(2):
        if d[axis] == 0:
            if p[axis] < lo[axis] or p[axis] > hi[axis]:
                return None
            continue
        ta = (lo[axis] - p[axis]) / d[axis]
        tb = (hi[axis] - p[axis]) / d[axis]
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
        if t0 > t1:
            return None
    return p + t0 * d, p + t1 * d


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> int32 fixed point for cv2's ``shift`` argument."""
    return np.round(points * _ONE).astype(np.int32)


def _limb_ellipse(img: np.ndarray, p: np.ndarray, q: np.ndarray, width: int, color) -> None:
    """A filled ellipse spanning p-q, ``width`` px across at its middle (OpenPose's limb shape)."""
    centre = (p + q) / 2
    d = q - p
    half_length = max(float(np.hypot(*d)) / 2, width / 2)  # never thinner than wide
    angle = np.arctan2(d[1], d[0])
    t = np.linspace(0, 2 * np.pi, _ELLIPSE_VERTICES, endpoint=False)
    # cv2's anti-aliased outline adds ~half a pixel on each side, so the polygon is 1 px narrower.
    half_width = (width - 1) / 2
    local = np.stack([half_length * np.cos(t), half_width * np.sin(t)], axis=1)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    poly = centre + local @ rot.T
    cv2.fillConvexPoly(img, _fixed(poly), color, cv2.LINE_AA, _SHIFT)


def _line(img: np.ndarray, p: np.ndarray, q: np.ndarray, width: int, color) -> None:
    a, b = _fixed(p), _fixed(q)
    cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), color, width, cv2.LINE_AA, _SHIFT)


def _dot(img: np.ndarray, p: np.ndarray, radius: float, color) -> None:
    c = _fixed(p)
    cv2.circle(img, (int(c[0]), int(c[1])), int(round(radius * _ONE)), color, -1, cv2.LINE_AA, _SHIFT)


def render_pose(
    keypoints: np.ndarray,
    height: int,
    width: int,
    *,
    canvas: np.ndarray | None = None,
    line_width: int | None = None,
    face: bool = True,
    hands: bool = True,
) -> np.ndarray:
    """Draw one pose as an OpenPose-style stick figure.

    Args:
        keypoints: ``(137, 3)`` (x, y, confidence) in pixels of the output image (x right, y down);
            confidence 0 (or non-finite coordinates) = missing. A limb is drawn only when both of
            its ends are present; points far outside the image are fine.
        height, width: output size in pixels.
        canvas: optional ``(height, width, 3)`` uint8 image to draw over (previews); it is copied,
            never modified. Default: black.
        line_width: body limb width in pixels; default scales with ``height``
            (see :func:`line_widths`).
        face, hands: draw the face contours / the hands.

    Returns:
        ``(height, width, 3)`` uint8 RGB image.
    """
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be ({NUM_KEYPOINTS}, 3), got {keypoints.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if canvas is None:
        img = np.zeros((height, width, 3), np.uint8)
    else:
        if canvas.shape != (height, width, 3) or canvas.dtype != np.uint8:
            raise ValueError(
                f"canvas must be ({height}, {width}, 3) uint8, got {canvas.dtype} {canvas.shape}"
            )
        img = np.ascontiguousarray(canvas).copy()

    xy = keypoints[:, :2]
    present = (keypoints[:, 2] > 0) & np.isfinite(xy).all(axis=1)
    body_w, hand_w, face_w = line_widths(height, line_width)
    # Limbs are clipped to a box one image size larger than the image on every side: that keeps
    # cv2's fixed-point coordinates far inside int32, and an ellipse only changes shape (tapers
    # at the clip point instead of at its real end) when that end is even further away.
    pad = max(height, width)
    lo, hi = np.array([-pad, -pad], float), np.array([width + pad, height + pad], float)

    def segments(limbs, offset: int):
        for a, b in limbs:
            a, b = a + offset, b + offset
            if present[a] and present[b]:
                clipped = _clip_segment(xy[a], xy[b], lo, hi)
                if clipped is not None:
                    yield b - offset, clipped

    def inside(i: int) -> bool:
        return bool(present[i] and (lo <= xy[i]).all() and (xy[i] <= hi).all())

    # Body: limbs first, then joints on top, as OpenPose does.
    for b, (p, q) in segments(BODY_LIMBS, BODY.start):
        _limb_ellipse(img, p, q, body_w, BODY_COLORS[b])
    for i in range(BODY.start, BODY.stop):
        if inside(i):
            _dot(img, xy[i], 0.75 * body_w, BODY_COLORS[i - BODY.start])

    if face:
        for _, (p, q) in segments(FACE_LIMBS, FACE.start):
            _line(img, p, q, face_w, FACE_COLOR)
        for i in _PUPILS:
            if inside(FACE.start + i):
                _dot(img, xy[FACE.start + i], face_w, FACE_COLOR)

    if hands:
        for hand in (LEFT_HAND, RIGHT_HAND):
            for b, (p, q) in segments(HAND_LIMBS, hand.start):
                _line(img, p, q, hand_w, HAND_COLORS[b])
            for i in range(hand.start, hand.stop):
                if inside(i):
                    _dot(img, xy[i], hand_w * 0.75, HAND_COLORS[i - hand.start])
    return img


def overlay(image: np.ndarray, keypoints: np.ndarray, **kwargs) -> np.ndarray:
    """The stick figure of ``keypoints`` ``(137, 3)`` drawn over a copy of ``image`` ``(H, W, 3)`` uint8.

    Keyword arguments go to :func:`render_pose`. For pose previews.
    """
    height, width = image.shape[:2]
    return render_pose(keypoints, height, width, canvas=image, **kwargs)

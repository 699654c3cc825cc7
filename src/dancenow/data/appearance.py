"""Texture from the target's own frames: retrieve a training frame by pose, warp it part by part
into the wanted pose, and give it to the generator beside the stick figure.

A network trained for minutes on a few hundred frames cannot invent folds, faces and hands from
a stick figure; the target's training frames show them, in similar poses. :class:`AppearanceBank`
holds those frames (crops at training size, person masks, keypoints in training pixels) and a
:class:`~dancenow.pose.nearest.PoseIndex` of their normalized bodies. For a wanted pose it
retrieves the nearest training frame and makes the generator's extra input:

- ``nearest``: the retrieved crop as it is, valid where its person mask is;
- ``warped``: :func:`warp_parts`, the retrieved person moved limb by limb onto the wanted pose.

The per-part warp (after Siarohin et al., "Deformable GANs", 2018): each part gets its own 2-D
transform from its joints in the retrieved frame to the wanted joints:

- torso: an affine fit (least squares) of neck, shoulders and hips;
- head: a similarity fit of nose, eyes, ears and neck;
- upper arms, forearms (with the hand), thighs, shins (with the foot): a transform that maps the
  retrieved segment onto the wanted one, stretching along the limb only (across it the person's
  scale is kept, so a foreshortened limb does not become thin).

Each warped part is cut with a soft mask around the wanted part (a capsule around the limb
segment, the torso's hull, a disc around the head) times the retrieved person mask warped the
same way, and laid over the parts behind it (torso, legs, head, then arms, whose texture is
usually in front). The torso, legs and head take nothing from where the retrieved frame shows
its own arms (capsules around them): an arm in front of the torso would otherwise travel with
the torso and show an arm where the wanted pose has none. The result is the warped RGB and a
per-pixel valid map in ``[0, 1]``; parts whose joints are missing in either pose are left out
(valid 0 there).

Coordinates: keypoints are continuous (pixel ``i`` covers ``[i, i+1)``); OpenCV's warps put pixel
centres on integers, so keypoints are shifted by half a pixel before a transform is fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dancenow.data import APPEARANCE_MODES
from dancenow.pose.layout import LEFT_HAND, RIGHT_HAND, B
from dancenow.pose.nearest import PoseIndex

__all__ = [
    "APPEARANCE_MODES",
    "EXCLUDE_SECONDS",
    "AppearanceBank",
    "exclusion_frames",
    "warp_parts",
]

EXCLUDE_SECONDS = 0.5
"""While training, a frame never retrieves a frame within this many seconds of itself: those
show the answer (the same pose, the same folds), and the network would learn to copy it."""
FEATHER = 0.06
"""Soft edge of every part's cut, as a fraction of the torso length."""
MAX_STRETCH = 2.5
"""A limb's texture is stretched or shrunk along the limb by at most this factor."""


def exclusion_frames(fps: float) -> int:
    """``N``: frames within ``±N`` of a training frame are never its neighbours (0.5 s)."""
    return max(1, round(EXCLUDE_SECONDS * fps))


# --------------------------------------------------------------------------- the parts


@dataclass(frozen=True)
class _Limb:
    """A two-joint part: ``a -> b``; ``end`` (keypoint indices) extends the cut past ``b``
    (hand, foot); widths are fractions of the torso length."""

    a: int
    b: int
    width: float
    end: tuple[int, ...] = ()
    end_width: float = 0.0


_RIGHT_FOOT = (B["right_big_toe"], B["right_small_toe"], B["right_heel"])
_LEFT_FOOT = (B["left_big_toe"], B["left_small_toe"], B["left_heel"])
_LEGS = (
    _Limb(B["right_hip"], B["right_knee"], 0.30),
    _Limb(B["left_hip"], B["left_knee"], 0.30),
    _Limb(
        B["right_knee"],
        B["right_ankle"],
        0.22,
        (B["right_big_toe"], B["right_small_toe"], B["right_heel"]),
        0.18,
    ),
    _Limb(
        B["left_knee"], B["left_ankle"], 0.22, (B["left_big_toe"], B["left_small_toe"], B["left_heel"]), 0.18
    ),
)
_ARMS = (
    _Limb(B["right_shoulder"], B["right_elbow"], 0.22),
    _Limb(B["left_shoulder"], B["left_elbow"], 0.22),
    _Limb(B["right_elbow"], B["right_wrist"], 0.18, tuple(range(RIGHT_HAND.start, RIGHT_HAND.stop)), 0.22),
    _Limb(B["left_elbow"], B["left_wrist"], 0.18, tuple(range(LEFT_HAND.start, LEFT_HAND.stop)), 0.22),
)
_TORSO = (B["neck"], B["right_shoulder"], B["left_shoulder"], B["mid_hip"], B["right_hip"], B["left_hip"])
_HEAD = (B["nose"], B["right_eye"], B["left_eye"], B["right_ear"], B["left_ear"])
TORSO_MARGIN = 0.2
"""The torso's cut reaches this far (torso lengths) beyond the hull of its joints."""
HEAD_RADIUS = 0.38
"""The head's cut: a disc of this radius (torso lengths) around the face's joints, hair included."""


def _torso_length(kp: np.ndarray) -> float:
    """Neck to mid-hip (pixels), else a third of the body's height; at least 1."""
    ok = kp[:, 2] > 0
    if ok[B["neck"]] and ok[B["mid_hip"]]:
        return max(1.0, float(np.linalg.norm(kp[B["neck"], :2] - kp[B["mid_hip"], :2])))
    body = kp[:25][kp[:25, 2] > 0]
    return max(1.0, float(np.ptp(body[:, 1])) / 3 if len(body) > 1 else 1.0)


def _affine_fit(src: np.ndarray, dst: np.ndarray, scale: float) -> np.ndarray | None:
    """``(2, 3)`` least-squares affine taking ``src`` ``(n, 2)`` to ``dst``, or None when the
    points do not span two dimensions. Its stretch in any direction is kept within
    ``[scale / MAX_STRETCH, scale * MAX_STRETCH]``: a torso seen from the front, fitted to one
    seen from the side, would otherwise be squeezed to a line."""
    a = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    if len(src) < 3 or np.linalg.matrix_rank(a, tol=1e-3 * max(1.0, np.abs(src).max())) < 3:
        return None
    m, *_ = np.linalg.lstsq(a, dst, rcond=None)
    u, sv, vt = np.linalg.svd(m[:2].T)
    lin = u @ np.diag(np.clip(sv, scale / MAX_STRETCH, scale * MAX_STRETCH)) @ vt
    return np.concatenate([lin, (dst.mean(0) - lin @ src.mean(0))[:, None]], axis=1)


def _similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """``(2, 3)`` least-squares rotation + uniform scale + translation (no reflection) taking
    ``src`` ``(n, 2)`` to ``dst``, or None with fewer than 2 distinct points."""
    if len(src) < 2:
        return None
    zs, zd = src[:, 0] + 1j * src[:, 1], dst[:, 0] + 1j * dst[:, 1]
    cs, cd = zs - zs.mean(), zd - zd.mean()
    norm = float((np.abs(cs) ** 2).sum())
    if norm < 1e-6:
        return None
    a = (cd * np.conj(cs)).sum() / norm
    b = zd.mean() - a * zs.mean()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def _limb_fit(
    a: np.ndarray, b: np.ndarray, a2: np.ndarray, b2: np.ndarray, across: float
) -> np.ndarray | None:
    """``(2, 3)`` transform taking segment ``a -> b`` onto ``a2 -> b2``: rotated, stretched along
    the segment (at most ``MAX_STRETCH``), scaled by ``across`` across it."""
    d, d2 = b - a, b2 - a2
    n1, n2 = float(np.linalg.norm(d)), float(np.linalg.norm(d2))
    if n1 < 1e-3 or n2 < 1e-3:
        return None
    u, u2 = d / n1, d2 / n2
    v, v2 = np.array([-u[1], u[0]]), np.array([-u2[1], u2[0]])
    along = float(np.clip(n2 / n1, 1 / MAX_STRETCH, MAX_STRETCH))
    lin = along * np.outer(u2, u) + across * np.outer(v2, v)  # p - a -> along·(u·p)u2 + across·(v·p)v2
    return np.concatenate([lin, (a2 - lin @ a)[:, None]], axis=1)


def _segment_distance(xx: np.ndarray, yy: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of every pixel centre (grids ``xx``, ``yy``) to the segment ``a -> b``."""
    d = b - a
    length2 = float(d @ d)
    px, py = xx - a[0], yy - a[1]
    t = np.clip((px * d[0] + py * d[1]) / length2, 0.0, 1.0) if length2 > 1e-9 else 0.0
    return np.hypot(px - t * d[0], py - t * d[1])


def _soft(distance: np.ndarray, radius: float, feather: float) -> np.ndarray:
    """1 well inside ``radius``, 0 beyond it, a linear ramp ``feather`` wide across the edge."""
    return np.clip((radius - distance) / feather + 0.5, 0.0, 1.0).astype(np.float32)


def warp_parts(
    image: np.ndarray, mask: np.ndarray, source: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move the person of ``image`` from pose ``source`` to pose ``target``, part by part.

    Args:
        image: ``(H, W, 3)`` uint8, the retrieved frame.
        mask: ``(H, W)`` uint8 person mask of ``image`` (255 = person; 0 beyond the video).
        source: ``(137, 3)`` keypoints of ``image`` (its pixels; confidence 0 = missing).
        target: ``(137, 3)`` the wanted pose, in the pixels of the ``(H, W)`` output.

    Returns:
        ``(rgb (H, W, 3) uint8, valid (H, W) float32 in [0, 1])``: the warped person (black where
        valid is 0) and how much of each pixel the warped parts cover.
    """
    h, w = image.shape[:2]
    src, dst = source.astype(np.float64), target.astype(np.float64)
    s_ok, d_ok = src[:, 2] > 0, dst[:, 2] > 0
    both = s_ok & d_ok
    s_xy, d_xy = src[:, :2] - 0.5, dst[:, :2] - 0.5  # OpenCV's pixel-centre coordinates
    unit = _torso_length(dst)  # the wanted pose's scale sets every width
    across = unit / _torso_length(src)
    feather = max(1.0, FEATHER * unit)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    layers: list[tuple[np.ndarray, np.ndarray]] = []  # (transform, cut), back to front

    # torso: an affine fit of its joints, cut by their hull grown by a margin
    idx = [j for j in _TORSO if both[j]]
    m = _affine_fit(s_xy[idx], d_xy[idx], across) if len(idx) >= 3 else None
    if m is None and both[B["neck"]] and both[B["mid_hip"]]:
        m = _limb_fit(s_xy[B["neck"]], s_xy[B["mid_hip"]], d_xy[B["neck"]], d_xy[B["mid_hip"]], across)
    if m is not None:
        hull = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(d_xy[idx]).astype(np.int32)), 1)
        outside = cv2.distanceTransform(1 - hull, cv2.DIST_L2, 3)
        layers.append((m, _soft(outside, TORSO_MARGIN * unit, feather)))
    # legs
    for limb in _LEGS:
        layers += _limb_layer(limb, s_xy, d_xy, both, d_ok, across, unit, feather, xx, yy)
    # head: a similarity fit of the face's joints and the neck, cut by a disc and the neck
    idx = [j for j in (*_HEAD, B["neck"]) if both[j]]
    face = [j for j in _HEAD if both[j]]
    m = _similarity_fit(s_xy[idx], d_xy[idx]) if face else None
    if m is not None:
        centre = d_xy[face].mean(0)
        cut = _soft(np.hypot(xx - centre[0], yy - centre[1]), HEAD_RADIUS * unit, feather)
        if d_ok[B["neck"]]:
            neck = _soft(_segment_distance(xx, yy, centre, d_xy[B["neck"]]), 0.18 * unit, feather)
            cut = np.maximum(cut, neck)
        layers.append((m, cut))
    body_layers = len(layers)
    # arms last: in front of the torso more often than behind it
    for limb in _ARMS:
        layers += _limb_layer(limb, s_xy, d_xy, both, d_ok, across, unit, feather, xx, yy)

    person = mask.astype(np.float32) / 255.0
    # The torso, legs and head take no texture from where the retrieved frame shows its arms:
    # an arm hanging in front of the torso would otherwise move with the torso, and the
    # generator would be shown an arm where the wanted pose has none.
    s_unit = _torso_length(src)
    body = person * (1.0 - _arms_of(s_xy, s_ok, s_unit, max(1.0, FEATHER * s_unit), xx, yy))
    acc = np.zeros((h, w, 3), np.float32)
    cover = np.zeros((h, w), np.float32)
    for k, (m, cut) in enumerate(layers):
        moved = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
        texture = body if k < body_layers else person
        alpha = cut * cv2.warpAffine(texture, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
        acc += alpha[..., None] * (moved.astype(np.float32) - acc)
        cover += alpha * (1.0 - cover)
    rgb = np.where(cover[..., None] > 1e-3, acc / np.maximum(cover[..., None], 1e-3), 0.0)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8), cover


def _capsule(limb: _Limb, xy, ok, unit, feather, xx, yy) -> np.ndarray | None:
    """``(H, W)`` soft cut around ``limb`` in pose ``xy`` (its hand / foot included), or None
    when one of its joints is missing (``ok``)."""
    if not (ok[limb.a] and ok[limb.b]):
        return None
    a, b = xy[limb.a], xy[limb.b]
    cut = _soft(_segment_distance(xx, yy, a, b), limb.width * unit, feather)
    ends = [j for j in limb.end if ok[j]]
    if ends:  # hand / foot: the cut reaches from the wrist / ankle to the farthest end point
        tip = xy[ends][np.argmax(np.linalg.norm(xy[ends] - b, axis=1))]
        cut = np.maximum(cut, _soft(_segment_distance(xx, yy, b, tip), limb.end_width * unit, feather))
    return cut


def _limb_layer(limb: _Limb, s_xy, d_xy, both, d_ok, across, unit, feather, xx, yy) -> list:
    """The ``(transform, cut)`` of one limb, or nothing when a joint is missing in either pose."""
    if not (both[limb.a] and both[limb.b]):
        return []
    m = _limb_fit(s_xy[limb.a], s_xy[limb.b], d_xy[limb.a], d_xy[limb.b], across)
    cut = _capsule(limb, d_xy, d_ok, unit, feather, xx, yy)
    return [] if m is None or cut is None else [(m, cut)]


def _arms_of(s_xy, s_ok, unit, feather, xx, yy) -> np.ndarray:
    """``(H, W)`` how much each pixel of the retrieved frame shows one of its arms (0..1)."""
    cover = np.zeros(xx.shape, np.float32)
    for limb in _ARMS:
        cut = _capsule(limb, s_xy, s_ok, unit, feather, xx, yy)
        if cut is not None:
            cover = np.maximum(cover, cut)
    return cover


# --------------------------------------------------------------------------- the bank


class AppearanceBank:
    """The target's training frames that appearance conditioning draws from.

    Args:
        frames: ``(N, H, W, 3)`` uint8 training crops (a memory map is fine).
        masks: ``(N, H, W)`` uint8 person masks of the same crops (255 = person).
        keypoints: ``(N, 137, 3)`` float32, their keypoints in training pixels.
        index: the :class:`~dancenow.pose.nearest.PoseIndex` of their normalized bodies (its
            ``frames`` are the frames' indices in the dataset, for the exclusion window).
    """

    def __init__(self, frames: np.ndarray, masks: np.ndarray, keypoints: np.ndarray, index: PoseIndex):
        n = len(index)
        if not (len(frames) == len(masks) == len(keypoints) == n):
            raise ValueError(
                f"frames, masks, keypoints and index differ in length: "
                f"{len(frames)}, {len(masks)}, {len(keypoints)}, {n}"
            )
        self.frames, self.masks, self.keypoints, self.index = frames, masks, keypoints, index

    def __len__(self) -> int:
        return len(self.index)

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)`` of the frames."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    def retrieve(
        self, keypoints: np.ndarray, k: int = 1, *, frames: np.ndarray | None = None, exclude: int = -1
    ) -> np.ndarray:
        """``(M, k)`` positions in the bank of the nearest frames to ``(M, 137, 3)`` poses, nearest
        first (``-1``: none); ``frames``/``exclude`` as :meth:`PoseIndex.query`. One vectorized
        pass for all poses."""
        from dancenow.pose.nearest import normalized_body

        return self.index.query(normalized_body(keypoints), k, query_frames=frames, exclude=exclude)

    def condition(self, i: int, wanted: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """The generator's appearance input for pose ``wanted`` ``(137, 3)`` (training pixels)
        from bank frame ``i``: ``(rgb (H, W, 3) uint8, valid (H, W) float32)``. ``nearest``: the
        frame as it is, valid on its person mask; ``warped``: :func:`warp_parts`. ``i = -1``
        (nothing retrieved): black, valid 0."""
        w, h = self.size
        if i < 0:
            return np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.float32)
        image, mask = np.asarray(self.frames[i]), np.asarray(self.masks[i])
        if mode == "nearest":
            valid = mask.astype(np.float32) / 255.0
            return np.where(valid[..., None] > 0, image, 0).astype(np.uint8), valid
        if mode == "warped":
            return warp_parts(image, mask, np.asarray(self.keypoints[i]), wanted)
        raise ValueError(f"appearance mode must be nearest or warped, got {mode!r}")

"""Drawing a person from ``openpose137`` keypoints: a performer that real pose detectors find.

:func:`render_performer` paints a clothed, shaded figure over a background using only the 2D
keypoints (so any pose, detected or procedural, can be rendered): a shirt torso between the
shoulders and hips, tapered limbs, trousers and shoes, hands with fingers on the hand keypoints,
a head with hair and a face (eyes, brows, nose, lips) on the face keypoints. :class:`Appearance`
fixes how the person looks; :data:`TARGET` and :data:`SOURCE` are two clearly different people.

What makes MediaPipe find the figure (measured; see ``tests/synthetic``): realistic
proportions, a face with dark irises and brows inside a skin-coloured head under hair, clothing
that contrasts with skin and background, and volume: every part is shaded as a cylinder or an
ellipsoid lit from the upper left and outlined by a darker rim, as photographs of people are.

Sizes are fractions of the performer's height in pixels, estimated from the torso
(neck to mid-hip is 0.29 of the height for the procedural skeleton and real adults alike).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from dancenow.pose.layout import (
    FACE,
    FACE_CHIN,
    FACE_JAW,
    FACE_LEFT_BROW,
    FACE_LEFT_EYE,
    FACE_LEFT_PUPIL,
    FACE_MOUTH_INNER,
    FACE_MOUTH_OUTER,
    FACE_NOSE_BASE,
    FACE_NOSE_BRIDGE,
    FACE_NOSE_TIP,
    FACE_RIGHT_BROW,
    FACE_RIGHT_EYE,
    FACE_RIGHT_PUPIL,
    LEFT_HAND,
    RIGHT_HAND,
    B,
)

_BROWS = np.r_[FACE_RIGHT_BROW, FACE_LEFT_BROW]
_FEATURES = np.r_[
    FACE_NOSE_BRIDGE, FACE_NOSE_BASE, FACE_RIGHT_EYE, FACE_LEFT_EYE, FACE_MOUTH_OUTER, FACE_MOUTH_INNER
]

__all__ = ["SOURCE", "TARGET", "Appearance", "make_background", "render_performer"]

Color = tuple[int, int, int]  # RGB 0..255

_HAIR_STYLES = ("short", "long", "bun")
_PATTERNS = ("plain", "stripes")
_SLEEVES = ("short", "long")
_SHIFT = 4  # sub-pixel bits for cv2 drawing: coordinates are multiplied by 16
# The shirt ends and the trousers start this far above the hip joints (performer heights), as on
# real people; a hem at the joints themselves made MediaPipe put the hips 0.03 heights too low.
HEM = 0.04
_LIGHT = np.array([-0.35, -0.5, 0.79]) / np.linalg.norm([-0.35, -0.5, 0.79])  # image x right, y down, z out


@dataclass(frozen=True)
class Appearance:
    """How the procedural performer looks."""

    skin: Color = (224, 172, 138)  # skin tone
    hair: Color = (60, 40, 28)  # hair colour (brows use a darker shade of it)
    hair_style: str = "short"  # "short", "long" (to the shoulders) or "bun"
    shirt: Color = (200, 40, 48)  # shirt base colour
    shirt_pattern: str = "plain"  # "plain" or "stripes" (horizontal)
    stripe: Color = (245, 245, 240)  # colour of the stripes
    sleeves: str = "short"  # "short" (forearms bare) or "long"
    trousers: Color = (40, 52, 90)  # trousers colour
    shoes: Color = (30, 30, 30)  # shoe colour
    lips: Color = (176, 96, 92)  # lip colour
    iris: Color = (70, 45, 30)  # iris colour
    limb_thickness: float = 1.0  # multiplies arm, leg and torso widths (0.8 slim .. 1.3 broad)
    head_size: float = 1.0  # multiplies the skull and hair size (0.9 .. 1.1)
    height: float = 0.7  # standing height as a fraction of the frame height (used by make_clip)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "Color" and (len(value) != 3 or not all(0 <= int(c) <= 255 for c in value)):
                raise ValueError(f"Appearance.{f.name} must be an RGB triple in 0..255, got {value!r}")
        if self.hair_style not in _HAIR_STYLES:
            raise ValueError(f"Appearance.hair_style must be one of {_HAIR_STYLES}, got {self.hair_style!r}")
        if self.shirt_pattern not in _PATTERNS:
            raise ValueError(
                f"Appearance.shirt_pattern must be one of {_PATTERNS}, got {self.shirt_pattern!r}"
            )
        if self.sleeves not in _SLEEVES:
            raise ValueError(f"Appearance.sleeves must be one of {_SLEEVES}, got {self.sleeves!r}")
        if not (
            0.5 <= self.limb_thickness <= 2.0 and 0.7 <= self.head_size <= 1.4 and 0.1 < self.height <= 1.0
        ):
            raise ValueError("Appearance proportions out of range (limb_thickness, head_size, height)")

    @classmethod
    def random(cls, seed: int) -> Appearance:
        """A plausible random person: real skin tones, hair colours, clothes that contrast with skin."""
        rng = np.random.default_rng(seed)
        skins = [
            (241, 194, 167),
            (224, 172, 138),
            (198, 134, 96),
            (161, 102, 70),
            (120, 75, 50),
            (90, 56, 38),
        ]
        hairs = [(20, 16, 14), (60, 40, 28), (110, 72, 40), (170, 120, 60), (200, 170, 110), (140, 50, 30)]
        skin = skins[rng.integers(len(skins))]

        def cloth(*avoid: Color) -> Color:
            # saturated or dark fabric, kept away from the skin (limbs must stand out from the torso)
            # and from the other garments (the waist must show where the shirt ends)
            while True:
                hsv = np.uint8([[[rng.integers(0, 180), rng.integers(60, 230), rng.integers(50, 220)]]])
                rgb = tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])
                if all(np.abs(np.subtract(rgb, other)).sum() > 120 for other in (skin, *avoid)):
                    return rgb

        hair = hairs[rng.integers(len(hairs))]
        hair_style = str(rng.choice(_HAIR_STYLES))
        shirt = cloth()
        pattern = str(rng.choice(_PATTERNS))
        stripe = cloth(shirt)
        sleeves = str(rng.choice(_SLEEVES))
        return cls(
            skin=skin,
            hair=hair,
            hair_style=hair_style,
            shirt=shirt,
            shirt_pattern=pattern,
            stripe=stripe,
            sleeves=sleeves,
            trousers=cloth(shirt, stripe) if pattern == "stripes" else cloth(shirt),
            shoes=tuple(int(c) for c in rng.integers(10, 90, 3)) if rng.random() < 0.7 else (235, 235, 235),
            lips=tuple(int(c) for c in np.clip(np.multiply(skin, (0.85, 0.6, 0.6)) + (20, 0, 0), 0, 255)),
            iris=((70, 45, 30), (40, 30, 25), (60, 90, 120), (80, 100, 60))[rng.integers(4)],
            limb_thickness=float(rng.uniform(0.85, 1.2)),
            head_size=float(rng.uniform(0.95, 1.06)),
            height=float(rng.uniform(0.64, 0.74)),
        )


# The person whose videos a model is trained on, and the dancer whose moves are transferred.
TARGET = Appearance(
    skin=(224, 172, 138),
    hair=(45, 30, 22),
    hair_style="long",
    shirt=(196, 36, 52),
    shirt_pattern="plain",
    sleeves="short",
    trousers=(36, 48, 92),
    shoes=(235, 235, 235),
    lips=(186, 92, 96),
    iris=(60, 40, 28),
    limb_thickness=0.95,
    head_size=1.0,
    height=0.7,
)
SOURCE = Appearance(
    skin=(141, 92, 64),
    hair=(18, 14, 12),
    hair_style="short",
    shirt=(250, 196, 40),
    shirt_pattern="stripes",
    stripe=(30, 70, 150),
    sleeves="long",
    trousers=(60, 62, 58),
    shoes=(30, 24, 22),
    lips=(120, 70, 62),
    iris=(35, 25, 20),
    limb_thickness=1.12,
    head_size=1.04,
    height=0.72,
)


# --- background ---------------------------------------------------------------------------------
def make_background(
    height: int,
    width: int,
    *,
    seed: int = 0,
    floor_y: float | None = None,
    horizon_y: float | None = None,
    wall: Color = (206, 198, 184),
    floor: Color = (150, 112, 80),
) -> np.ndarray:
    """A plain studio: a softly lit, faintly textured wall over a wooden floor.

    ``floor_y`` is the row where the wall meets the floor (default 62 % down the frame) and
    ``horizon_y`` the camera's eye level, where the floor's planks converge (default a quarter
    of the frame above the floor line).
    Returns ``(height, width, 3)`` uint8 RGB; deterministic in ``seed``.
    """
    rng = np.random.default_rng(seed)
    floor_y = 0.62 * height if floor_y is None else float(floor_y)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # low-frequency blotches (plaster, uneven light) and fine grain, both faint
    small = rng.normal(0, 1, (max(2, height // 32), max(2, width // 32))).astype(np.float32)
    blotch = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1, (height, width)).astype(np.float32)
    light = 1.08 - 0.25 * ((xs - width / 2) / width) ** 2 - 0.12 * ys / height  # a lamp above the middle
    img = np.empty((height, width, 3), np.float32)
    img[:] = wall
    img *= (light + 0.025 * blotch + 0.012 * grain)[..., None]
    # floor: planks converging on a vanishing point above the wall line, with a grain along them
    below = ys >= floor_y
    vx = width / 2
    vy = min(floor_y - 0.25 * height if horizon_y is None else float(horizon_y), floor_y - 2.0)
    planks_per_unit = 0.02 * height  # seams per unit of slope: planks ~20 px wide at the bottom of 512
    dist = np.maximum(ys - vy, 1.0)
    s = (xs - vx) / dist * planks_per_unit
    plank = np.floor(s + 100)
    tone = 0.9 + 0.14 * ((plank * 0.6180339) % 1.0)  # each plank a slightly different wood
    seam_px = (0.5 - np.abs(s % 1.0 - 0.5)) * dist / planks_per_unit  # pixels to the nearest seam
    seam = np.clip(1.2 - seam_px, 0, 1)  # anti-aliased 1-2 px dark gaps
    streak = cv2.resize(rng.normal(0, 1, (8, width // 2)).astype(np.float32), (width, height))
    wood = (
        np.asarray(floor, np.float32) * (tone * (1 - 0.35 * seam) + 0.03 * streak + 0.01 * grain)[..., None]
    )
    depth_fade = (0.85 + 0.25 * (ys - floor_y) / max(height - floor_y, 1.0))[..., None]
    img = np.where(below[..., None], wood * depth_fade, img)
    # skirting board
    board = (ys >= floor_y - 0.018 * height) & (ys < floor_y)
    img[board] = np.asarray((236, 234, 228), np.float32) * 0.95
    return np.clip(img, 0, 255).astype(np.uint8)


# --- drawing primitives -------------------------------------------------------------------------
def _circle(center: np.ndarray, radius: float, n: int = 20) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return center + radius * np.stack([np.cos(a), np.sin(a)], 1)


def _ellipse(center: np.ndarray, axis_x: np.ndarray, axis_y: np.ndarray, n: int = 40) -> np.ndarray:
    """Polygon of an ellipse with semi-axis vectors ``axis_x`` and ``axis_y`` (2,) each."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return center + np.cos(a)[:, None] * axis_x + np.sin(a)[:, None] * axis_y


def _hull(*point_sets: np.ndarray) -> np.ndarray:
    pts = np.concatenate(point_sets).astype(np.float32)
    return cv2.convexHull(pts)[:, 0].astype(np.float64)


def _capsule(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float) -> np.ndarray:
    """Polygon of a tapered capsule: the convex hull of two discs."""
    return _hull(_circle(p0, r0), _circle(p1, r1))


class _Painter:
    """Composites anti-aliased, shaded shapes onto a float image, one bounding box at a time."""

    def __init__(self, image: np.ndarray):
        self.img = image.astype(np.float32)
        self.h, self.w = image.shape[:2]

    def _roi(self, poly: np.ndarray, pad: float):
        x0 = max(int(np.floor(poly[:, 0].min() - pad)), 0)
        y0 = max(int(np.floor(poly[:, 1].min() - pad)), 0)
        x1 = min(int(np.ceil(poly[:, 0].max() + pad)) + 1, self.w)
        y1 = min(int(np.ceil(poly[:, 1].max() + pad)) + 1, self.h)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    @staticmethod
    def mask(poly: np.ndarray, roi, grow: float = 0.0) -> np.ndarray:
        """(h, w) float32 coverage of ``poly`` in ``roi``; ``grow`` > 0 dilates it by that many pixels."""
        x0, y0, x1, y1 = roi
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round((poly - (x0, y0)) * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(m, [pts], 255, cv2.LINE_AA, shift=_SHIFT)
        if grow > 0:
            cv2.polylines(m, [pts], True, 255, max(1, int(round(2 * grow))), cv2.LINE_AA, shift=_SHIFT)
        return m.astype(np.float32) / 255.0

    def grid(self, roi):
        x0, y0, x1, y1 = roi
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        return xs + 0.5, ys + 0.5

    def blend(self, roi, alpha: np.ndarray, color) -> None:
        """Blend ``color`` ((3,) or (h, w, 3)) into ``roi`` with per-pixel ``alpha`` (h, w)."""
        x0, y0, x1, y1 = roi
        a = np.clip(alpha, 0, 1)[..., None]
        region = self.img[y0:y1, x0:x1]
        region *= 1 - a
        region += a * np.asarray(color, np.float32)

    def shape(self, poly: np.ndarray, color, *, shade=None, outline: float = 1.0, outline_dark: float = 0.5):
        """Fill ``poly`` (N, 2) with ``color`` times ``shade(xs, ys)`` over a dark rim ``outline`` px wide."""
        roi = self._roi(poly, outline + 2)
        if roi is None:
            return
        base = np.asarray(color, np.float32)
        if outline > 0:
            self.blend(roi, self.mask(poly, roi, grow=outline), base * outline_dark)
        fill = base if shade is None else base * shade(*self.grid(roi))[..., None]
        self.blend(roi, self.mask(poly, roi), fill)

    def polyline(self, pts: np.ndarray, color, thickness: float, closed: bool = False) -> None:
        roi = self._roi(pts, thickness + 2)
        if roi is None:
            return
        x0, y0, x1, y1 = roi
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        ipts = np.round((pts - (x0, y0)) * (1 << _SHIFT)).astype(np.int32)
        # cv2 cannot draw lines thinner than 1 px: fade thin strokes instead
        cv2.polylines(m, [ipts], closed, 255, max(1, int(round(thickness))), cv2.LINE_AA, shift=_SHIFT)
        self.blend(roi, m.astype(np.float32) / 255.0 * min(1.0, thickness), color)

    def result(self) -> np.ndarray:
        return np.clip(self.img + 0.5, 0, 255).astype(np.uint8)


def _lambert(nx: np.ndarray, ny: np.ndarray, ambient: float = 0.62) -> np.ndarray:
    """Brightness of a surface with image-plane normal components ``nx, ny`` (|n| <= 1)."""
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1))
    return (
        ambient
        + (1.08 - ambient) * np.clip(nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2], 0, 1) / _LIGHT[2]
    )


def _cylinder_shade(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float):
    """Shading of a tapered cylinder along p0 -> p1: the normal tilts with the distance from the axis."""

    def shade(xs, ys):
        d = p1 - p0
        length2 = max(float(d @ d), 1e-6)
        t = np.clip(((xs - p0[0]) * d[0] + (ys - p0[1]) * d[1]) / length2, 0, 1)
        vx, vy = xs - (p0[0] + t * d[0]), ys - (p0[1] + t * d[1])
        r = np.maximum(r0 + t * (r1 - r0), 1e-3)
        return _lambert(np.clip(vx / r, -1, 1), np.clip(vy / r, -1, 1))

    return shade


def _ellipsoid_shade(center: np.ndarray, axis_x: np.ndarray, axis_y: np.ndarray):
    ax, ay = axis_x / max(float(axis_x @ axis_x), 1e-6), axis_y / max(float(axis_y @ axis_y), 1e-6)
    ux, uy = axis_x / max(np.linalg.norm(axis_x), 1e-6), axis_y / max(np.linalg.norm(axis_y), 1e-6)

    def shade(xs, ys):
        dx, dy = xs - center[0], ys - center[1]
        a, b = dx * ax[0] + dy * ax[1], dx * ay[0] + dy * ay[1]  # ellipse coordinates in [-1, 1]
        scale = np.maximum(1.0, np.sqrt(a**2 + b**2))
        a, b = a / scale, b / scale
        return _lambert(a * ux[0] + b * uy[0], a * ux[1] + b * uy[1])

    return shade


def _darker(color, f: float) -> tuple[float, float, float]:
    return tuple(float(c) * f for c in color)


# --- the person -----------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-6)


def _perp(v: np.ndarray) -> np.ndarray:
    return np.array([-v[1], v[0]])


def render_performer(
    keypoints: np.ndarray,
    appearance: Appearance,
    height: int,
    width: int,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """Draw the person posed by ``keypoints`` over ``background``.

    Args:
        keypoints: ``(137, 3)`` ``openpose137`` (x, y, confidence) in pixels of this frame. The
            body's shoulders, hips and neck must be present; other parts are drawn when present.
        appearance: how the person looks.
        height, width: frame size.
        background: ``(height, width, 3)`` uint8 RGB, or None for :func:`make_background`.

    Returns:
        ``(height, width, 3)`` uint8 RGB. A pure function of its arguments.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != (137, 3):
        raise ValueError(f"keypoints must be (137, 3), got {kp.shape}")
    if background is None:
        background = make_background(height, width)
    if background.shape != (height, width, 3):
        raise ValueError(f"background must be ({height}, {width}, 3), got {background.shape}")
    present = kp[:, 2] > 0
    pt = kp[:, :2]
    needed = [B["neck"], B["mid_hip"], B["right_shoulder"], B["left_shoulder"], B["right_hip"], B["left_hip"]]
    if not present[needed].all():
        return background.copy()
    paint = _Painter(background)
    a = appearance
    u = np.linalg.norm(pt[B["neck"]] - pt[B["mid_hip"]]) / 0.29  # the performer's height in pixels
    lt = a.limb_thickness
    outline = max(1.0, 0.004 * u)
    up = _unit(pt[B["neck"]] - pt[B["mid_hip"]])

    def has(*idx: int) -> bool:
        return bool(present[list(idx)].all())

    _draw_shadow(paint, pt, present, u)

    # which side is turned away: the nose moves towards the far shoulder when the body turns
    e_sh = _unit(pt[B["left_shoulder"]] - pt[B["right_shoulder"]])
    turn = 0.0
    if has(B["nose"], B["right_ear"], B["left_ear"]):
        turn = float((pt[B["nose"]] - (pt[B["right_ear"]] + pt[B["left_ear"]]) / 2) @ e_sh) / u
    back_arm = None if abs(turn) < 0.012 else ("left" if turn > 0 else "right")

    if a.hair_style == "long":
        _draw_long_hair_back(paint, pt, present, a, u)
    if back_arm is not None:
        _draw_arm(paint, pt, present, a, u, back_arm, outline)
    # pelvis: joins the thighs to the waist; under the legs, so their outlines show the crotch
    hips = [pt[B["right_hip"]], pt[B["left_hip"]]]
    pelvis = _hull(
        *[_circle(h, 0.064 * u * lt) for h in hips],
        *[_circle(h + up * 0.05 * u, 0.05 * u * lt) for h in hips],
    )
    paint.shape(
        pelvis, a.trousers, shade=_cylinder_shade(hips[0], hips[1], 0.08 * u, 0.08 * u), outline=outline
    )
    legs = ("right", "left") if turn <= 0 else ("left", "right")
    for side in legs:
        _draw_leg(paint, pt, present, a, u, side, outline)
    _draw_neck(paint, pt, present, a, u, outline)
    _draw_torso(paint, pt, a, u, outline)
    for side in ("right", "left"):
        if side != back_arm:
            _draw_arm(paint, pt, present, a, u, side, outline)
    _draw_head(paint, kp, present, a, u, outline)
    return paint.result()


def _draw_shadow(paint: _Painter, pt, present, u) -> None:
    feet = [
        B[n]
        for n in ("left_heel", "right_heel", "left_big_toe", "right_big_toe", "left_ankle", "right_ankle")
    ]
    feet = [i for i in feet if present[i]]
    if not feet:
        return
    c = np.array([pt[feet, 0].mean(), pt[feet, 1].max() + 0.01 * u])
    spread = max(float(np.ptp(pt[feet, 0])) / 2 + 0.06 * u, 0.1 * u)
    poly = _ellipse(c, np.array([spread, 0.0]), np.array([0.0, 0.03 * u]))
    roi = paint._roi(poly, 0.05 * u)
    if roi is None:
        return
    m = cv2.GaussianBlur(paint.mask(poly, roi), (0, 0), max(1.0, 0.012 * u))
    paint.blend(roi, 0.4 * m, (20, 16, 14))


def _draw_leg(paint: _Painter, pt, present, a: Appearance, u, side: str, outline) -> None:
    hip, knee, ankle = (B[f"{side}_{j}"] for j in ("hip", "knee", "ankle"))
    lt = a.limb_thickness
    if present[hip] and present[knee]:
        p0, p1, r0, r1 = pt[hip], pt[knee], 0.062 * u * lt, 0.044 * u * lt
        paint.shape(
            _capsule(p0, p1, r0, r1), a.trousers, shade=_cylinder_shade(p0, p1, r0, r1), outline=outline
        )
    if present[knee] and present[ankle]:
        p0, p1, r0, r1 = pt[knee], pt[ankle], 0.043 * u * lt, 0.032 * u * lt
        paint.shape(
            _capsule(p0, p1, r0, r1), a.trousers, shade=_cylinder_shade(p0, p1, r0, r1), outline=outline
        )
    foot = [B[f"{side}_{j}"] for j in ("heel", "big_toe", "small_toe")]
    if present[ankle]:
        discs = [_circle(pt[ankle], 0.03 * u)] + [_circle(pt[i], 0.022 * u) for i in foot if present[i]]
        poly = _hull(*discs)
        c = poly.mean(0)
        paint.shape(
            poly,
            a.shoes,
            shade=_ellipsoid_shade(c, np.array([0.08 * u, 0]), np.array([0, 0.05 * u])),
            outline=outline,
        )


def _draw_arm(paint: _Painter, pt, present, a: Appearance, u, side: str, outline) -> None:
    sh, el, wr = (B[f"{side}_{j}"] for j in ("shoulder", "elbow", "wrist"))
    lt = a.limb_thickness
    sleeve_color = a.shirt
    arm_color = a.skin if a.sleeves == "short" else a.shirt
    if present[sh] and present[el]:
        p0, p1, r0, r1 = pt[sh], pt[el], 0.038 * u * lt, 0.028 * u * lt
        paint.shape(
            _capsule(p0, p1, r0, r1), arm_color, shade=_cylinder_shade(p0, p1, r0, r1), outline=outline
        )
        if present[wr]:
            q0, q1, s0, s1 = pt[el], pt[wr], 0.028 * u * lt, 0.021 * u * lt
            paint.shape(
                _capsule(q0, q1, s0, s1), arm_color, shade=_cylinder_shade(q0, q1, s0, s1), outline=outline
            )
        if a.sleeves == "short":
            end = p0 + 0.5 * (p1 - p0)
            paint.shape(
                _capsule(p0, end, r0 * 1.2, r1 * 1.35),
                sleeve_color,
                shade=_cylinder_shade(p0, end, r0 * 1.2, r1 * 1.35),
                outline=outline,
            )
    hand = LEFT_HAND if side == "left" else RIGHT_HAND
    _draw_hand(paint, pt[hand], present[hand], a, u, outline)


def _draw_hand(paint: _Painter, h, ok, a: Appearance, u, outline) -> None:
    """Palm as the hull of the wrist and knuckles, fingers as tapered capsules along their joints."""
    if not ok[0]:
        return
    r = 0.0095 * u
    palm_idx = [i for i in (0, 1, 2, 5, 9, 13, 17) if ok[i]]
    if len(palm_idx) >= 3:
        palm = _hull(*[_circle(h[i], r * (1.5 if i == 0 else 1.1)) for i in palm_idx])
        c = h[palm_idx].mean(0)
        size = max(np.ptp(h[palm_idx], axis=0).max() / 2, 1.0)
        paint.shape(
            palm,
            a.skin,
            shade=_ellipsoid_shade(c, np.array([size, 0]), np.array([0, size])),
            outline=outline * 0.8,
        )
    for f in range(5):
        chain = [1 + 4 * f + j for j in range(4)]  # thumb: CMC, MCP, IP, tip; fingers: MCP .. tip
        radius = r * (1.05 if f == 0 else (0.95, 0.95, 0.9, 0.8)[f - 1])
        for j in range(3):
            i0, i1 = chain[j], chain[j + 1]
            if ok[i0] and ok[i1]:
                r0, r1 = radius * (1 - 0.12 * j), radius * (0.88 - 0.12 * j)
                paint.shape(
                    _capsule(h[i0], h[i1], r0, r1),
                    a.skin,
                    shade=_cylinder_shade(h[i0], h[i1], r0, r1),
                    outline=outline * 0.7,
                )


def _draw_neck(paint: _Painter, pt, present, a: Appearance, u, outline) -> None:
    neck = pt[B["neck"]]
    ears = [B["right_ear"], B["left_ear"]]
    if present[ears].all():
        head = pt[ears].mean(0)
    elif present[B["nose"]]:
        head = pt[B["nose"]]
    else:
        return
    top = neck + 0.8 * (head - neck)
    r = 0.032 * u * a.limb_thickness**0.5
    paint.shape(
        _capsule(neck, top, r, r * 0.95), a.skin, shade=_cylinder_shade(neck, top, r, r), outline=outline
    )


def _draw_torso(paint: _Painter, pt, a: Appearance, u, outline) -> None:
    """Shirt: shoulders, armpits, waist and hips joined into one outline, with a round neckline."""
    lt = a.limb_thickness
    rs, ls, rh, lh = (pt[B[n]] for n in ("right_shoulder", "left_shoulder", "right_hip", "left_hip"))
    c_sh, c_hip = (rs + ls) / 2, (rh + lh) / 2
    up = _unit(c_sh - c_hip)
    e_sh, e_hip = _unit(ls - rs), _unit(lh - rh)
    # a turned torso keeps some width: it is deep as well as wide
    w_sh = max(np.linalg.norm(ls - rs) / 2, 0.075 * u) + 0.03 * u * lt
    w_hip = max(np.linalg.norm(lh - rh) / 2, 0.055 * u) + 0.055 * u * lt
    w_waist = 0.5 * (w_sh + w_hip) - 0.012 * u * lt
    waist = c_sh + 0.62 * (c_hip - c_sh)
    e_waist = _unit(e_sh + e_hip)
    left, right = [], []
    for sign, pts in ((1.0, left), (-1.0, right)):
        pts += [
            c_sh + sign * e_sh * 0.045 * u + up * 0.022 * u,  # collar, raised by the trapezius
            c_sh + sign * e_sh * (w_sh - 0.02 * u) + up * 0.01 * u,  # top of the shoulder
            c_sh + sign * e_sh * (w_sh + 0.005 * u) - up * 0.03 * u,  # deltoid
            c_sh + sign * e_sh * (w_sh - 0.01 * u) - up * 0.1 * u,  # armpit
            waist + sign * e_waist * w_waist,
            c_hip + sign * e_hip * (w_hip - 0.002 * u) + up * HEM * u,  # hem, at the waistband
        ]
    neckline = [
        c_sh + e_sh * np.cos(t) * 0.045 * u + up * (0.022 - 0.04 * np.sin(t)) * u
        for t in np.linspace(0, np.pi, 7)
    ]
    poly = np.array(right + left[::-1] + neckline[1:-1])
    shade = _cylinder_shade(c_hip, c_sh, w_hip, w_sh)
    if a.shirt_pattern == "stripes":
        period = 0.04 * u
        base, stripe = np.asarray(a.shirt, np.float32), np.asarray(a.stripe, np.float32)

        def colored(xs, ys):
            s = ((xs - c_hip[0]) * up[0] + (ys - c_hip[1]) * up[1]) / period
            band = np.clip((np.abs((s % 1.0) - 0.5) - 0.2) * 8, 0, 1)[..., None]  # soft-edged stripes
            return shade(xs, ys)[..., None] * (base * (1 - band) + stripe * band)

        roi = paint._roi(poly, outline + 2)
        if roi is None:
            return
        paint.blend(roi, paint.mask(poly, roi, grow=outline), base * 0.5)
        paint.blend(roi, paint.mask(poly, roi), colored(*paint.grid(roi)))
    else:
        paint.shape(poly, a.shirt, shade=shade, outline=outline)


def _draw_long_hair_back(paint: _Painter, pt, present, a: Appearance, u) -> None:
    ears = [B["right_ear"], B["left_ear"]]
    if not present[ears].all():
        return
    c = pt[ears].mean(0)
    up = _unit(c - pt[B["neck"]])
    side = _perp(up)
    s = a.head_size
    poly = _hull(
        _circle(c + up * 0.015 * u, 0.062 * u * s),
        _circle(c - up * 0.09 * u + side * 0.045 * u, 0.035 * u),
        _circle(c - up * 0.09 * u - side * 0.045 * u, 0.035 * u),
    )
    paint.shape(
        poly, a.hair, shade=_ellipsoid_shade(c, side * 0.09 * u, up * 0.12 * u), outline=max(1.0, 0.004 * u)
    )


def _draw_head(paint: _Painter, kp, present, a: Appearance, u, outline) -> None:
    """Ears, skull (hull of a cranium ellipse and the jaw), hair, then the face on its keypoints."""
    pt = kp[:, :2]
    face = pt[FACE]
    face_ok = present[FACE].all()
    ears = [B["right_ear"], B["left_ear"]]
    if not present[ears].all():
        return
    center_ears = pt[ears].mean(0)
    if face_ok:
        up = _unit(face[_BROWS].mean(0) - face[FACE_CHIN])
    else:
        up = _unit(center_ears - pt[B["neck"]])
    side = _perp(up)  # towards the image's right when upright
    if side[0] < 0:
        side = -side
    s = a.head_size
    center = center_ears + up * 0.014 * u
    ax, ay = side * 0.05 * u * s, up * 0.066 * u * s
    skin_dark = _darker(a.skin, 0.82)
    for e in ears:
        paint.shape(_ellipse(pt[e], side * 0.011 * u, up * 0.019 * u, 16), skin_dark, outline=outline * 0.8)
    parts = [_ellipse(center, ax, ay)]
    if face_ok:
        parts.append(face[FACE_JAW])
    skull = _hull(*parts)
    face_center = face[_FEATURES].mean(0) if face_ok else center
    paint.shape(
        skull, a.skin, shade=_ellipsoid_shade(face_center, side * 0.055 * u, up * 0.075 * u), outline=outline
    )

    # hair: a slightly larger cranium, minus an oval face opening, above the ears
    hair_poly = _ellipse(center + up * 0.008 * u, ax * 1.1, ay * 1.08)
    brow = face[_BROWS].mean(0) if face_ok else center + up * 0.012 * u
    opening_c = brow - up * 0.035 * u
    opening = _ellipse(opening_c, side * 0.043 * u, up * 0.058 * u)
    hair_shade = _ellipsoid_shade(center, ax * 1.1, ay * 1.08)
    roi = paint._roi(hair_poly, outline + 2)
    if roi is not None:
        xs, ys = paint.grid(roi)
        # nothing below the ears but sideburns; long hair falls further (its back part is drawn already)
        floor = 0.0 if a.hair_style != "long" else 0.06 * u
        below = ((xs - center_ears[0]) * up[0] + (ys - center_ears[1]) * up[1]) + floor + 0.004 * u
        keep = (1 - paint.mask(opening, roi)) * np.clip(below / max(0.01 * u, 1.0), 0, 1)
        hair = np.asarray(a.hair, np.float32)
        paint.blend(roi, paint.mask(hair_poly, roi, grow=outline) * keep, hair * 0.6)
        paint.blend(roi, paint.mask(hair_poly, roi) * keep, hair * hair_shade(xs, ys)[..., None])
    if a.hair_style == "bun":
        bun_c = center + up * 0.07 * u
        paint.shape(
            _circle(bun_c, 0.026 * u * s),
            a.hair,
            shade=_ellipsoid_shade(bun_c, side * 0.026 * u, up * 0.026 * u),
        )
    if not face_ok:
        return
    _draw_face(paint, face, a, u, up, side)


def _draw_face(paint: _Painter, face: np.ndarray, a: Appearance, u, up, side) -> None:
    """Brows, eyes (sclera, iris, lid line), nose shading and nostrils, lips, on iBUG-68 points."""
    brow_color = _darker(a.hair, 0.7)
    if np.mean(a.hair) > 120:  # blond or grey hair still has visibly darker brows
        brow_color = _darker(a.hair, 0.5)
    stroke = max(1.0, 0.0065 * u)
    for brow in (face[FACE_RIGHT_BROW], face[FACE_LEFT_BROW]):
        paint.polyline(brow, brow_color, stroke)
    for eye, pupil in (
        (face[FACE_RIGHT_EYE], face[FACE_RIGHT_PUPIL]),
        (face[FACE_LEFT_EYE], face[FACE_LEFT_PUPIL]),
    ):
        c = eye.mean(0)
        opened = c + (eye - c) * 1.3  # a touch larger than the lid points: readable at small sizes
        width = np.linalg.norm(eye[3] - eye[0])
        if width < 1.0:  # seen edge-on: nothing to draw
            continue
        paint.shape(opened, (238, 236, 230), outline=0)
        r_iris = max(0.0048 * u, 1.0) * min(1.0, width / (0.019 * u) + 0.3)
        paint.shape(_circle(pupil, r_iris, 16), a.iris, outline=0)
        paint.shape(_circle(pupil, r_iris * 0.5, 12), (12, 10, 10), outline=0)
        paint.polyline(opened[[0, 1, 2, 3]], (40, 28, 24), max(1.0, 0.004 * u))
    skin = np.asarray(a.skin, np.float32)
    shadow = skin * 0.72
    # the nose: a shadowed side of the bridge, the tip's underside and two nostrils
    away = side if (face[FACE_NOSE_TIP] - face[FACE_NOSE_BRIDGE].mean(0)) @ side < 0 else -side
    paint.polyline(face[FACE_NOSE_BRIDGE] + away * 0.006 * u, shadow, max(1.0, 0.004 * u))
    paint.polyline(face[FACE_NOSE_BASE], shadow, max(1.0, 0.004 * u))
    for nostril in face[FACE_NOSE_BASE][[1, 3]]:
        paint.shape(_circle(nostril, max(0.0028 * u, 0.6), 8), skin * 0.45, outline=0)
    paint.shape(face[FACE_MOUTH_OUTER], a.lips, outline=0.6, outline_dark=0.75)
    paint.polyline(face[FACE_MOUTH_INNER], _darker(a.lips, 0.45), max(1.0, 0.003 * u), closed=True)

"""A procedural dancer: smooth, full-range, deterministic ``openpose137`` keypoints.

The dancer is a 3D skeleton driven by joint angles (forward kinematics) and seen through a
pinhole camera, so every bone keeps its length in 3D while its 2D image foreshortens naturally
(a thigh coming forward in a squat, shoulders narrowing when the torso turns, the whole body
shrinking and its feet rising in the image when it walks away from the camera).

World frame, in units of the performer's standing height (head top at ``Y = 1``):
``X`` to the image's right (the performer's *left*, since they face the camera), ``Y`` up,
``Z`` towards the camera. The camera looks along ``-Z`` from ``(0, camera_height, distance)``.

Motion. Every angle is a sum of a few low-frequency sinusoids with random phases (drawn from
the seed), most of them locked to a musical tempo; the feet follow a step pattern bar by bar
(step-touch, march, hold), are planted while they carry weight, and the legs reach them by
two-bone inverse kinematics. The pelvis height is a soft minimum of the wanted height (squats,
bounce) and the highest height both legs can reach, so wide steps lower the body by themselves.

Shapes: :func:`dance_pose3d` gives ``(T, 137, 3)`` world points; :func:`project_to_image` turns
them into ``(T, 137, 3)`` float32 keypoints ``(x, y, 1)`` in pixels; :func:`dance_keypoints`
does both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancenow.pose.layout import (
    FACE,
    FACE_LEFT_PUPIL,
    FACE_NOSE_TIP,
    FACE_RIGHT_PUPIL,
    LEFT_HAND,
    NUM_KEYPOINTS,
    RIGHT_HAND,
    B,
)
from dancenow.pose.layout import (
    FACE_JAW as F_JAW,
)
from dancenow.pose.layout import (
    FACE_LEFT_BROW as F_LBROW,
)
from dancenow.pose.layout import (
    FACE_LEFT_EYE as F_LEYE,
)
from dancenow.pose.layout import (
    FACE_MOUTH_INNER as F_LIPS,
)
from dancenow.pose.layout import (
    FACE_MOUTH_OUTER as F_MOUTH,
)
from dancenow.pose.layout import (
    FACE_NOSE_BASE as F_NOSE,
)
from dancenow.pose.layout import (
    FACE_NOSE_BRIDGE as F_BRIDGE,
)
from dancenow.pose.layout import (
    FACE_RIGHT_BROW as F_RBROW,
)
from dancenow.pose.layout import (
    FACE_RIGHT_EYE as F_REYE,
)

__all__ = [
    "BONES",
    "STYLES",
    "DanceStyle",
    "dance_keypoints",
    "dance_pose3d",
    "project_to_image",
]


@dataclass(frozen=True)
class DanceStyle:
    """How a dance moves; every amplitude is in the performer's heights or in degrees."""

    tempo_bpm: tuple[float, float] = (100.0, 124.0)  # tempo drawn uniformly from this range
    arm_range: float = 1.0  # scales how far arms swing (1: from the hips to overhead)
    step_size: float = 0.12  # lateral step length of a step-touch (heights)
    squat_depth: float = 0.11  # deepest squat: how far the pelvis drops (heights)
    bounce: float = 0.012  # pelvis bounce on every beat (heights)
    lean_deg: float = 10.0  # side lean of the torso
    twist_deg: float = 22.0  # torso twist and pelvis turn
    head_turn_deg: float = 18.0  # head yaw
    travel_depth: float = 0.9  # how far back the dancer walks now and then (heights)
    travel_side: float = 0.12  # slow lateral drift (heights)


STYLES: dict[str, DanceStyle] = {
    "freestyle": DanceStyle(),
    "calm": DanceStyle(
        tempo_bpm=(80.0, 96.0),
        arm_range=0.8,
        step_size=0.07,
        squat_depth=0.06,
        bounce=0.006,
        lean_deg=6.0,
        twist_deg=14.0,
        head_turn_deg=12.0,
        travel_depth=0.6,
        travel_side=0.08,
    ),
    "energetic": DanceStyle(
        tempo_bpm=(118.0, 132.0),
        arm_range=1.1,
        step_size=0.16,
        squat_depth=0.14,
        bounce=0.02,
        lean_deg=13.0,
        twist_deg=26.0,
        head_turn_deg=20.0,
        travel_depth=1.0,
        travel_side=0.15,
    ),
}

# --- body proportions (fractions of standing height; after Drillis & Contini) -------------------
ANKLE_HEIGHT = 0.045
THIGH = 0.245
SHIN = 0.245
HIP_HALF_WIDTH = 0.055
SPINE = 0.29  # mid-hip to neck (the mid-shoulder point)
SHOULDER_HALF_WIDTH = 0.115
UPPER_ARM = 0.175
FOREARM = 0.15
HAND = 0.105  # wrist to the tip of the middle finger
NECK_Y = ANKLE_HEIGHT + SHIN + THIGH + SPINE  # 0.825 when standing straight


def _face_template() -> np.ndarray:
    """(70, 3) iBUG-68 + pupils of a neutral face looking at the camera, in world units at rest.

    A parametric face on an ellipsoidal head: jaw from the right ear (the person's right,
    ``-X``) round the chin to the left, brows, nose bridge and base, eyes, lips, pupils.
    """
    pts = np.zeros((70, 3))
    a = np.pi * np.arange(17) / 16
    pts[F_JAW] = np.stack(
        [-0.043 * np.cos(a), 0.927 - 0.056 * np.sin(a) ** 1.3, -0.012 + 0.058 * np.sin(a) ** 0.7], 1
    )
    brow_x = np.linspace(-0.035, -0.008, 5)
    brow_y = 0.947 + 0.005 * np.sin(np.linspace(0.2, np.pi - 0.4, 5))
    brow_z = 0.044 + 0.007 * np.linspace(0, 1, 5)
    pts[F_RBROW] = np.stack([brow_x, brow_y, brow_z], 1)
    pts[F_LBROW] = np.stack([-brow_x[::-1], brow_y[::-1], brow_z[::-1]], 1)
    pts[F_BRIDGE] = np.stack([np.zeros(4), np.linspace(0.938, 0.906, 4), np.linspace(0.05, 0.068, 4)], 1)
    pts[F_NOSE] = np.stack(
        [
            np.linspace(-0.012, 0.012, 5),
            [0.902, 0.900, 0.899, 0.900, 0.902],
            [0.052, 0.056, 0.059, 0.056, 0.052],
        ],
        1,
    )
    # eyes: corner, two upper lid points, corner, two lower lid points (right eye from its outer corner)
    ex, ey, ez, hw, hh = 0.0185, 0.932, 0.046, 0.0095, 0.0036
    right = [(-ex - hw, ey), (-ex - hw / 3, ey + hh), (-ex + hw / 3, ey + hh), (-ex + hw, ey),
             (-ex + hw / 3, ey - hh), (-ex - hw / 3, ey - hh)]  # fmt: skip
    left = [(ex - hw, ey), (ex - hw / 3, ey + hh), (ex + hw / 3, ey + hh), (ex + hw, ey),
            (ex + hw / 3, ey - hh), (ex - hw / 3, ey - hh)]  # fmt: skip
    pts[F_REYE, :2] = right
    pts[F_LEYE, :2] = left
    eyes = np.r_[F_REYE, F_LEYE]
    pts[eyes, 2] = ez - 0.004 * np.abs(pts[eyes, 0]) / ex
    # outer lips: right corner, upper lip to the left corner, lower lip back
    mw, my = 0.0135, 0.887
    upper = [(-mw, my), (-0.009, my + 0.0035), (-0.003, my + 0.0052), (0, my + 0.0045),
             (0.003, my + 0.0052), (0.009, my + 0.0035), (mw, my)]  # fmt: skip
    lower = [(0.009, my - 0.0045), (0.003, my - 0.0065), (0, my - 0.0068), (-0.003, my - 0.0065),
             (-0.009, my - 0.0045)]  # fmt: skip
    pts[F_MOUTH, :2] = upper + lower
    inner = [(-0.011, my), (-0.004, my + 0.0012), (0, my + 0.0012), (0.004, my + 0.0012), (0.011, my),
             (0.004, my - 0.0012), (0, my - 0.0012), (-0.004, my - 0.0012)]  # fmt: skip
    pts[F_LIPS, :2] = inner
    mouth = np.r_[F_MOUTH, F_LIPS]
    pts[mouth, 2] = 0.052 - 0.012 * (pts[mouth, 0] / mw) ** 2
    pts[FACE_RIGHT_PUPIL] = pts[F_REYE].mean(0) + (0, 0, 0.002)
    pts[FACE_LEFT_PUPIL] = pts[F_LEYE].mean(0) + (0, 0, 0.002)
    return pts


FACE_TEMPLATE = _face_template()
EARS = np.array([[-0.046, 0.922, -0.008], [0.046, 0.922, -0.008]])  # right, left

# Hand in its own frame: (along the hand, towards the thumb side, out of the palm), hand lengths.
_THUMB_BASE = np.array([0.09, 0.14, 0.03])
_THUMB_SEGMENTS = (0.2, 0.15, 0.12)
_FINGER_MCP = np.array([[0.46, 0.12], [0.47, 0.03], [0.45, -0.06], [0.41, -0.145]])  # index..pinky
_FINGER_FAN = np.radians([7.0, 0.0, -6.0, -13.0])
_FINGER_SEGMENTS = np.array([[0.21, 0.12, 0.10], [0.23, 0.14, 0.11], [0.21, 0.13, 0.10], [0.16, 0.10, 0.09]])

# Pairs of keypoints whose 3D distance never changes (the rigid bones of the skeleton).
BONES: tuple[tuple[int, int], ...] = (
    (B["right_hip"], B["right_knee"]),
    (B["right_knee"], B["right_ankle"]),
    (B["left_hip"], B["left_knee"]),
    (B["left_knee"], B["left_ankle"]),
    (B["right_hip"], B["left_hip"]),
    (B["mid_hip"], B["neck"]),
    (B["right_shoulder"], B["left_shoulder"]),
    (B["right_shoulder"], B["right_elbow"]),
    (B["right_elbow"], B["right_wrist"]),
    (B["left_shoulder"], B["left_elbow"]),
    (B["left_elbow"], B["left_wrist"]),
    (B["neck"], B["nose"]),
    (B["right_ear"], B["left_ear"]),
    (B["right_eye"], B["left_eye"]),
    (B["right_ankle"], B["right_heel"]),
    (B["left_ankle"], B["left_big_toe"]),
)


# --- small vectorised geometry ------------------------------------------------------------------
def _rot(axis: str, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices about a world axis by ``angle`` (T,) radians (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "x": [[o, z, z], [z, c, -s], [z, s, c]],
        "y": [[c, z, s], [z, o, z], [-s, z, c]],
        "z": [[c, -s, z], [s, c, z], [z, z, o]],
    }[axis]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def _apply(rot: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Rotate (T, 3) or broadcastable (3,) vectors by (T, 3, 3) matrices -> (T, 3)."""
    return np.einsum("tij,tj->ti", rot, np.broadcast_to(vec, rot.shape[:-1]))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _rodrigues(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (T, 3) vectors ``v`` about unit ``axis`` (T, 3) by ``angle`` (T,) radians."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    dot = (axis * v).sum(-1, keepdims=True)
    return v * c + np.cross(axis, v) * s + axis * dot * (1 - c)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    """Minimum-jerk ease from 0 to 1 on [0, 1] (zero velocity and acceleration at both ends)."""
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u**2)


class _Waves:
    """Smooth random signals of time: sums of sinusoids with phases drawn from one generator."""

    def __init__(self, rng: np.random.Generator, t: np.ndarray):
        self.rng = rng
        self.t = t

    def __call__(self, freq: float, harmonics: tuple[float, ...] = (0.35, 0.15)) -> np.ndarray:
        """(T,) signal of peak about 1: a sine at ``freq`` Hz plus weaker, detuned overtones."""
        out = np.sin(2 * np.pi * freq * self.t + self.rng.uniform(0, 2 * np.pi))
        for k, amp in enumerate(harmonics):
            f = freq * (1.6 + 0.9 * k) * self.rng.uniform(0.9, 1.1)
            out = out + amp * np.sin(2 * np.pi * f * self.t + self.rng.uniform(0, 2 * np.pi))
        return out / (1 + 0.5 * sum(harmonics))


# --- the choreography -----------------------------------------------------------------------------
def _feet_schedule(
    rng: np.random.Generator, t: np.ndarray, beat: float, style: DanceStyle
) -> tuple[np.ndarray, np.ndarray]:
    """Lateral offsets and lifts of the (right, left) feet: two (T, 2) arrays, in heights.

    Bar by bar (four beats) a pattern is chosen: step-touch to the right or left (one foot
    steps out, the other closes, then back), march (feet lift in place in turn) or hold. Each
    foot move takes most of a beat with a minimum-jerk ease, so the feet are planted between
    moves, and every bar ends where it started: patterns chain without jumps.
    """
    num_bars = int(np.ceil(t[-1] / (4 * beat))) + 1
    # drawn bar after bar, so the start of a dance does not depend on its length
    bars = [(rng.choice(["step", "step", "march", "hold"]), rng.choice([-1.0, 1.0]), rng.uniform(0.7, 1.2))
            for _ in range(num_bars)]  # fmt: skip
    patterns = [p for p, _, _ in bars]
    sides = [side for _, side, _ in bars]
    sizes = [style.step_size * size for _, _, size in bars]
    offset = np.zeros((len(t), 2))
    lift = np.zeros((len(t), 2))
    move = 0.7  # fraction of a beat a foot is in the air
    for bar in range(num_bars):
        for b in range(4):
            start = (4 * bar + b) * beat
            u = (t - start) / (move * beat)
            inside = (u > 0) & (u < 1)
            ease = _smoothstep(u)
            bump = np.where(inside, np.sin(np.pi * np.clip(u, 0, 1)), 0.0)
            if patterns[bar] == "step":
                # beat 0: the leading foot steps out; 1: the other closes; 2: it steps back; 3: lead returns
                lead = 0 if sides[bar] < 0 else 1  # stepping to the performer's right leads with the right
                foot = (lead, 1 - lead, 1 - lead, lead)[b]
                sign = sides[bar] * (1, 1, -1, -1)[b]
                offset[:, foot] += sign * sizes[bar] * ease
                lift[:, foot] += 0.045 * bump
            elif patterns[bar] == "march":
                lift[:, b % 2] += 0.07 * bump
    return offset, lift


def dance_pose3d(
    num_frames: int, fps: float, *, seed: int, style: str | DanceStyle = "freestyle"
) -> np.ndarray:
    """World positions of the 137 ``openpose137`` points of a procedural dance.

    Returns:
        ``(T, 137, 3)`` float64, ``(X, Y, Z)`` in units of the performer's standing height
        (see the module docstring for the axes). Deterministic in ``seed``.
    """
    if num_frames < 1 or fps <= 0:
        raise ValueError(f"need num_frames >= 1 and fps > 0, got {num_frames}, {fps}")
    st = STYLES[style] if isinstance(style, str) else style
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    wave = _Waves(rng, t)
    bpm = rng.uniform(*st.tempo_bpm)
    beat = 60.0 / bpm
    fb = 1.0 / beat
    deg = np.pi / 180
    out = np.zeros((num_frames, NUM_KEYPOINTS, 3))
    bounce_phase = rng.uniform(0, 2 * np.pi)

    # --- where the body is: slow drift sideways, now and then walking back from the camera
    z_freq = rng.uniform(0.1, 0.16)
    z_phase = rng.uniform(0, 2 * np.pi)
    depth = (
        st.travel_depth * rng.uniform(0.6, 1.0) * (0.5 - 0.5 * np.cos(2 * np.pi * z_freq * t + z_phase)) ** 2
    )
    drift = st.travel_side * wave(rng.uniform(0.05, 0.1), ())

    # --- pelvis and torso angles
    yaw_p = st.twist_deg * deg * 0.6 * wave(fb / 16)
    roll_p = 4 * deg * wave(fb / 4)
    twist = st.twist_deg * deg * 0.6 * wave(fb / 8)
    side_lean = st.lean_deg * deg * wave(fb / 4)
    fwd_lean = 6 * deg * (0.5 + 0.5 * wave(fb / 8))
    r_pelvis = _rot("y", yaw_p) @ _rot("z", roll_p)
    r_chest = r_pelvis @ _rot("y", twist) @ _rot("z", side_lean) @ _rot("x", fwd_lean)
    head_yaw = st.head_turn_deg * deg * wave(fb / 8)
    head_pitch = 4 * deg * wave(fb / 2) + 3 * deg
    head_roll = 7 * deg * wave(fb / 4)
    # the head partly undoes the torso's turn, as people keep looking at their audience
    r_head = (
        r_chest @ _rot("y", head_yaw - 0.5 * (twist + yaw_p)) @ _rot("x", head_pitch) @ _rot("z", head_roll)
    )

    # --- feet on the floor (world), then the pelvis as high as the wanted pose and the legs allow
    # its own generator: how many bars there are must not change the other random draws
    offset, lift = _feet_schedule(np.random.default_rng([seed, 1]), t, beat, st)
    stance = 0.075 + 0.025 * wave(fb / 16, ())
    turnout = 12 * deg
    ankles = np.zeros((num_frames, 2, 3))
    feet_yaw = 0.7 * yaw_p
    for k, side in enumerate((-1.0, 1.0)):  # right foot at -X, left at +X
        local = np.stack([side * stance + offset[:, k], np.zeros(num_frames), np.zeros(num_frames)], -1)
        ankles[:, k] = _apply(_rot("y", feet_yaw), local)
        ankles[:, k, 1] = ANKLE_HEIGHT + lift[:, k]
    base = np.stack([drift, np.zeros(num_frames), -depth], -1)
    ankles += base[:, None]
    # weight shift: the pelvis sways over the planted foot; the mean of the feet carries it along
    sway = 0.025 * np.sin(np.pi * fb * t + bounce_phase)
    root = np.stack(
        [ankles[:, :, 0].mean(1) + sway, np.zeros(num_frames), ankles[:, :, 2].mean(1) - 0.01], -1
    )
    squat = st.squat_depth * np.clip(wave(fb / 8, (0.3,)) * 1.3 - 0.3, 0, 1) ** 1.5
    bounce = st.bounce * (0.5 - 0.5 * np.cos(2 * np.pi * fb * t + bounce_phase))
    wanted = ANKLE_HEIGHT + THIGH + SHIN - squat - bounce
    hip_off = np.stack([_apply(r_pelvis, np.array([s * HIP_HALF_WIDTH, 0, 0])) for s in (-1, 1)], 1)
    reach = 0.985 * (THIGH + SHIN)
    limits = [wanted]
    for k in range(2):
        horiz = (root[:, [0, 2]] + hip_off[:, k, [0, 2]]) - ankles[:, k, [0, 2]]
        h2 = np.minimum((horiz**2).sum(-1), (0.95 * reach) ** 2)
        limits.append(ankles[:, k, 1] - hip_off[:, k, 1] + np.sqrt(reach**2 - h2))
    # soft minimum: never above any limit, and smooth where the binding limit changes
    soft = 0.006
    lim = np.stack(limits, 0)
    low = lim.min(0)
    root[:, 1] = low - soft * np.log(np.exp(-(lim - low) / soft).sum(0))
    hips = root[:, None] + hip_off

    body = out[:, :25]
    body[:, B["mid_hip"]] = root
    body[:, B["right_hip"]], body[:, B["left_hip"]] = hips[:, 0], hips[:, 1]
    _place_legs(body, hips, ankles, feet_yaw + np.array([[-1.0], [1.0]]) * turnout)

    neck = root + _apply(r_chest, np.array([0.0, SPINE, 0.0]))
    body[:, B["neck"]] = neck
    shoulders = [neck + _apply(r_chest, np.array([s * SHOULDER_HALF_WIDTH, 0.0, 0.0])) for s in (-1, 1)]
    body[:, B["right_shoulder"]], body[:, B["left_shoulder"]] = shoulders

    _place_head(out, neck, r_head)

    # --- arms: abduction sweeps from the hips to overhead; the two arms mirror, alternate or oppose
    _place_arms(out, rng, wave, st, t, fb, r_chest)
    return out


def _hand(wrist: np.ndarray, along: np.ndarray, side: float, r_chest: np.ndarray, wave: _Waves, fb: float):
    """(T, 21, 3) OpenPose hand points for a wrist (T, 3) and hand direction (T, 3).

    The palm turns mostly towards the camera (rolling about the hand's axis), the fingers
    spread and curl a little; the thumb is on the side that anatomy puts it for that hand.
    """
    cam = _apply(r_chest, np.array([0.0, 0.0, 1.0]))
    normal = cam - (cam * along).sum(-1, keepdims=True) * along
    normal = np.where(
        np.linalg.norm(normal, axis=-1, keepdims=True) < 1e-3, np.array([0.0, 1.0, 0.0]), normal
    )
    normal = _rodrigues(_unit(normal), along, 35 * np.pi / 180 * wave(fb / 4))
    thumb_side = np.cross(normal, along) if side > 0 else np.cross(along, normal)
    curl = np.clip(0.45 + 0.45 * wave(fb / 2), 0.05, 0.9)  # radians per joint
    spread = 1.0 + 0.5 * wave(fb / 4, ())
    frame = np.stack([along, thumb_side, normal], 1)  # (T, 3 axes, 3)

    def to_world(local):  # local (T, 3) in hand lengths -> world (T, 3)
        return wrist + HAND * np.einsum("ti,tij->tj", local, frame)

    pts = np.zeros((len(wrist), 21, 3))
    pts[:, 0] = wrist
    pos = np.broadcast_to(_THUMB_BASE, (len(wrist), 3)).copy()
    pts[:, 1] = to_world(pos)
    for j, length in enumerate(_THUMB_SEGMENTS):
        ang = (50 - 12 * j) * np.pi / 180 - curl * (0.3 + 0.4 * j)
        tilt = curl * 0.5
        seg = np.stack([np.cos(ang) * np.cos(tilt), np.sin(ang) * np.cos(tilt), np.sin(tilt)], -1)
        pos = pos + length * seg
        pts[:, 2 + j] = to_world(pos)
    for f in range(4):
        fan = _FINGER_FAN[f] * spread
        pos = np.zeros((len(wrist), 3))
        pos[:, :2] = _FINGER_MCP[f]
        pts[:, 5 + 4 * f] = to_world(pos)
        bend = np.zeros(len(wrist))
        for j in range(3):
            bend = bend + curl * (0.8, 1.0, 0.7)[j]
            seg = np.stack([np.cos(bend) * np.cos(fan), np.cos(bend) * np.sin(fan), np.sin(bend)], -1)
            pos = pos + _FINGER_SEGMENTS[f, j] * seg
            pts[:, 6 + 4 * f + j] = to_world(pos)
    return pts


def project_to_image(
    points: np.ndarray,
    *,
    height_px: float,
    center_x: float,
    ground_y: float,
    camera_height: float = 0.55,
    camera_distance: float = 3.0,
) -> np.ndarray:
    """Pinhole projection of world points into ``openpose137`` keypoints.

    Args:
        points: ``(..., 3)`` world points (units of the performer's height).
        height_px: the standing performer's height in pixels at ``Z = 0``.
        center_x: image column of ``X = 0``.
        ground_y: image row of the floor under ``Z = 0`` (the feet when nobody moves back).
        camera_height: camera height above the floor, in performer heights.
        camera_distance: distance from the camera to the plane ``Z = 0``, in performer heights.

    Returns:
        ``(..., 3)`` float32 ``(x, y, 1)`` in pixels: every point is present (confidence 1).
    """
    depth = camera_distance - points[..., 2]
    if np.any(depth <= 0.1):
        raise ValueError("a point is at or behind the camera")
    focal = height_px * camera_distance
    horizon = ground_y - height_px * camera_height
    out = np.empty(points.shape, np.float32)
    out[..., 0] = center_x + focal * points[..., 0] / depth
    out[..., 1] = horizon - focal * (points[..., 1] - camera_height) / depth
    out[..., 2] = 1.0
    return out


def dance_keypoints(
    num_frames: int,
    fps: float,
    *,
    seed: int,
    height_px: float,
    center_x: float,
    ground_y: float,
    style: str | DanceStyle = "freestyle",
) -> np.ndarray:
    """Exact ``(T, 137, 3)`` float32 keypoints (pixels, confidence 1) of a procedural dance.

    ``height_px`` is the performer's standing height in pixels when at the front of the stage,
    ``center_x`` the column they dance around and ``ground_y`` the row of their feet there;
    walking back makes them smaller and lifts their feet towards the horizon. ``style`` names
    one of :data:`STYLES` (``"freestyle"``, ``"calm"``, ``"energetic"``) or is a :class:`DanceStyle`.
    Same arguments, same dance.
    """
    world = dance_pose3d(num_frames, fps, seed=seed, style=style)
    return project_to_image(world, height_px=height_px, center_x=center_x, ground_y=ground_y)


def _place_legs(body: np.ndarray, hips: np.ndarray, ankles: np.ndarray, foot_yaw: np.ndarray) -> None:
    """Knees (two-bone IK from hip to ankle), heels and toes into ``body`` (T, 25, 3).

    ``hips``, ``ankles``: (T, 2, 3), right then left; ``foot_yaw``: (2, T) each foot's yaw.
    """
    for k, (knee_i, ankle_i) in enumerate(
        ((B["right_knee"], B["right_ankle"]), (B["left_knee"], B["left_ankle"]))
    ):
        side = -1.0 if k == 0 else 1.0
        hip, ankle = hips[:, k], ankles[:, k]
        d_vec = ankle - hip
        d = np.linalg.norm(d_vec, axis=-1)
        u = d_vec / d[:, None]
        a = (THIGH**2 - SHIN**2 + d**2) / (2 * d)
        r = np.sqrt(np.maximum(THIGH**2 - a**2, 0.0))
        # knees bend forward and a little outward, over the toes
        pole = _apply(_rot("y", foot_yaw[k]), np.array([0.0, 0.0, 1.0]))
        pole = _unit(pole - (pole * u).sum(-1, keepdims=True) * u)
        body[:, knee_i] = hip + a[:, None] * u + r[:, None] * pole
        body[:, ankle_i] = ankle
        fwd = _apply(_rot("y", foot_yaw[k]), np.array([0.0, 0.0, 1.0]))
        lat = _apply(_rot("y", foot_yaw[k]), np.array([side, 0.0, 0.0]))
        down = np.array([0.0, -(ANKLE_HEIGHT - 0.004), 0.0])
        toes = {
            "big": (B["right_big_toe"], B["left_big_toe"]),
            "small": (B["right_small_toe"], B["left_small_toe"]),
        }
        heel = (B["right_heel"], B["left_heel"])[k]
        body[:, heel] = ankle - 0.05 * fwd + down
        body[:, toes["big"][k]] = ankle + 0.135 * fwd - 0.012 * lat + down
        body[:, toes["small"][k]] = ankle + 0.11 * fwd + 0.03 * lat + down


def _place_arms(
    out: np.ndarray, rng: np.random.Generator, wave: _Waves, st: DanceStyle, t: np.ndarray, fb: float, r_chest
) -> None:
    """Elbows, wrists and hands into ``out`` (T, 137, 3), from the shoulders already there."""
    deg = np.pi / 180
    body = out[:, :25]
    arm_freq = fb / 8
    lag = rng.choice([0.0, 0.25, 0.5]) * 2 * np.pi
    base_phase = rng.uniform(0, 2 * np.pi)
    for k, (sh_i, el_i, wr_i, part) in enumerate(
        (
            (B["right_shoulder"], B["right_elbow"], B["right_wrist"], RIGHT_HAND),
            (B["left_shoulder"], B["left_elbow"], B["left_wrist"], LEFT_HAND),
        )
    ):
        side = -1.0 if k == 0 else 1.0
        main = np.sin(2 * np.pi * arm_freq * t + base_phase + k * lag)
        abduct = np.clip(78 + 100 * st.arm_range * (0.82 * main + 0.18 * wave(fb / 4, ())), 8, 178) * deg
        flex = (22 + 22 * wave(fb / 4)) * deg
        elbow = (45 + 40 * wave(fb / 4)) * deg
        d_chest = _apply(
            _rot("x", -flex) @ _rot("z", side * abduct), np.array([0.0, -1.0, 0.0])
        )  # (0,-1,0) hangs down; z-rotation swings it out sideways, x-rotation forward
        d_up = _apply(r_chest, d_chest)
        # the elbow bends towards a mix of forward, up and towards the midline
        w_fwd = 0.5 + 0.3 * wave(fb / 8, ())
        w_up = 0.6 + 0.6 * wave(fb / 8, ())
        w_med = 0.5 + 0.5 * wave(fb / 8, ())
        bend_chest = np.stack([-side * w_med, w_up, w_fwd], -1)
        bend = _apply(r_chest, bend_chest)
        axis = np.cross(d_up, bend)
        fallback = np.cross(d_up, _apply(r_chest, np.array([0.0, 0.0, 1.0])))
        small = np.linalg.norm(axis, axis=-1, keepdims=True) < 1e-3
        axis = _unit(np.where(small, fallback, axis))
        d_fore = _rodrigues(d_up, axis, elbow)
        d_hand = _rodrigues(d_fore, axis, 15 * deg * wave(fb / 4))
        shoulder = body[:, sh_i]
        body[:, el_i] = shoulder + UPPER_ARM * d_up
        body[:, wr_i] = body[:, el_i] + FOREARM * d_fore
        out[:, part] = _hand(body[:, wr_i], d_hand, side, r_chest, wave, fb)


def _place_head(out: np.ndarray, neck: np.ndarray, r_head: np.ndarray) -> None:
    """The face template turned with the head (``r_head`` (T, 3, 3)) about the ``neck`` (T, 3);
    ears, nose and eyes of the body from it."""
    body = out[:, :25]
    rest_neck = np.array([0.0, NECK_Y, 0.0])
    out[:, FACE] = neck[:, None] + np.einsum("tij,kj->tki", r_head, FACE_TEMPLATE - rest_neck)
    ears = neck[:, None] + np.einsum("tij,kj->tki", r_head, EARS - rest_neck)
    body[:, B["right_ear"]], body[:, B["left_ear"]] = ears[:, 0], ears[:, 1]
    body[:, B["nose"]] = out[:, FACE.start + FACE_NOSE_TIP]
    body[:, B["right_eye"]] = out[:, FACE.start + FACE_RIGHT_PUPIL]
    body[:, B["left_eye"]] = out[:, FACE.start + FACE_LEFT_PUPIL]

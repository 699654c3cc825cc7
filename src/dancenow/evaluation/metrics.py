"""Image and video metrics of the paper's evaluation (Sec. 5): SSIM, PSNR, pose distance, flicker.

Images are ``(H, W, 3)`` uint8 RGB unless stated otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from dancenow.pose.layout import PARTS


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 255); ``inf`` for identical images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004): Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03,
    computed per colour channel on the whole image and averaged (as scikit-image's
    ``structural_similarity(..., gaussian_weights=True, channel_axis=-1, data_range=255)``)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    x, y = a.astype(np.float64), b.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    sigma, truncate = 1.5, 3.5
    values = []
    for ch in range(x.shape[-1]):
        xi, yi = x[..., ch], y[..., ch]

        def blur(img):
            return gaussian_filter(img, sigma, truncate=truncate, mode="reflect")

        mx, my = blur(xi), blur(yi)
        # sample (not population) covariance, as scikit-image does
        n = (2 * int(truncate * sigma + 0.5) + 1) ** 2
        cov = n / (n - 1)
        vx = cov * (blur(xi * xi) - mx * mx)
        vy = cov * (blur(yi * yi) - my * my)
        vxy = cov * (blur(xi * yi) - mx * my)
        s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        pad = int(truncate * sigma + 0.5)  # skimage crops the border where the window falls off
        values.append(s[pad:-pad, pad:-pad].mean() if min(s.shape) > 2 * pad else s.mean())
    return float(np.mean(values))


def crop_box(image: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = (int(v) for v in box)
    return image[max(y0, 0) : y1, max(x0, 0) : x1]


def body_box(
    keypoints: np.ndarray, height: int, width: int, margin: float = 0.1
) -> tuple[int, int, int, int] | None:
    """Box around the present body keypoints of a ``(137, 3)`` pose, grown by ``margin`` of its size
    (and upward by a head's height, which the keypoints stop short of); None without a body."""
    pts = keypoints[:25][keypoints[:25, 2] > 0, :2]
    if len(pts) < 2:
        return None
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    mw, mh = margin * (x1 - x0 + 1), margin * (y1 - y0 + 1)
    box = (x0 - mw, y0 - 2 * mh, x1 + mw, y1 + mh)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def pose_distance(a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    """Mean L2 distance per part between two ``(137, 3)`` poses over points present in both,
    times ``scale`` (e.g. to express pixels at 1024-wide resolution); NaN for a part with none."""
    out = {}
    for name, part in (("body", PARTS["body"]), ("face", PARTS["face"])):
        out[name] = _mean_dist(a[part], b[part], scale)
    hands = (
        np.concatenate([a[PARTS["left_hand"]], a[PARTS["right_hand"]]]),
        np.concatenate([b[PARTS["left_hand"]], b[PARTS["right_hand"]]]),
    )
    out["hands"] = _mean_dist(*hands, scale)
    return out


def _mean_dist(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    if not both.any():
        return float("nan")
    return float(np.linalg.norm(a[both, :2] - b[both, :2], axis=1).mean() * scale)


def flicker(
    frames: list[np.ndarray] | np.ndarray, reference: list[np.ndarray] | np.ndarray | None = None
) -> float:
    """Temporal flicker: mean absolute frame-to-frame change (0-255 scale).

    With a ``reference`` video of the same length, the mean absolute *difference* between the
    two videos' frame-to-frame changes — how much more (or less) the output changes than the
    real video does, frame by frame.
    """
    x = np.asarray(frames, np.float32)
    dx = np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))
    if reference is None:
        return float(dx.mean()) if len(dx) else 0.0
    y = np.asarray(reference, np.float32)
    dy = np.abs(np.diff(y, axis=0)).mean(axis=(1, 2, 3))
    return float(np.abs(dx - dy).mean()) if len(dx) else 0.0

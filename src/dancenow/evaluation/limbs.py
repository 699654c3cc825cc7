"""Where limbs are lost: the share of each limb's core that the person mask and the generated
alpha cover (:mod:`dancenow.pose.limbs`).

A limb the mask covers but the alpha does not is a limb the model did not draw (the plate shows
through). One the mask misses is a limb the training target itself lacks. Judged per limb kind
(upper arm, forearm, hand, thigh, shin; both sides pooled), never by a mean over the body, which
the torso dominates.
"""

from __future__ import annotations

import numpy as np

from dancenow.pose.layout import LIMB_KINDS, LIMB_SEGMENTS
from dancenow.pose.limbs import limb_cores

MIN_CORE_PIXELS = 4
"""A core smaller than this (a limb seen end-on, or cut by the frame) is not scored."""
COVERED = 0.5
"""A pixel is covered when the mask or alpha there is above this."""


class LimbCoverage:
    """Per limb kind, the mean over frames of the share of the limb's core covered by the person
    mask (``mask_covers_K``) and by the generated alpha (``alpha_covers_K``), with the number of
    (frame, side) limbs scored (``cover_K_limbs``). Fed frame by frame with :meth:`add`; memory
    does not grow with the number of frames. Pixels beyond the video are left out."""

    def __init__(self):
        self.sums = {k: np.zeros(2) for k in LIMB_KINDS}  # (mask, alpha) summed shares
        self.count = dict.fromkeys(LIMB_KINDS, 0)

    def add(
        self,
        keypoints: np.ndarray,
        mask: np.ndarray,
        alpha: np.ndarray,
        valid: np.ndarray | None = None,
    ) -> None:
        """One frame: ``keypoints`` ``(137, 3)`` in the frame's pixels, ``mask`` and ``alpha``
        ``(H, W)`` in ``[0, 1]``, ``valid`` ``(H, W)`` (True inside the video) or None."""
        h, w = mask.shape
        cores = limb_cores(keypoints, h, w)
        if valid is not None:
            cores &= valid.astype(bool)[None]
        for core, name in zip(cores, LIMB_SEGMENTS, strict=True):
            if core.sum() < MIN_CORE_PIXELS:
                continue
            kind = name.split("_", 1)[1]
            self.sums[kind] += ((mask[core] > COVERED).mean(), (alpha[core] > COVERED).mean())
            self.count[kind] += 1

    def summary(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {}
        for k in LIMB_KINDS:
            n = self.count[k]
            m, a = self.sums[k] / n if n else (float("nan"), float("nan"))
            out |= {f"mask_covers_{k}": float(m), f"alpha_covers_{k}": float(a), f"cover_{k}_limbs": n}
        return out


def coverage_table(summaries: dict[str, dict]) -> str:
    """Markdown: per limb kind, the share of its core the mask and the generated alpha cover,
    one column pair per named summary (e.g. held-out and training frames)."""
    names = list(summaries)
    lines = [
        "| limb | " + " | ".join(f"{n}: mask covers | {n}: alpha covers" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
    ]
    for k in LIMB_KINDS:
        cells = []
        for n in names:
            s = summaries[n]
            for key in (f"mask_covers_{k}", f"alpha_covers_{k}"):
                v = s.get(key)
                cells.append(f"{v:.2f}" if isinstance(v, float) and np.isfinite(v) else "n/a")
            cells[-1] += f" ({s.get(f'cover_{k}_limbs', 0)})"
        lines.append(f"| {k.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

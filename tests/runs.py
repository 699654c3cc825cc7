"""Run folders made to order for tests: a trained tiny run whose networks are rigged to draw
something known, so what the pipeline does with their output can be checked exactly."""

from __future__ import annotations

import math
import shutil

from safetensors.torch import load_file, save_file


def rigged_run(run, dst, *, alpha: float, rgb: float):
    """A copy of ``run`` whose body generator draws a constant foreground ``rgb`` (in (-1, 1))
    with alpha ``alpha`` (0 or 1) everywhere, and whose face residual is 0."""
    shutil.copytree(run, dst)
    for name, key in (
        ("global_generator", "to_rgb.1"),
        ("local_enhancer", "to_rgb.1"),
        ("face_generator", "net.to_rgb.1"),
    ):
        path = dst / f"{name}.safetensors"
        weights = load_file(str(path))
        weights[f"{key}.weight"].zero_()
        bias = weights[f"{key}.bias"]
        bias.zero_()
        if name != "face_generator":
            bias[:3] = math.atanh(rgb)
            bias[3] = 20.0 if alpha else -20.0  # tanh saturates: alpha exactly 1 or 0
        save_file(weights, str(path))
    return dst

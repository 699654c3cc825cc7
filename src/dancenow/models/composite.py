"""The body generator draws the person, not the room: a foreground and an alpha map, laid over
the clean background plate.

The generator's 4 output channels are the foreground's RGB and alpha, all in ``[-1, 1]`` (one
tanh); alpha is rescaled to ``[0, 1]``. The frame is ``alpha * fg + (1 - alpha) * plate``, and
pixels of the crop beyond the video's edges (``valid`` 0) are set to black (-1) so nothing
drawn there can reach a loss: the real frames are black there too.
"""

from __future__ import annotations

import torch

OUT_CHANNELS = 4
"""The body generator's output: foreground RGB and alpha."""


def split_output(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 4, H, W)`` generator output -> foreground ``(B, 3, H, W)`` in ``[-1, 1]`` and alpha
    ``(B, 1, H, W)`` in ``[0, 1]``."""
    return out[:, :3], (out[:, 3:4] + 1) * 0.5


def keep_valid(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``x`` where ``valid`` (``(B, 1, H, W)``, 1 inside the video) is 1, black (-1) elsewhere.

    A pixel only partly inside (after downsampling the map) counts as outside."""
    inside = (valid >= 0.999).to(x.dtype)
    return (x + 1) * inside - 1


def composite(
    out: torch.Tensor, plate: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame ``alpha * fg + (1 - alpha) * plate`` (black beyond the video) and alpha.

    Args:
        out: ``(B, 4, H, W)`` generator output.
        plate: ``(B, 3, H, W)`` the background plate in the same window, in ``[-1, 1]``.
        valid: ``(B, 1, H, W)``, 1 where the window lies inside the video.
    """
    fg, alpha = split_output(out)
    frame = plate.to(fg.dtype) + alpha * (fg - plate.to(fg.dtype))
    return keep_valid(frame, valid), alpha


def next_frame(
    generator,
    face_generator,
    label: torch.Tensor,
    previous: torch.Tensor | None,
    plate: torch.Tensor,
    valid: torch.Tensor,
    face_boxes: torch.Tensor | None,
    *,
    temporal: bool,
    appearance: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One generated frame, as training judges it and generation makes it: the body generator
    on :func:`~dancenow.models.generators.generator_input` (label, previous frame with temporal
    smoothing, ``appearance`` ``(B, 4, H, W)`` when the model has it), composited over ``plate``,
    then the face residual inside ``face_boxes`` when there is a face generator.

    Returns ``(frame (B, 3, H, W), alpha (B, 1, H, W))``; ``frame`` is the next ``previous``.
    """
    from dancenow.models.generators import generator_input

    out = generator(generator_input(label, previous, appearance, temporal=temporal))
    frame, alpha = composite(out, plate, valid)
    if face_generator is not None and face_boxes is not None:
        frame = keep_valid(face_generator.refine(label, frame, face_boxes), valid)
    return frame, alpha

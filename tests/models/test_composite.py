"""The body generator's output laid over the plate: alpha 0 keeps the plate, alpha 1 the
foreground, and nothing survives beyond the video."""

from __future__ import annotations

import torch

from dancenow.models.composite import composite, keep_valid, next_frame, split_output


def _parts(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    fg = torch.rand(2, 3, 8, 6, generator=g) * 2 - 1
    plate = torch.rand(2, 3, 8, 6, generator=g) * 2 - 1
    valid = torch.ones(2, 1, 8, 6)
    valid[:, :, :2] = 0  # the top two rows lie beyond the video
    return fg, plate, valid


def test_alpha_chooses_between_the_foreground_and_the_plate():
    fg, plate, valid = _parts()
    alpha = torch.zeros(2, 1, 8, 6)
    alpha[:, :, :, 3:] = 1  # the right half is the person
    alpha[:, :, 5, 0] = 0.25
    out = torch.cat([fg, alpha * 2 - 1], 1)
    frame, got_alpha = composite(out, plate, valid)
    assert torch.equal(got_alpha, alpha)
    assert torch.equal(frame[:, :, 2:, :3][:, :, [0, 1, 2, 4, 5]], plate[:, :, 2:, :3][:, :, [0, 1, 2, 4, 5]])
    assert torch.equal(frame[:, :, 2:, 3:], fg[:, :, 2:, 3:])
    assert torch.allclose(frame[:, :, 5, 0], 0.25 * fg[:, :, 5, 0] + 0.75 * plate[:, :, 5, 0])
    assert (frame[:, :, :2] == -1).all()  # black beyond the video, whatever alpha says


def test_keep_valid_blacks_out_partly_covered_pixels_and_passes_gradients_inside_only():
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    valid = torch.ones(1, 1, 4, 4)
    valid[..., 0, :] = 0.5  # a downsampled valid map: the top row is only half inside
    y = keep_valid(x, valid)
    assert (y[..., 0, :] == -1).all() and torch.allclose(y[..., 1:, :], x[..., 1:, :], rtol=0, atol=1e-6)
    y.sum().backward()
    assert (x.grad[..., 0, :] == 0).all() and (x.grad[..., 1:, :] == 1).all()


def test_split_output_maps_alpha_to_0_1():
    out = torch.tensor([0.1, -0.2, 0.3, -1.0]).view(1, 4, 1, 1).repeat(1, 1, 2, 2)
    fg, alpha = split_output(out)
    assert fg.shape == (1, 3, 2, 2) and alpha.shape == (1, 1, 2, 2) and (alpha == 0).all()
    assert (split_output(torch.ones(1, 4, 1, 1))[1] == 1).all()


def test_next_frame_feeds_the_previous_composite_and_refines_the_face():
    """The temporal input is the previous composite (not the raw foreground); the face residual
    is added inside the box and kept black beyond the video."""
    fg, plate, valid = _parts()
    seen = []

    def generator(x):
        seen.append(x)
        return torch.cat([fg, torch.zeros_like(fg[:, :1])], 1)  # alpha 0.5

    class Face:
        def refine(self, label, frame, boxes):
            out = frame.clone()
            out[:, :, :4, :4] += 0.5  # a residual over rows 0..3, two of them beyond the video
            return out

    label = torch.zeros(2, 3, 8, 6)
    first, alpha = next_frame(generator, None, label, None, plate, valid, None, temporal=True)
    assert torch.equal(seen[0][:, 3:], torch.zeros_like(plate))  # no previous frame: zeros
    assert (alpha == 0.5).all()
    second, _ = next_frame(generator, Face(), label, first, plate, valid, torch.zeros(2, 4), temporal=True)
    assert torch.equal(seen[1][:, 3:], first)
    assert (second[:, :, :2] == -1).all()
    assert torch.allclose(second[:, :, 2:4, :4], first[:, :, 2:4, :4] + 0.5)
    assert torch.equal(second[:, :, 4:], first[:, :, 4:])
    next_frame(generator, None, label, first, plate, valid, None, temporal=False)
    assert torch.equal(seen[2], label)

"""The offline perceptual distance: shift-tolerant LPIPS with the stlpips-pytorch wheel's weights."""

import cv2
import pytest
import torch
from skimage import data

from dancenow.evaluation.stlpips import _KEY_MAP, ShiftTolerantAlexLPIPS, stlpips_distance, weights_path


@pytest.fixture(scope="module")
def photo():
    """A 128x128 crop of a real photo, the same crop shifted 2 px right, and it blurred (σ = 2)."""
    img = data.astronaut()
    base = img[100:228, 100:228]
    return base, img[100:228, 102:230], cv2.GaussianBlur(base, (0, 0), 2.0)


def test_wheel_weights_load_as_plain_tensors_and_fill_every_parameter():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    ours = ShiftTolerantAlexLPIPS().state_dict()
    assert set(state) == set(_KEY_MAP) and set(_KEY_MAP.values()) == set(ours)
    for theirs, mine in _KEY_MAP.items():
        assert state[theirs].shape == ours[mine].shape, theirs


def test_identical_frames_score_zero(photo):
    base, _, _ = photo
    assert stlpips_distance(base, base.copy()) == 0.0


def test_blur_scores_worse_than_the_original_and_than_a_two_pixel_shift(photo):
    base, shifted, blurred = photo
    d_shift, d_blur = stlpips_distance(base, shifted), stlpips_distance(base, blurred)
    assert 0 < d_shift < d_blur
    assert d_blur > 10 * d_shift  # the shift tolerance is the point of this variant
    # the same inputs through the wheel's own LPIPS(net="alex", variant="shift_tolerant")
    assert d_shift == pytest.approx(0.010528, abs=2e-5)
    assert d_blur == pytest.approx(0.481197, abs=2e-5)


def test_small_crops_are_upsampled_and_shapes_are_checked(photo):
    base, _, blurred = photo
    assert stlpips_distance(base[:20, :30], blurred[:20, :30]) > 0  # a 32 px face box is smaller than 64
    with pytest.raises(ValueError, match="shapes differ"):
        stlpips_distance(base, base[:64])

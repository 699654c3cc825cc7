"""Person-centred crop windows: smooth, one size, following the person; which crop pixels lie in
the video; plate crops registered with frame crops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from data_footage import stick_person

from dancenow.data import crop as cropping
from dancenow.pose.layout import B

FPS = 30.0


def _walk(num_frames: int = 90, jitter: float = 8.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 137, 3)`` keypoints of a person walking from x = 60 to x = 260 of a 320x240 video at
    30 fps, each frame's detection off by up to ``jitter`` px (the whole skeleton) plus up to 2 px
    per keypoint; and ``(T,)`` the true x of their centre line."""
    rng = np.random.default_rng(seed)
    path = np.linspace(60, 260, num_frames)
    kp = np.stack([stick_person(x, 220, 170) for x in path])
    kp[..., :2] += rng.uniform(-jitter, jitter, (num_frames, 1, 2))
    kp[..., :2] += rng.uniform(-2, 2, (num_frames, kp.shape[1], 2))
    return kp, path


def _box_centres(kp: np.ndarray) -> np.ndarray:
    boxes = cropping.person_boxes(kp)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def test_windows_are_smooth_where_the_detections_jitter():
    kp, _ = _walk()
    size = cropping.window_size_for(kp, 3 / 4)
    windows = cropping.person_windows(kp, size, FPS)
    assert windows.shape == (90, 4) and windows.dtype == np.int64
    centres = (windows[:, :2] + windows[:, 2:]) / 2
    accel = np.abs(np.diff(centres, n=2, axis=0))  # px / frame^2
    raw = np.abs(np.diff(_box_centres(kp), n=2, axis=0))
    # measured: the raw box centre up to 31 px/frame^2, unsmoothed windows 11, these 2 (integer
    # windows: rounding alone can make 2)
    assert raw.max() > 10
    assert accel.max() <= 2
    # one size for the whole video, at the asked aspect
    assert (windows[:, 2] - windows[:, 0] == size[0]).all() and (
        windows[:, 3] - windows[:, 1] == size[1]
    ).all()
    assert abs(size[0] / size[1] - 3 / 4) < 1 / size[1]


def test_windows_follow_a_person_walking_across():
    kp, path = _walk(jitter=4.0)
    size = cropping.window_size_for(kp, 3 / 4)
    windows = cropping.person_windows(kp, size, FPS)
    centre_x = (windows[:, 0] + windows[:, 2]) / 2
    # within a few pixels of the true path (the smoothing lags a little at the clip's ends)
    assert np.abs(centre_x - path)[5:-5].max() < 4
    assert np.abs(centre_x - path).max() < 8
    # the whole person is inside every window: head top, feet, hands
    inside = cropping.transform_keypoints(kp, windows, (96, 128))
    assert (inside[..., 0] > 0).all() and (inside[..., 0] < 96).all()
    assert (inside[..., 1] > 0).all() and (inside[..., 1] < 128).all()
    head_top = inside[:, B["nose"], 1] - 0.6 * np.hypot(
        *(inside[:, B["nose"], :2] - inside[:, B["neck"], :2]).T
    )
    assert head_top.min() > 0
    # a window per frame, never shifted into the frame: here the person starts near the left edge
    near_edge = np.stack([stick_person(x, 220, 170) for x in np.linspace(20, 40, 30)])
    edge_windows = cropping.person_windows(near_edge, cropping.window_size_for(near_edge, 3 / 4), FPS)
    assert (edge_windows[:, 0] < 0).all()


def test_windows_ignore_short_glitches_and_fill_frames_without_anybody():
    kp, _ = _walk(jitter=0.0)
    size = cropping.window_size_for(kp, 3 / 4)
    clean = cropping.person_windows(kp, size, FPS)
    glitchy = kp.copy()
    glitchy[20, B["right_wrist"], :2] = (2, 2)  # one frame: a wrist in the corner
    glitchy[50:52, 95:137, :2] = (318, 238)  # two frames: both hands in the other corner
    glitchy[70:74] = 0  # nobody at all for four frames
    windows = cropping.person_windows(glitchy, size, FPS)
    # the running median takes a neighbour's value instead: about one frame's walk (2.2 px)
    assert np.abs(windows - clean).max() <= 3
    assert cropping.window_size_for(glitchy, 3 / 4) == size  # the size ignores them too
    with pytest.raises(ValueError, match="no keypoints"):
        cropping.person_windows(np.zeros_like(kp), size, FPS)


def test_valid_region_of_a_window_half_outside_the_frame():
    # 5 source pixels per crop pixel; the window starts 10 px left of and 20 px above a 100x50 frame
    valid = cropping.valid_region((-10, -20, 30, 60), (100, 50), (8, 16))
    expected = np.zeros((16, 8), bool)
    expected[4:14, 2:] = True  # rows 4..13 cover source y 0..50, columns 2.. cover x 0..30
    np.testing.assert_array_equal(valid, expected)
    # a crop pixel cut by the frame's edge is outside (part of it would be black)
    valid = cropping.valid_region((-7, 0, 33, 40), (100, 50), (8, 8))
    assert valid[:, :2].sum() == 0 and valid[:, 2:].all()
    # the right and bottom edges likewise; a window inside the frame is all valid
    valid = cropping.valid_region((80, 30, 120, 70), (100, 50), (8, 8))
    assert valid.sum() == 4 * 4 and valid[:4, :4].all()
    assert cropping.valid_region((0, 0, 100, 50), (100, 50), (20, 10)).all()
    assert not cropping.valid_region((200, 0, 240, 40), (100, 50), (8, 8)).any()


def _smooth_image(width: int, height: int) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 picture with detail a few pixels wide (not a flat gradient)."""
    y, x = np.mgrid[:height, :width].astype(np.float64)
    channels = [
        128 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0),
        128 + 50 * np.cos((x + 2 * y) / 17.0),
        40 + 0.5 * x + 0.3 * y,
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("stored", [(320, 240), (160, 120)])
def test_plate_crops_are_registered_with_frame_crops(stored):
    """A :class:`ScaledCropper` crop of the plate (stored at the video's size or smaller) equals
    :func:`crop_frame` of the same integer window of the full-size image, in and out of the
    frame (black beyond it)."""
    image = _smooth_image(320, 240)
    plate = cv2.resize(image, stored, interpolation=cv2.INTER_AREA) if stored != (320, 240) else image
    cropper = cropping.ScaledCropper(plate, (320, 240), (120, 160), (48, 64))
    tolerance = 3 if stored == (320, 240) else 5
    for window in [(100, 40, 220, 200), (7, 3, 127, 163), (-50, -30, 70, 130), (250, 150, 370, 310)]:
        got = cropper(window).astype(int)
        want = cropping.crop_frame(image, window, (48, 64), border="black").astype(int)
        assert got.shape == want.shape == (64, 48, 3)
        valid = cropping.valid_region(window, (320, 240), (48, 64))
        diff = np.abs(got - want)[valid]
        assert diff.mean() < 1 and diff.max() <= tolerance, (window, diff.mean(), diff.max())
        beyond = cv2.dilate(valid.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
        assert got[beyond].max(initial=0) == 0 and want[beyond].max(initial=0) == 0
    # 3 source pixels (1.2 crop pixels) off is visibly worse: the registration is real
    shifted = cropping.crop_frame(image, (103, 40, 223, 200), (48, 64), border="black").astype(int)
    assert np.abs(cropper((100, 40, 220, 200)).astype(int) - shifted).mean() > 3

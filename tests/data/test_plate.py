"""Person masks and the clean background plate, on a generated performer whose true background
and true silhouette are known."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from dancenow.data.crop import crop_frame
from dancenow.data.dataset import FrameDataset, load_dataset_info
from dancenow.data.plate import MIN_FREE, PERSON_THRESHOLD, PlateBuilder, clean_plate
from dancenow.data.prepare import prepare_dataset
from dancenow.errors import InputError
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.synthetic.performer import TARGET, make_background, render_performer
from dancenow.synthetic.video import clip_keypoints
from dancenow.video import VideoWriter

W = H = 128
T = 40
FPS = 10
STILL = int(0.8 * T)  # the performer stands still for the first 80 % of the clip


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory):
    """A performer who stands still, off centre, for 80 % of the clip, then dances in the middle.

    Returns the dataset folder, the true background and the ``(T, H, W)`` true silhouettes.
    """
    root = tmp_path_factory.mktemp("still")
    kp, framing = clip_keypoints(T, FPS, size=(W, H), appearance=TARGET, seed=3)
    still = kp[0].copy()
    still[still[:, 2] > 0, 0] -= 0.25 * W
    kp[:STILL] = still
    background = make_background(H, W, seed=3, floor_y=framing["floor_y"], horizon_y=framing["horizon_y"])
    frames = [render_performer(p, TARGET, H, W, background) for p in kp]
    # The person is what stays the same over another background (the floor shadow, a blend with
    # the background, counts as background).
    other = 255 - background
    person = np.stack(
        [np.all(f == render_performer(p, TARGET, H, W, other), -1) for f, p in zip(frames, kp, strict=True)]
    )
    with VideoWriter(root / "still.mp4", FPS, crf=18) as writer:
        for frame in frames:
            writer.write(frame)
    save_poses(root / "still.npz", PoseSequence(kp, fps=FPS, width=W, height=H, detector="synthetic"))
    ds = prepare_dataset(
        root / "still.mp4", root / "ds", poses=root / "still.npz", size=(64, 64), progress=False
    )
    return ds, background, person, np.stack(frames)


def _psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    err = ((a.astype(np.float64) - b.astype(np.float64)) ** 2)[where].mean()
    return float(10 * np.log10(255**2 / err))


def _plate(ds):
    plate = cv2.cvtColor(cv2.imread(str(ds / "background.png")), cv2.COLOR_BGR2RGB)
    uncovered = cv2.imread(str(ds / "background_uncovered.png"), cv2.IMREAD_UNCHANGED)
    return plate, uncovered


def test_masks_are_stored_with_the_frames(still_clip):
    ds, _, person, _ = still_clip
    info = load_dataset_info(ds)
    masks = np.load(ds / "masks.npy", mmap_mode="r")
    frames = np.load(ds / "frames.npy", mmap_mode="r")
    assert masks.dtype == np.uint8 and masks.shape == frames.shape[:3] == (T, 64, 64)
    data = FrameDataset(ds, "all")
    for t in (0, T - 1):
        got = data.mask(t)
        assert got.shape == (1, 64, 64) and got.dtype.is_floating_point
        np.testing.assert_array_equal((got[0].numpy() * 255).round().astype(np.uint8), masks[t])
    # Aligned with the frames: the stored mask matches the true silhouette cropped the same way,
    # and matches it worse when shifted by a few pixels.
    windows = info.windows()

    def iou(t: int, shift: int) -> float:
        true = crop_frame(person[t].astype(np.uint8) * 255, windows[t], (64, 64), border="black") > 127
        got = np.roll(masks[t] > 127, shift, axis=1)
        return float((true & got).sum() / (true | got).sum())

    for t in (5, STILL + 4):
        assert iou(t, 0) > 0.7
        assert iou(t, 0) > max(iou(t, 3), iou(t, -3)) + 0.05


def test_plate_matches_the_true_background_where_it_was_seen(still_clip):
    ds, background, person, _ = still_clip
    plate, uncovered = _plate(ds)
    assert plate.shape == background.shape
    assert uncovered.shape == (H, W) and uncovered.dtype == np.uint8 and set(np.unique(uncovered)) <= {0, 255}
    seen = uncovered == 0
    assert seen.mean() > 0.8
    assert _psnr(plate, background, seen) >= 35


def test_a_dancer_standing_still_leaves_no_ghost(still_clip):
    ds, background, person, frames = still_clip
    plate, _ = _plate(ds)
    still = person[0]
    plain = np.median(frames, axis=0)
    # The plain median is the person where they stood still; the plate is the wall and floor.
    assert np.abs(plain - background)[still].mean() > 50
    assert np.abs(plate.astype(np.float64) - background)[still].mean() < 10


def test_pixels_never_uncovered_are_inpainted_and_flagged(still_clip):
    ds, background, person, _ = still_clip
    plate, uncovered = _plate(ds)
    meta = json.loads((ds / "dataset.json").read_text())
    # The performer covers these in every frame (their still spot overlaps where they dance).
    always = person.all(axis=0)
    assert always.sum() > 20
    assert (uncovered[always] == 255).all()
    assert meta["background"]["uncovered_fraction"] == pytest.approx((uncovered > 0).mean())
    # Inpainted from the wall and floor around them, not left black or person-coloured.
    assert np.abs(plate.astype(np.float64) - background)[always].mean() < 20


def test_clean_plate_is_the_median_over_free_samples():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (7, 300, 9, 3), dtype=np.uint8)
    masks = np.where(rng.random((7, 300, 9)) < 0.4, 255, 0).astype(np.uint8)
    masks[:, 0, 0] = 255  # never free
    masks[1:, 0, 1] = 255  # free once: not enough to trust
    plate, uncovered = clean_plate(frames, masks, dilation=0)
    free = masks <= PERSON_THRESHOLD
    count = free.sum(axis=0)
    assert uncovered[0, 0] and uncovered[0, 1]
    np.testing.assert_array_equal(uncovered, count < MIN_FREE)
    free3 = free[..., None].repeat(3, -1)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.nanmedian(np.where(free3, frames.astype(np.float64), np.nan), axis=0)
    ok = ~uncovered
    assert np.abs(plate[ok] - np.floor(expected[ok] + 0.5)).max() == 0


def test_a_lost_mask_does_not_paint_the_person_into_the_plate():
    """A sample whose poses show a person but whose mask is empty is left out."""
    background = np.full((40, 30, 3), 200, np.uint8)
    person = np.zeros((40, 30), np.uint8)
    person[10:30, 10:20] = 255
    with_person = background.copy()
    with_person[person > 0] = (255, 0, 0)
    builder = PlateBuilder(num_frames=6, samples=6)
    for t in range(6):
        assert builder.wants(t)
        lost = t in (0, 3)  # two: enough free samples to be trusted, were they used
        builder.add(with_person, np.zeros_like(person) if lost else person, person_detected=True)
    plate, uncovered = builder.build(dilation=1)
    assert builder.used == 4
    assert uncovered[10:30, 10:20].all()  # never seen: inpainted from the grey around it
    assert np.abs(plate.astype(int) - 200).max() <= 2


def test_an_older_dataset_asks_for_prepare_again(tiny_dataset, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_dataset, old)
    (old / "masks.npy").unlink()
    (old / "background_uncovered.png").unlink()
    meta = json.loads((old / "dataset.json").read_text())
    meta["version"] = 2
    (old / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(InputError) as err:
        load_dataset_info(old)
    message = str(err.value)
    assert "\n" not in message
    assert "version 2" in message and message.endswith("run `dancenow prepare` again")

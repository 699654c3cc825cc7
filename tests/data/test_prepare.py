"""prepare_dataset: the crop window, frames, keypoints, face boxes, splits, atomicity, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from data_footage import make_footage, stick_person, walking_keypoints

from dancenow.data import DATASET_VERSION
from dancenow.data import crop as cropping
from dancenow.data.prepare import prepare_dataset
from dancenow.errors import InputError
from dancenow.pose.layout import BODY, NUM_KEYPOINTS, B
from dancenow.pose.nearest import nearest_pose_indices, normalized_body
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.video import iter_frames, probe, write_video


def _load(out: Path) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    meta = json.loads((out / "dataset.json").read_text())
    frames = np.load(out / "frames.npy", mmap_mode="r")
    return meta, frames, np.load(out / "keypoints.npy"), np.load(out / "faces.npy")


def _inside(kp: np.ndarray, width: int, height: int) -> bool:
    present = kp[..., 2] > 0
    x, y = kp[..., 0][present], kp[..., 1][present]
    return bool((x >= 0).all() and (x < width).all() and (y >= 0).all() and (y < height).all())


def _beyond(valid: np.ndarray) -> np.ndarray:
    """Crop pixels wholly beyond the video: not valid, and no valid neighbour (a pixel cut by the
    frame's edge mixes black and picture)."""
    return cv2.dilate(valid.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0


@pytest.mark.parametrize(
    ("frame", "size"),
    [
        ((320, 240), (64, 64)),  # landscape video, square training frames
        ((240, 320), (64, 64)),  # portrait video
        ((240, 320), (64, 128)),  # portrait training frames
        ((240, 320), (128, 64)),  # much wider than the video: the crop must leave the frame
    ],
)
def test_crop_holds_the_person_at_the_training_aspect(tmp_path, frame, size):
    fw, fh = frame
    kp = walking_keypoints(16, fw, fh)
    video, poses = make_footage(tmp_path, kp, fw, fh)
    out = prepare_dataset(video, tmp_path / "ds", poses=poses, size=size, progress=False)
    meta, frames, keypoints, faces = _load(out)
    w, h = size
    assert frames.shape == (16, h, w, 3) and frames.dtype == np.uint8
    assert keypoints.shape == (16, NUM_KEYPOINTS, 3) and keypoints.dtype == np.float32
    assert _inside(keypoints, w, h)
    windows = np.load(out / "windows.npy")
    assert windows.shape == (16, 4) and windows.dtype == np.int64
    # One size for the whole video (the one dataset.json records), at the training aspect.
    ww, wh = meta["window_size"]
    assert (windows[:, 2] - windows[:, 0] == ww).all() and (windows[:, 3] - windows[:, 1] == wh).all()
    assert abs(ww / wh - w / h) < 1 / wh
    # The keypoints are the source keypoints through each frame's own window.
    np.testing.assert_allclose(keypoints, cropping.transform_keypoints(kp, windows, size), atol=1e-4)
    # The whole person, head top included: the highest point (raised hands or the head) is well
    # inside the frame, not at its edge.
    head_top = keypoints[:, B["right_eye"], 1] - 0.6 * np.hypot(
        *(keypoints[:, B["nose"], :2] - keypoints[:, B["neck"], :2]).T
    )
    assert head_top.min() > 0
    # The window follows the person: the mid-hip stays near the crop's centre line while the
    # person walks 40 % of the frame's width (the smoothing lags a little at the clip's ends).
    hip_x = keypoints[:, B["mid_hip"], 0]
    assert np.abs(hip_x - w / 2).max() < 0.1 * w
    assert windows[-1, 0] - windows[0, 0] > 0.25 * fw
    # Never shifted into the frame: what lies beyond the video is black, not replicated edges.
    for t in range(16):
        valid = cropping.valid_region(windows[t], (fw, fh), size)
        assert frames[t][_beyond(valid)].max(initial=0) == 0
        assert frames[t][valid].mean() > 20
    # The person fills a good part of the crop.
    present = keypoints[..., 2] > 0
    span = keypoints[..., 1][present].max() - keypoints[..., 1][present].min()
    assert span > 0.5 * h or w > h


def test_black_beyond_the_frame_not_replicated_edges(tmp_path):
    """A person taller than the frame allows: the windows reach past its edges."""
    kp = np.stack([stick_person(20 + 4 * i, 236, 200) for i in range(8)])  # at the left edge
    video, poses = make_footage(tmp_path, kp, 320, 240)
    out = prepare_dataset(video, tmp_path / "ds", poses=poses, size=(96, 128), progress=False)
    frames, windows = np.load(out / "frames.npy"), np.load(out / "windows.npy")
    masks = np.load(out / "masks.npy")
    assert (windows[:, 0] < 0).all() and (windows[:, 3] > 240).all()  # past the left and bottom
    for image, mask, window in zip(frames, masks, windows, strict=True):
        valid = cropping.valid_region(window, (320, 240), (96, 128))
        assert 0 < valid.sum() < valid.size
        beyond = _beyond(valid)
        assert beyond[:, :5].all() and beyond[-3:].all()
        assert image[beyond].max() == 0 and mask[beyond].max() == 0
        # the columns and rows just inside the frame's edges are the gradient, not black
        rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
        assert image[rows[-1], cols].mean() > 20 and image[rows, cols[0]].mean() > 20


def test_dataset_json_fields_and_splits(tmp_path, landscape):
    video, poses, kp = landscape
    out = prepare_dataset(
        video, tmp_path / "ds", poses=poses, size=(64, 96), val_fraction=0.25, progress=False
    )
    meta, frames, keypoints, faces = _load(out)
    assert set(meta) == {
        "version",
        "source_video",
        "source_size",
        "fps",
        "num_frames",
        "size",
        "window_size",
        "full_frame",
        "face_size",
        "splits",
        "eval_crop",
        "eval_size",
        "detector",
        "body_detected_fraction",
        "segmentation",
        "background",
    }
    assert meta["version"] == DATASET_VERSION == 4
    assert meta["segmentation"].startswith("mediapipe")
    assert set(meta["background"]) == {"samples", "dilation_px", "uncovered_fraction"}
    assert meta["background"]["samples"] == 24  # every frame of a 24-frame clip
    assert meta["source_video"] == str(video.resolve())
    assert meta["source_size"] == [320, 240]
    assert meta["fps"] == pytest.approx(25.0)
    assert meta["num_frames"] == 24
    assert meta["size"] == [64, 96]
    assert meta["full_frame"] is False
    assert meta["face_size"] == 16  # 96 / 8 = 12 -> at least 16
    assert meta["splits"] == {"train": [0, 18], "val": [18, 24]}
    assert meta["detector"] == "synthetic"
    assert meta["body_detected_fraction"] == 1.0
    # The original poses come along unchanged (source pixels).
    with np.load(out / "poses.npz") as z:
        np.testing.assert_allclose(z["keypoints"], kp)
    # Keypoints are the source keypoints through each frame's crop window.
    windows = np.load(out / "windows.npy")
    assert windows.shape == (24, 4) and windows.dtype == np.int64
    assert (windows[:, 2:] - windows[:, :2] == meta["window_size"]).all()
    np.testing.assert_allclose(keypoints, cropping.transform_keypoints(kp, windows, (64, 96)), atol=1e-4)
    # Evaluation: a square window (as high as the training frames) around everywhere the person
    # goes; the held-out frames and their nearest-pose training frames are stored in it.
    x0, y0, x1, y1 = meta["eval_crop"]
    assert meta["eval_size"] == [96, 96] and x1 - x0 == y1 - y0
    assert list(meta["eval_crop"]) == list(cropping.person_window(kp, (320, 240), 1.0))
    ev, base = np.load(out / "eval_frames.npy"), np.load(out / "baseline_frames.npy")
    assert ev.shape == base.shape == (6, 96, 96, 3) and ev.dtype == base.dtype == np.uint8
    video_frames = [f.image for f in iter_frames(video)]
    for row, t in enumerate(range(18, 24)):
        expected = cropping.crop_frame(video_frames[t], meta["eval_crop"], (96, 96), border="black")
        np.testing.assert_array_equal(ev[row], expected)
    nearest = nearest_pose_indices(normalized_body(kp[:18]), normalized_body(kp[18:]))
    for row, t in enumerate(nearest):
        expected = cropping.crop_frame(video_frames[t], meta["eval_crop"], (96, 96), border="black")
        np.testing.assert_array_equal(base[row], expected)
    # No validation split at all.
    out = prepare_dataset(video, tmp_path / "ds0", poses=poses, size=(64, 64), val_fraction=0, progress=False)
    assert _load(out)[0]["splits"] == {"train": [0, 24], "val": [24, 24]}


def test_pixels_land_where_the_transform_says(tmp_path):
    kp = np.stack([stick_person(160 + 3 * i, 220, 170) for i in range(6)])
    marker = (96, 70, 12)  # a white 12x12 square at source pixels [96, 108) x [70, 82), beside the person
    video, poses = make_footage(tmp_path, kp, 320, 240, marker=marker)
    out = prepare_dataset(video, tmp_path / "ds", poses=poses, size=(128, 128), progress=False)
    meta, frames, _, _ = _load(out)
    centre = np.array([[[102.0, 76.0, 1.0]] * NUM_KEYPOINTS])  # the square's centre as a "keypoint"
    windows = np.load(out / "windows.npy")
    side = 12 * 128 / meta["window_size"][1]
    for image, window in zip(frames[:3], windows, strict=False):
        expected = cropping.transform_keypoints(centre, window, (128, 128))[0, 0, :2]
        # Look near the expected place only: the stick figure's face is white too.
        cx, cy = np.round(expected).astype(int)
        white = image[cy - 12 : cy + 12, cx - 12 : cx + 12].min(axis=2) > 200
        ys, xs = np.nonzero(white)
        # Pixel (i, j) covers [i, i+1): its centre is at i + 0.5.
        found = np.array([xs.mean() + cx - 12 + 0.5, ys.mean() + cy - 12 + 0.5])
        assert np.abs(found - expected).max() < 0.3
        assert abs(np.sqrt(white.sum()) - side) < 1.5


def test_full_frame_letterboxes(tmp_path):
    kp = walking_keypoints(8, 240, 320)  # portrait video into a landscape dataset
    video, poses = make_footage(tmp_path, kp, 240, 320)
    out = prepare_dataset(
        video, tmp_path / "ds", poses=poses, size=(128, 64), full_frame=True, progress=False
    )
    meta, frames, keypoints, _ = _load(out)
    assert meta["full_frame"] is True
    windows = np.load(out / "windows.npy")
    assert (windows == [-200, 0, 440, 320]).all()  # 640 wide = 320 * 2, video centred, every frame
    assert meta["window_size"] == [640, 320] and meta["eval_crop"] == [-200, 0, 440, 320]
    assert meta["eval_size"] == [128, 64]
    assert _inside(keypoints, 128, 64)
    # Black pillarbox bars left and right (at 0.2 scale, 200 source px -> 40 columns each).
    assert frames[0][:, :38].max() == 0 and frames[0][:, -38:].max() == 0
    assert frames[0][:, 44:84].mean() > 20
    # Same aspect: the window is the frame itself.
    assert cropping.full_frame_window((320, 240), 320 / 240) == (0, 0, 320, 240)


def test_crop_ignores_short_detection_glitches():
    kp = walking_keypoints(60, 320, 240)
    clean = cropping.person_window(kp, (320, 240), 1.0)
    glitchy = kp.copy()
    glitchy[10, B["right_wrist"], :2] = (2, 2)  # one frame: a wrist in the corner
    glitchy[30:32, 116:137, :2] = (318, 238)  # two frames: a hand in the other corner
    glitchy[45, 25:95, 1] -= 200  # one frame: the face far above the head
    assert cropping.person_window(glitchy, (320, 240), 1.0) == clean
    # ...but a place the person really stays at (here 10 frames) is kept.
    still = np.stack([stick_person(120, 216, 168)] * 60)
    narrow = cropping.person_window(still, (320, 240), 0.5)
    still[20:30, :, 0] += 60
    wider = cropping.person_window(still, (320, 240), 0.5)
    assert wider[2] > narrow[2] + 50
    assert (still[..., 0] < wider[2]).all()


def test_crop_window_handles_missing_frames_and_heads():
    kp = walking_keypoints(20, 320, 240)
    kp[5:9] = 0  # nobody in these frames
    kp[12:, [B["nose"], B["right_eye"], B["left_eye"], B["right_ear"], B["left_ear"]]] = 0
    kp[12:, 25:95] = 0  # no head at all in the second half
    window = cropping.person_window(kp, (320, 240), 1.0)
    head_top = stick_person(0, 216, 168)[B["right_eye"], 1] - 0.6 * 0.11 * 168
    assert window[1] <= head_top  # the head top is still inside, estimated from the neck
    with pytest.raises(ValueError, match="no keypoints"):
        cropping.person_window(np.zeros_like(kp), (320, 240), 1.0)


def test_face_boxes():
    kp = walking_keypoints(10, 64, 64)  # person in training pixels of a 64x64 frame
    nose = kp[:, B["nose"], :2].copy()
    kp[3, B["nose"]] = 0  # nose missing: the ears' mean
    kp[4, B["nose"]] = 0
    kp[4, B["left_ear"]] = 0  # one ear only: that ear
    kp[6:8, BODY] = 0  # nothing: the nearest frame's box (5 for 6, 8 for 7)
    kp[0, B["nose"], :2] = (1, 1)  # near the corner: shifted inside
    boxes = cropping.face_boxes(kp, 64, 64, 16)
    assert boxes.dtype == np.int32 and boxes.shape == (10, 4)
    assert (boxes[:, 2] - boxes[:, 0] == 16).all() and (boxes[:, 3] - boxes[:, 1] == 16).all()
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 64).all()
    assert boxes[0].tolist() == [0, 0, 16, 16]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.abs(centre[1] - nose[1]).max() <= 0.5
    ears = (kp[3, B["right_ear"], :2] + kp[3, B["left_ear"], :2]) / 2
    assert np.abs(centre[3] - ears).max() <= 0.5
    assert np.abs(centre[4] - kp[4, B["right_ear"], :2]).max() <= 0.5
    assert boxes[6].tolist() == boxes[5].tolist() and boxes[7].tolist() == boxes[8].tolist()
    assert cropping.face_size_for(1024, 512) == 128  # DESIGN section 7
    assert cropping.face_size_for(256) == 32
    assert cropping.face_size_for(64) == 16


def test_failure_leaves_nothing_behind(tmp_path, landscape, monkeypatch):
    video, poses, _ = landscape
    out = tmp_path / "out" / "ds"

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("dancenow.data.prepare.save_poses", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        prepare_dataset(video, out, poses=poses, size=(64, 64), progress=False)
    assert list((tmp_path / "out").iterdir()) == []
    # An existing dataset survives a failed re-run untouched.
    monkeypatch.undo()
    prepare_dataset(video, out, poses=poses, size=(64, 64), progress=False)
    before = sorted(p.name for p in out.iterdir())
    monkeypatch.setattr("dancenow.data.prepare.save_poses", broken)
    with pytest.raises(RuntimeError):
        prepare_dataset(video, out, poses=poses, size=(96, 96), progress=False)
    assert sorted(p.name for p in out.iterdir()) == before
    assert json.loads((out / "dataset.json").read_text())["size"] == [64, 64]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ds"]


def test_bad_inputs(tmp_path, landscape):
    video, poses, kp = landscape
    out = tmp_path / "ds"
    for size in [(100, 64), (64, 0)]:
        with pytest.raises(InputError, match="multiples of 32"):
            prepare_dataset(video, out, poses=poses, size=size, progress=False)
    with pytest.raises(InputError, match="val fraction"):
        prepare_dataset(video, out, poses=poses, val_fraction=0.95, progress=False)
    with pytest.raises(InputError, match="no such file"):
        prepare_dataset(tmp_path / "nope.mp4", out, poses=poses, progress=False)
    # A pose file of another video: other frame size, other length.
    other = tmp_path / "other.npz"
    save_poses(other, PoseSequence(keypoints=kp, fps=25, width=640, height=480))
    with pytest.raises(InputError, match="640x480") as err:
        prepare_dataset(video, out, poses=other, size=(64, 64), progress=False)
    assert err.value.path == other
    save_poses(other, PoseSequence(keypoints=kp[:20], fps=25, width=320, height=240))
    with pytest.raises(InputError, match="has 20 frames") as err:
        prepare_dataset(video, out, poses=other, size=(64, 64), progress=False)
    assert err.value.path == other
    save_poses(other, PoseSequence(keypoints=np.zeros_like(kp), fps=25, width=320, height=240))
    with pytest.raises(InputError, match="no person"):
        prepare_dataset(video, out, poses=other, size=(64, 64), progress=False)
    # Never replace a folder that is not a dataset.
    keep = tmp_path / "photos"
    keep.mkdir()
    (keep / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(InputError, match="not a dataset folder"):
        prepare_dataset(video, keep, poses=poses, size=(64, 64), progress=False)
    assert (keep / "cat.jpg").exists()
    assert not out.exists()


def test_real_video_without_poses(tmp_path, shared_data):
    """Real MediaPipe on the first 1.5 s of a real dance clip (downscaled to keep it quick)."""
    import cv2

    from dancenow.data.dataset import FrameDataset, tensor_to_image

    source = shared_data / "videos" / "aerobics_studio.mp4"
    clip = tmp_path / "clip.mp4"
    fps = probe(source).fps
    frames = (
        cv2.resize(f.image, (960, 540), interpolation=cv2.INTER_AREA) for f in iter_frames(source, 0, 1.5)
    )
    write_video(clip, frames, fps, preset="ultrafast", crf=16)
    out = prepare_dataset(clip, tmp_path / "ds", size=(256, 256), progress=False)
    meta, frames, keypoints, faces = _load(out)
    assert meta["detector"].startswith("mediapipe")
    assert meta["body_detected_fraction"] > 0.9
    body = keypoints[:, BODY]
    present = body[..., 2] > 0
    xs, ys = body[..., 0][present], body[..., 1][present]
    assert _inside(keypoints, 256, 256)
    assert 0.3 * 256 < np.median(xs) < 0.7 * 256  # centred-ish
    assert ys.max() - ys.min() > 0.6 * 256  # the person fills most of the height
    assert faces.shape == (len(frames), 4) and meta["face_size"] == 32

    sample = FrameDataset(out, "all")[0]
    side_by_side = np.concatenate(
        [tensor_to_image(sample["image"]), tensor_to_image(sample["label"])], axis=1
    )
    cv2.imwrite("/tmp/prepare_sample.png", cv2.cvtColor(side_by_side, cv2.COLOR_RGB2BGR))

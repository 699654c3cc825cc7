"""Reading a dataset folder: DatasetInfo checks, PairDataset / FrameDataset items, workers, bad folders."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from data_footage import make_footage, walking_keypoints
from torch.utils.data import DataLoader

from dancenow.data.crop import ScaledCropper, valid_region
from dancenow.data.dataset import (
    FrameDataset,
    PairDataset,
    image_to_tensor,
    label_from_keypoints,
    load_dataset_info,
    render_label,
    tensor_to_image,
)
from dancenow.data.prepare import prepare_dataset
from dancenow.errors import InputError
from dancenow.pose.limbs import limb_core_map

W, H = 64, 96


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A prepared 20-frame dataset at 64x96: train frames 0..15, val 15..19."""
    folder = tmp_path_factory.mktemp("data")
    video, poses = make_footage(folder, walking_keypoints(20, 320, 240), 320, 240)
    return prepare_dataset(video, folder / "ds", poses=poses, size=(W, H), val_fraction=0.25, progress=False)


@pytest.fixture
def copy(dataset, tmp_path) -> Path:
    """A private copy of the dataset to damage."""
    return Path(shutil.copytree(dataset, tmp_path / "ds"))


def test_info(dataset):
    info = load_dataset_info(dataset)
    assert info.root == dataset
    assert info.size == (W, H) and (info.width, info.height) == (W, H)
    assert info.num_frames == 20 and info.source_size == (320, 240)
    assert info.split_range("train") == (0, 15) and info.split_range("val") == (15, 20)
    assert info.split_range("all") == (0, 20)
    assert info.face_size == 16 and not info.full_frame
    windows = info.windows()
    assert windows.shape == (20, 4) and windows.dtype == np.int64
    assert (windows[:, 2:] - windows[:, :2] == info.window_size).all()
    assert info.scale == pytest.approx(H / info.window_size[1])
    assert info.window_size[0] / info.window_size[1] == pytest.approx(W / H, abs=1 / info.window_size[1])
    assert (
        info.eval_size == (H, H)
        and info.eval_crop[2] - info.eval_crop[0] == info.eval_crop[3] - info.eval_crop[1]
    )
    plate = info.background()
    assert plate.shape == (240, 320, 3) and plate.dtype == np.uint8
    stored = info.background(full_size=False)
    assert stored.shape[2] == 3 and stored.shape[0] <= 240
    with pytest.raises(ValueError, match="split"):
        info.split_range("test")


def test_pairs(dataset):
    frames = np.load(dataset / "frames.npy")
    keypoints = np.load(dataset / "keypoints.npy")
    faces = np.load(dataset / "faces.npy")
    train, val = PairDataset(dataset), PairDataset(dataset, "val")
    assert len(train) == 14 and len(val) == 4 and len(PairDataset(dataset, "all")) == 19
    item = train[0]
    pairs = ("label", "image", "plate", "valid", "mask", "mask_weight", "limbs")
    assert set(item) == {f"{k}_prev" for k in pairs} | set(pairs) | {"face_box", "index"}
    for key in ("label_prev", "label", "image_prev", "image", "plate_prev", "plate"):
        assert item[key].shape == (3, H, W) and item[key].dtype == torch.float32
        assert item[key].min() >= -1 and item[key].max() <= 1
    for key in ("valid_prev", "valid", "mask_prev", "mask", "limbs_prev", "limbs"):
        assert item[key].shape == (1, H, W) and item[key].dtype == torch.float32
        assert item[key].min() >= 0 and item[key].max() <= 1
    for key, t in (("limbs_prev", 0), ("limbs", 1)):  # the limb cores of each frame's own pose
        assert torch.equal(item[key][0], torch.from_numpy(limb_core_map(keypoints[t], H, W)))
    # Each frame's plate and valid map follow its own window.
    info, windows = load_dataset_info(dataset), np.load(dataset / "windows.npy")
    cropper = ScaledCropper(info.background(full_size=False), (320, 240), info.window_size, (W, H))
    for key, t in (("prev", 0), ("", 1)):
        suffix = f"_{key}" if key else ""
        np.testing.assert_array_equal(tensor_to_image(item["plate" + suffix]), cropper(windows[t]))
        valid = valid_region(windows[t], (320, 240), (W, H))
        assert torch.equal(item["valid" + suffix][0], torch.from_numpy(valid).float())
        np.testing.assert_array_equal(
            (item["mask" + suffix][0].numpy() * 255).round(), np.load(dataset / "masks.npy")[t]
        )
        assert item["mask_weight" + suffix].shape == () and item["mask_weight" + suffix].item() in (0.0, 1.0)
    assert not torch.equal(item["plate_prev"], item["plate"])  # the window moved with the person
    assert item["index"].dtype == torch.int64 and item["index"].item() == 1
    assert item["face_box"].dtype == torch.int64 and item["face_box"].tolist() == faces[1].tolist()
    np.testing.assert_array_equal(tensor_to_image(item["image"]), frames[1])
    np.testing.assert_array_equal(tensor_to_image(item["image_prev"]), frames[0])
    assert torch.equal(item["label"], label_from_keypoints(keypoints[1], H, W))
    assert torch.equal(item["label_prev"], label_from_keypoints(keypoints[0], H, W))
    # Consecutive pairs share a frame; val pairs never reach back into train.
    assert torch.equal(train[1]["label_prev"], item["label"])
    assert val[0]["index"].item() == 16 and val[len(val) - 1]["index"].item() == 19
    assert train[-1]["index"].item() == 14
    with pytest.raises(IndexError):
        train[14]


def test_frames(dataset):
    val = FrameDataset(dataset, "val")
    assert len(val) == 5 and len(FrameDataset(dataset)) == 15
    item = val[0]
    assert set(item) == {"label", "image", "plate", "valid", "face_box", "index"}
    assert item["index"].item() == 15 and item["image"].shape == item["plate"].shape == (3, H, W)
    assert item["valid"].shape == (1, H, W)
    assert torch.equal(item["plate"], PairDataset(dataset, "all")[14]["plate"])  # frame 15 both


def test_mask_weight_drops_a_mask_that_lost_the_person(copy):
    """A frame whose pose shows a person but whose mask is empty must not teach alpha = 0."""
    masks = np.load(copy / "masks.npy")
    masks[:] = 0
    masks[:, 20:80, 20:44] = 255  # a person-sized mask in every frame...
    masks[5] = 0  # ...but none here
    masks[7] = 0
    masks[7, :2, :2] = 255  # a speck is as good as nothing
    np.save(copy / "masks.npy", masks)
    data = PairDataset(copy, "all")
    weights = {int(data[i]["index"]): float(data[i]["mask_weight"]) for i in range(len(data))}
    assert weights[5] == weights[7] == 0.0
    assert data[5]["mask_weight_prev"].item() == 0.0  # frame 5 again, as the previous one of 6
    assert all(w == 1.0 for t, w in weights.items() if t not in (5, 7))
    # Nobody in the pose either: an empty mask is right, and it teaches alpha = 0.
    keypoints = np.load(copy / "keypoints.npy")
    keypoints[5] = 0
    np.save(copy / "keypoints.npy", keypoints)
    assert PairDataset(copy, "all")[4]["mask_weight"].item() == 1.0


def test_labels():
    kp = walking_keypoints(1, W, H)[0]
    label = label_from_keypoints(kp, H, W)
    assert label.shape == (3, H, W) and label.dtype == torch.float32
    assert label[:, 0, 0].tolist() == [-1.0, -1.0, -1.0]  # black background
    assert (label > -1).any()
    # Thicker lines cover more pixels; the same keypoints always give the same label.
    thick = render_label(kp, H, W, line_scale=2.0)
    assert (thick.max(axis=2) > 0).sum() > (render_label(kp, H, W).max(axis=2) > 0).sum()
    assert torch.equal(label_from_keypoints(kp, H, W), label)
    assert torch.equal(image_to_tensor(tensor_to_image(label)), label)
    with pytest.raises(ValueError, match="line_scale"):
        render_label(kp, H, W, line_scale=0)


def test_label_cache_is_bounded_and_optional(dataset):
    cached = PairDataset(dataset, label_cache_mb=3 * W * H * 3 / 2**20)  # room for 3 labels
    for i in range(len(cached)):
        cached[i]
    assert len(cached._labels.items) == 3
    uncached = PairDataset(dataset, label_cache_mb=0)
    assert torch.equal(uncached[5]["label"], cached[5]["label"])
    assert len(uncached._labels.items) == 0


def test_dataloader_workers_and_pickling(dataset):
    ds = PairDataset(dataset, line_scale=1.5)
    ds[0]  # opens the map and fills the cache in this process
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._frames is None and not clone._labels.items
    assert torch.equal(clone[3]["image"], ds[3]["image"])
    loader = DataLoader(
        ds, batch_size=4, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0)
    )
    seen = []
    for batch in loader:
        assert batch["label"].shape[1:] == (3, H, W)
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(1, 15))


def _damage_json(root: Path, **changes) -> None:
    path = root / "dataset.json"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda r: shutil.rmtree(r), "no such dataset folder"),
        (lambda r: [p.unlink() for p in r.iterdir()], "empty folder"),
        (lambda r: (r / "dataset.json").unlink(), "no dataset.json"),
        (lambda r: (r / "dataset.json").write_text("{ not json"), "not valid JSON"),
        (lambda r: (r / "dataset.json").write_text("[]"), "not a JSON object"),
        (lambda r: _damage_json(r, version=7), "version 7"),
        (lambda r: _damage_json(r, size=None), "'size'"),
        (lambda r: _damage_json(r, size=[64, 100]), "multiples of 32"),
        (lambda r: _damage_json(r, window_size=[10, 1]), "'window_size'"),
        (lambda r: _damage_json(r, window_size=None), "'window_size'"),
        (lambda r: _damage_json(r, eval_crop=[10, 10, 5, 50]), "'eval_crop'"),
        (lambda r: _damage_json(r, eval_size=[96]), "'eval_size'"),
        (lambda r: (r / "windows.npy").unlink(), "windows.npy: missing"),
        (lambda r: np.save(r / "windows.npy", np.zeros((20, 4), np.float32)), "windows.npy"),
        (lambda r: np.save(r / "eval_frames.npy", np.zeros((4, 96, 96, 3), np.uint8)), "eval_frames.npy"),
        (lambda r: (r / "baseline_frames.npy").unlink(), "baseline_frames.npy: missing"),
        (lambda r: _damage_json(r, fps="fast"), "'fps'"),
        (lambda r: _damage_json(r, splits={"train": [0, 30], "val": [30, 30]}), "'train'"),
        (lambda r: _damage_json(r, num_frames=21), "windows.npy"),
        (lambda r: (r / "frames.npy").unlink(), "frames.npy: missing"),
        (lambda r: (r / "keypoints.npy").unlink(), "keypoints.npy: missing"),
        (lambda r: (r / "frames.npy").write_bytes((r / "frames.npy").read_bytes()[:-100]), "truncated"),
        (lambda r: (r / "frames.npy").write_bytes(b"garbage" * 20), "not a readable"),
        (lambda r: np.save(r / "faces.npy", np.zeros((20, 3), np.int32)), "faces.npy"),
    ],
)
def test_bad_dataset_folders(copy, damage, match):
    damage(copy)
    with pytest.raises(InputError, match=match) as err:
        PairDataset(copy)
    assert "dancenow prepare" in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_arguments(dataset):
    with pytest.raises(ValueError, match="split"):
        FrameDataset(dataset, "test")
    with pytest.raises(ValueError, match="line_scale"):
        PairDataset(dataset, line_scale=-1)
    with pytest.raises(InputError, match="is a file"):
        PairDataset(dataset / "dataset.json")

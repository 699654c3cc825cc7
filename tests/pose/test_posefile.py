import numpy as np
import pytest

from dancenow.errors import InputError
from dancenow.pose.posefile import PoseSequence, load_poses, save_poses


def _poses(t=5):
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 500, (t, 137, 3)).astype(np.float32)
    kp[2, 40:60] = 0
    return PoseSequence(kp, fps=29.97, width=640, height=480, detector="test", times=np.arange(t) * 0.0334)


def test_round_trip_is_exact(tmp_path):
    poses = _poses()
    save_poses(tmp_path / "p.npz", poses)
    back = load_poses(tmp_path / "p.npz")
    assert np.array_equal(back.keypoints, poses.keypoints) and back.keypoints.dtype == np.float32
    assert np.array_equal(back.times, poses.times)
    assert (back.fps, back.width, back.height, back.detector) == (29.97, 640, 480, "test")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        assert str(z["layout"]) == "openpose137" and int(z["version"]) == 1


def test_shape_is_checked():
    with pytest.raises(ValueError):
        PoseSequence(np.zeros((3, 25, 3)), fps=30, width=1, height=1)


def test_pickle_bearing_file_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(
        path, keypoints=np.array([{"a": 1}], dtype=object), fps=30.0, width=1, height=1, layout="openpose137"
    )
    with pytest.raises(InputError, match="evil.npz"):
        load_poses(path)


@pytest.mark.parametrize(
    "content,problem",
    [(b"", "not a readable"), (b"hello", "not a readable"), (None, "missing keypoints")],
)
def test_bad_files_raise_input_error(tmp_path, content, problem):
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, fps=30.0, width=1, height=1, layout="openpose137")
    else:
        path.write_bytes(content)
    with pytest.raises(InputError, match=problem):
        load_poses(path)


def test_wrong_layout_and_nan_are_refused(tmp_path):
    kp = np.zeros((2, 137, 3), np.float32)
    np.savez(tmp_path / "a.npz", keypoints=kp, fps=30.0, width=1, height=1, layout="coco17")
    with pytest.raises(InputError, match="layout"):
        load_poses(tmp_path / "a.npz")
    kp[0, 0, 0] = np.nan
    np.savez(tmp_path / "b.npz", keypoints=kp, fps=30.0, width=1, height=1, layout="openpose137")
    with pytest.raises(InputError, match="NaN"):
        load_poses(tmp_path / "b.npz")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such"):
        load_poses(tmp_path / "nope.npz")
    with pytest.raises(InputError, match="not a file"):
        load_poses(tmp_path)


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(RuntimeError):
        save_poses(tmp_path / "p.npz", _poses())
    assert list(tmp_path.iterdir()) == []

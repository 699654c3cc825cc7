"""OpenPose JSON: exact import of real fixtures, exact export round trips, only InputError on bad files."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dancenow.errors import InputError
from dancenow.pose.layout import NUM_KEYPOINTS
from dancenow.pose.openpose_json import (
    COCO18_TO_BODY25,
    list_openpose_files,
    parse_openpose_frame,
    read_openpose_folder,
    write_openpose_folder,
)
from dancenow.pose.posefile import PoseSequence

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared test media not found at {SHARED_DATA}"
)

KEYS = ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")
SLICES = (slice(0, 25), slice(25, 95), slice(95, 116), slice(116, 137))


def expected_person(person: dict) -> np.ndarray:
    """The (137, 3) float32 an exact BODY_25 import must give: float32 of each JSON number."""
    out = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for key, part in zip(KEYS, SLICES, strict=True):
        values = person.get(key) or []
        if values:
            out[part] = np.array([np.float32(v) for v in values], np.float32).reshape(-1, 3)
    out[out[:, 2] == 0] = 0
    return out


def bits(a: np.ndarray) -> np.ndarray:
    """Bit patterns, so that -0.0 != 0.0 and the comparison is truly bit for bit."""
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def frame_dict(*people: np.ndarray) -> dict:
    return {
        "version": 1.3,
        "people": [
            {key: [float(v) for v in p[part].ravel()] for key, part in zip(KEYS, SLICES, strict=True)}
            for p in people
        ],
    }


# --- real fixtures ---------------------------------------------------------------------------


@needs_shared_data
def test_openpose_frames_fixture_exact():
    folder = SHARED_DATA / "images" / "openpose_frames"
    files = list_openpose_files(folder)
    assert [f.name for f in files] == [f"frame0001{i:02d}.json" for i in range(5)]  # the .jpg are ignored
    poses = read_openpose_folder(folder, width=1920, height=1080, fps=30.0)
    assert poses.keypoints.shape == (5, NUM_KEYPOINTS, 3) and poses.keypoints.dtype == np.float32
    assert poses.detector == "openpose-json" and (poses.width, poses.height) == (1920, 1080)
    for t, f in enumerate(files):
        data = json.loads(f.read_text())
        assert len(data["people"]) == 1
        person = data["people"][0]
        assert [len(person[k]) for k in KEYS] == [75, 210, 63, 63]
        np.testing.assert_array_equal(bits(poses.keypoints[t]), bits(expected_person(person)))
    # Face and hands really are there, not just the body.
    assert (poses.keypoints[:, 25:, 2] > 0).sum() > 100


@needs_shared_data
def test_openpose_single_fixture(tmp_path):
    src = SHARED_DATA / "images" / "openpose_single" / "im1010_openpose.json"
    shutil.copy(src, tmp_path / src.name)
    poses = read_openpose_folder(tmp_path, width=640, height=480, fps=25.0)
    assert len(poses) == 1
    person = json.loads(src.read_text())["people"][0]
    np.testing.assert_array_equal(bits(poses.keypoints[0]), bits(expected_person(person)))
    assert (poses.keypoints[0, :25, 2] > 0).sum() >= 10


@needs_shared_data
def test_treadmill_keeps_the_runner_not_the_operator():
    folder = SHARED_DATA / "poses" / "treadmill_cam01_openpose"
    files = list_openpose_files(folder)
    assert len(files) == 100
    assert [f.name for f in files][:3] == ["cam01.0000.json", "cam01.0001.json", "cam01.0002.json"]
    poses = read_openpose_folder(folder, width=1080, height=1920, fps=60.0)
    kp = poses.keypoints
    multi = 0
    for t, f in enumerate(files):
        people = [expected_person(p) for p in json.loads(f.read_text())["people"]]
        multi += len(people) > 1
        # The imported row is exactly one of the JSON people...
        matches = [i for i, p in enumerate(people) if np.array_equal(bits(p), bits(kp[t]))]
        assert len(matches) == 1, f"frame {t}: imported pose is not one of the file's people"
        # ...and never the operator standing at the left edge (all joints at x < 120 px).
        body = kp[t, :25][kp[t, :25, 2] > 0]
        assert np.median(body[:, 0]) > 200, f"frame {t}: picked the operator"
    assert multi >= 90  # the operator is visible in (nearly) every frame
    # One person throughout: consecutive frames move a few pixels (median over shared joints).
    for t in range(1, len(kp)):
        shared = (kp[t, :25, 2] > 0) & (kp[t - 1, :25, 2] > 0)
        step = np.hypot(*(kp[t, :25][shared, :2] - kp[t - 1, :25][shared, :2]).T)
        assert np.median(step) < 40, f"jump of {np.median(step):.0f} px at frame {t}"


# --- export / import round trip -----------------------------------------------------------------


def random_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 137, 3) float32 of arbitrary finite bit patterns, with missing points and empty frames."""
    raw = rng.integers(0, 2**32, size=(n, NUM_KEYPOINTS, 3), dtype=np.uint64).astype(np.uint32)
    kp = raw.view(np.float32).copy()
    bad = ~np.isfinite(kp)
    kp[bad] = rng.normal(0, 1000, bad.sum()).astype(np.float32)
    kp[..., 2] = np.abs(kp[..., 2])
    missing = (rng.random((n, NUM_KEYPOINTS)) < 0.3) | (kp[..., 2] == 0)
    kp[missing] = 0.0
    kp[0, 5, :2] = (-0.0, 1e-45)  # negative zero and the smallest subnormal on a valid point
    kp[0, 5, 2] = 0.5
    kp[1] = 0.0  # a frame with nobody
    return kp


def test_round_trip_exact(tmp_path):
    rng = np.random.default_rng(1)
    kp = random_poses(rng, 6)
    # Plus plausible pixel values with float32 noise in the last bits.
    kp[2, :, :2] = rng.uniform(0, 1920, (NUM_KEYPOINTS, 2)).astype(np.float32)
    kp[2, :, 2] = rng.uniform(0.01, 1, NUM_KEYPOINTS).astype(np.float32)
    times = np.array([0.0, 0.04, 0.08, 0.13, 0.16, 0.2])
    poses = PoseSequence(keypoints=kp, fps=25.0, width=1920, height=1080, times=times)
    write_openpose_folder(poses, tmp_path / "out")
    files = list_openpose_files(tmp_path / "out")
    assert [f.name for f in files] == [f"frame{i:012d}_keypoints.json" for i in range(6)]
    data = json.loads(files[0].read_text())
    assert data["version"] == 1.3 and len(data["people"]) == 1
    assert [len(data["people"][0][k]) for k in KEYS] == [75, 210, 63, 63]
    assert json.loads(files[1].read_text())["people"] == []
    back = read_openpose_folder(tmp_path / "out", width=1920, height=1080, fps=25.0, times=times)
    np.testing.assert_array_equal(bits(back.keypoints), bits(kp))
    np.testing.assert_array_equal(back.times, times)


def test_round_trip_many_random_values(tmp_path):
    """Shortest decimals survive float64 parsing for many arbitrary float32 bit patterns."""
    kp = random_poses(np.random.default_rng(2), 40)
    poses = PoseSequence(keypoints=kp, fps=30.0, width=64, height=64)
    write_openpose_folder(poses, tmp_path, prefix="clip_")
    back = read_openpose_folder(tmp_path, width=64, height=64, fps=30.0)
    np.testing.assert_array_equal(bits(back.keypoints), bits(kp))


def test_export_is_compact(tmp_path):
    kp = np.zeros((1, NUM_KEYPOINTS, 3), np.float32)
    kp[0, 0] = (0.1, 1080.5, 0.9)
    write_openpose_folder(PoseSequence(keypoints=kp, fps=30.0, width=1920, height=1080), tmp_path)
    text = (tmp_path / "frame000000000000_keypoints.json").read_text()
    assert '"pose_keypoints_2d":[0.1,1080.5,0.9,0.0,' in text


def test_rewrite_removes_stale_frames(tmp_path):
    kp = np.zeros((5, NUM_KEYPOINTS, 3), np.float32)
    kp[:, 0] = (10, 20, 0.5)
    write_openpose_folder(PoseSequence(keypoints=kp, fps=30.0, width=64, height=64), tmp_path)
    (tmp_path / "notes.txt").write_text("keep me")
    write_openpose_folder(PoseSequence(keypoints=kp[:3], fps=30.0, width=64, height=64), tmp_path)
    assert len(read_openpose_folder(tmp_path, width=64, height=64, fps=30.0)) == 3
    assert (tmp_path / "notes.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_export_rejects_non_finite(tmp_path):
    kp = np.zeros((1, NUM_KEYPOINTS, 3), np.float32)
    kp[0, 0] = (np.nan, 1, 1)
    with pytest.raises(ValueError, match="NaN"):
        write_openpose_folder(PoseSequence(keypoints=kp, fps=30.0, width=64, height=64), tmp_path)


# --- parsing details -------------------------------------------------------------------------


def test_natural_order_and_keypoints_preferred(tmp_path):
    one = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for i in (10, 2, 1):
        one[0] = (i, i, 1.0)
        write_json(tmp_path / f"frame{i}_keypoints.json", frame_dict(one))
    write_json(tmp_path / "calibration.json", {"fx": 1000})  # not a frame: ignored
    write_json(tmp_path / "._frame3_keypoints.json", {})  # macOS resource fork: ignored
    assert [f.name for f in list_openpose_files(tmp_path)] == [
        "frame1_keypoints.json",
        "frame2_keypoints.json",
        "frame10_keypoints.json",
    ]
    poses = read_openpose_folder(tmp_path, width=64, height=64, fps=30.0)
    assert poses.keypoints[:, 0, 0].tolist() == [1, 2, 10]


def test_missing_parts_and_zero_confidence():
    body = [float(v) for v in np.arange(75)]
    body[2] = 0  # nose confidence 0: x, y must become 0
    frame = {"people": [{"pose_keypoints_2d": body, "face_keypoints_2d": [], "hand_left_keypoints_2d": None}]}
    (pose,) = parse_openpose_frame(frame)
    assert pose.shape == (NUM_KEYPOINTS, 3) and pose.dtype == np.float32
    assert pose[0].tolist() == [0, 0, 0]
    assert pose[1].tolist() == [3, 4, 5]
    assert not pose[25:].any()
    assert parse_openpose_frame({"version": 1.3, "people": []}) == []
    (nobody,) = parse_openpose_frame({"people": [{}]})
    assert not nobody.any()


def test_coco18_body_is_mapped():
    rng = np.random.default_rng(3)
    coco = np.column_stack([rng.uniform(0, 500, (18, 2)), rng.uniform(0.2, 1, 18)]).astype(np.float32)
    (pose,) = parse_openpose_frame({"people": [{"pose_keypoints_2d": [float(v) for v in coco.ravel()]}]})
    np.testing.assert_array_equal(pose[list(COCO18_TO_BODY25)], coco)
    # Mid-hip = mean of the hips (COCO 8 = right hip, 11 = left hip) at their lower confidence.
    np.testing.assert_allclose(pose[8, :2], (coco[8, :2] + coco[11, :2]) / 2, rtol=1e-6)
    assert pose[8, 2] == min(coco[8, 2], coco[11, 2])
    assert not pose[19:25].any()  # COCO-18 has no feet
    # A missing neck is derived from the shoulders (COCO 2 = right, 5 = left).
    coco[1] = 0
    (pose,) = parse_openpose_frame({"people": [{"pose_keypoints_2d": [float(v) for v in coco.ravel()]}]})
    np.testing.assert_allclose(pose[1, :2], (coco[2, :2] + coco[5, :2]) / 2, rtol=1e-6)
    assert pose[1, 2] == min(coco[2, 2], coco[5, 2])


def test_several_people_are_tracked(tmp_path):
    base = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    base[:25, 2] = 0.9
    base[:25, 1] = np.linspace(100, 500, 25)
    for t in range(6):
        big = base.copy()
        big[:25, 0] = 300 + 10 * t
        small = base.copy()
        small[:25, :2] = small[:25, :2] * 0.5 + (30, 10)
        people = [] if t == 3 else ([small, big] if t % 2 else [big, small])
        write_json(tmp_path / f"f{t}_keypoints.json", frame_dict(*people))
    kp = read_openpose_folder(tmp_path, width=640, height=640, fps=30.0).keypoints
    assert not kp[3].any()
    for t in (0, 1, 2, 4, 5):
        assert kp[t, 0, 0] == 300 + 10 * t


# --- bad input: only InputError, naming the file -----------------------------------------------

_VALID = frame_dict(np.ones((NUM_KEYPOINTS, 3), np.float32))


def _bad_frames() -> list[tuple[str, bytes]]:
    body = _VALID["people"][0]["pose_keypoints_2d"]

    def with_body(values) -> bytes:
        d = copy.deepcopy(_VALID)
        d["people"][0]["pose_keypoints_2d"] = values
        return json.dumps(d).encode()

    return [
        ("empty file", b""),
        ("not json", b"hello"),
        ("truncated", json.dumps(_VALID).encode()[:100]),
        ("not utf-8", b"\xff\xfe\x00{"),
        ("list root", b"[]"),
        ("null root", b"null"),
        ("no people", b'{"version": 1.3}'),
        ("people not a list", b'{"people": {"a": 1}}'),
        ("person not a dict", b'{"people": [[1, 2, 3]]}'),
        ("wrong length", with_body(body[:-1])),
        ("string value", with_body(["1"] + body[1:])),
        ("bool value", with_body([True] + body[1:])),
        ("nested list", with_body([[1.0]] + body[1:])),
        ("array is a dict", with_body({"x": 1})),
        ("NaN token", with_body(body).replace(b"1.0", b"NaN", 1)),
        ("Infinity token", with_body(body).replace(b"1.0", b"-Infinity", 1)),
        ("float overflow", with_body(body).replace(b"1.0", b"1e400", 1)),
        ("float32 overflow", with_body([1e39] + body[1:])),
        ("huge int", with_body([10**400] + body[1:])),
        ("negative confidence", with_body(body[:2] + [-0.5] + body[3:])),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
        ("face wrong length", json.dumps({"people": [{"face_keypoints_2d": [1.0] * 75}]}).encode()),
    ]


@pytest.mark.parametrize("content", [c for _, c in _bad_frames()], ids=[n for n, _ in _bad_frames()])
def test_bad_file_raises_input_error(tmp_path, content):
    write_json(tmp_path / "a_keypoints.json", _VALID)
    bad = tmp_path / "b_keypoints.json"
    bad.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_openpose_folder(tmp_path, width=64, height=64, fps=30.0)
    assert err.value.path == bad
    assert "\n" not in str(err.value)


def test_bad_folders(tmp_path):
    for folder in (tmp_path / "missing", tmp_path):
        with pytest.raises(InputError) as err:
            read_openpose_folder(folder, width=64, height=64, fps=30.0)
        assert err.value.path == folder
    (tmp_path / "frame.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(InputError, match="no OpenPose JSON"):
        list_openpose_files(tmp_path)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(InputError) as err:
        read_openpose_folder(tmp_path, width=64, height=64, fps=30.0)
    assert err.value.path == tmp_path / "dir.json"


# --- fuzz ----------------------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
)
jsonish = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)
_person_like = st.dictionaries(st.sampled_from((*KEYS, "person_id")), jsonish | st.lists(_json_scalars))
frames_like = (
    jsonish
    | st.fixed_dictionaries({"people": jsonish})
    | st.fixed_dictionaries({"version": jsonish, "people": st.lists(_person_like, max_size=3)})
)
_fuzz = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_only_input_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x_keypoints.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            poses = read_openpose_folder(d, width=64, height=64, fps=30.0)
        except InputError as e:
            assert e.path == path
        else:
            assert poses.keypoints.shape == (1, NUM_KEYPOINTS, 3)
            assert np.isfinite(poses.keypoints).all()


@_fuzz
@given(frames_like)
def test_fuzz_arbitrary_json(obj):
    _read_only_input_errors(json.dumps(obj))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


_VALID_TWO = frame_dict(
    np.full((NUM_KEYPOINTS, 3), 0.5, np.float32), np.full((NUM_KEYPOINTS, 3), 2.0, np.float32)
)
_VALID_PATHS = [p for p in _paths(_VALID_TWO) if p]


@_fuzz
@given(
    path=st.sampled_from(_VALID_PATHS),
    op=st.sampled_from(["replace", "delete", "append", "truncate_text"]),
    value=jsonish,
    cut=st.integers(0, 20_000),
)
def test_fuzz_mutated_valid_frames(path, op, value, cut):
    obj = copy.deepcopy(_VALID_TWO)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif op == "append" and isinstance(parent[last], list):
        parent[last].append(value)
    text = json.dumps(obj)
    if op == "truncate_text":
        text = text[: cut % (len(text) + 1)]
    _read_only_input_errors(text)

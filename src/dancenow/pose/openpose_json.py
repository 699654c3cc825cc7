"""OpenPose JSON: import a folder of per-frame files, export poses in the same format.

OpenPose (``--write_json``) writes one file per frame, ``<name>_keypoints.json``::

    {"version": 1.3,
     "people": [{"person_id": [-1],
                 "pose_keypoints_2d":       [x, y, c] * 25,   # BODY_25 (or [x, y, c] * 18 for COCO-18)
                 "face_keypoints_2d":       [x, y, c] * 70,   # optional: [] when face detection is off
                 "hand_left_keypoints_2d":  [x, y, c] * 21,   # optional
                 "hand_right_keypoints_2d": [x, y, c] * 21,   # optional
                 "pose_keypoints_3d": [], ...}]}

which maps one-to-one onto the ``openpose137`` layout (body 0:25, face 25:95, left hand
95:116, right hand 116:137). Import is exact: every stored float32 equals the float32 of
the JSON number. Export writes each float32 as the shortest decimal that reads back to
the same float32, so ``read(write(poses))`` reproduces the keypoints bit for bit.

Every problem with a file raises :class:`~dancenow.errors.InputError` naming that file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dancenow.errors import InputError
from dancenow.pose import tracking
from dancenow.pose.layout import BODY, FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND
from dancenow.pose.posefile import PoseSequence
from dancenow.utils.atomic import atomic_path

DETECTOR = "openpose-json"
FORMAT_VERSION = 1.3

# OpenPose's COCO-18 body order -> BODY_25 index. COCO-18 has no mid-hip and no feet;
# mid-hip (8) is derived from the hips, feet (19:25) stay missing.
COCO18_TO_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)

# JSON key -> (slice of the 137 keypoints, accepted point counts).
_PARTS: dict[str, tuple[slice, tuple[int, ...]]] = {
    "pose_keypoints_2d": (BODY, (25, 18)),
    "face_keypoints_2d": (FACE, (70,)),
    "hand_left_keypoints_2d": (LEFT_HAND, (21,)),
    "hand_right_keypoints_2d": (RIGHT_HAND, (21,)),
}


def _natural_key(name: str) -> tuple:
    # "frame2" < "frame10": digit runs compare as numbers. re.split with a capture group
    # alternates text, digits, text, ..., so the tuple elements line up type by type.
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def list_openpose_files(folder: str | Path) -> list[Path]:
    """The frame files of an OpenPose JSON folder, in natural order (``frame2`` before ``frame10``).

    ``*_keypoints.json`` when the folder has any (OpenPose's own naming, so stray JSON
    such as a camera calibration is ignored), else every ``*.json``. Hidden files
    (``.name``, e.g. macOS ``._frame.json`` resource forks or half-written temporaries)
    are skipped. Raises :class:`InputError` when the folder is missing or has no JSON.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder" if not folder.exists() else "is not a folder")
    try:
        names = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError as e:
        raise InputError(folder, f"cannot list folder ({e.strerror or e})") from None
    chosen = [n for n in names if n.endswith("_keypoints.json")]
    if not chosen:
        chosen = [n for n in names if n.lower().endswith(".json")]
    if not chosen:
        raise InputError(folder, "no OpenPose JSON files (*_keypoints.json or *.json) in this folder")
    return [folder / n for n in sorted(chosen, key=_natural_key)]


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


def _json_type(value: object) -> str:
    """How a decoded JSON value is called in a message: "a string", "null", ..."""
    return _JSON_TYPES.get(type(value), "a number")


def _reject_constant(name: str):
    # json accepts NaN / Infinity / -Infinity by default; they are not JSON and not keypoints.
    raise ValueError(f"{name} is not a valid JSON number")


def _load_json(path: Path) -> object:
    try:
        text = path.read_bytes()
    except OSError as e:
        raise InputError(path, f"cannot read file ({e.strerror or e})") from None
    if not text.strip():
        raise InputError(path, "empty file (expected OpenPose JSON)")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise InputError(path, "invalid JSON (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, our NaN/Infinity rejection
        problem = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise InputError(path, f"invalid JSON ({problem})") from None


def _part_points(values: object, key: str, counts: tuple[int, ...], where: str, source) -> np.ndarray | None:
    """``(N, 3)`` float32 from a flat ``[x, y, c] * N`` list; ``None`` for a missing/empty part."""
    if values is None:
        return None
    if not isinstance(values, list):
        raise InputError(source, f"{where}: {key} must be a list of numbers, got {_json_type(values)}")
    if len(values) == 0:
        return None
    if len(values) not in [3 * n for n in counts]:
        expected = " or ".join(str(3 * n) for n in counts)
        raise InputError(source, f"{where}: {key} has {len(values)} numbers, expected {expected} (or none)")
    for v in values:
        # type() rather than isinstance: JSON true/false load as bool, a subclass of int.
        if type(v) is not float and type(v) is not int:
            raise InputError(source, f"{where}: {key} contains {_json_type(v)}, not a number")
    try:
        as64 = np.array([float(v) for v in values], np.float64)
    except OverflowError:  # an integer too large for a double
        raise InputError(source, f"{where}: {key} contains a number out of range") from None
    with np.errstate(over="ignore"):
        pts = as64.astype(np.float32).reshape(-1, 3)
    if not np.isfinite(pts).all():
        raise InputError(source, f"{where}: {key} contains a number out of float32 range")
    if (pts[:, 2] < 0).any():
        raise InputError(source, f"{where}: {key} has a negative confidence")
    return pts


def _coco18_to_body25(pts: np.ndarray) -> np.ndarray:
    """``(18, 3)`` OpenPose COCO-18 -> ``(25, 3)`` BODY_25; mid-hip derived, feet missing."""
    body = np.zeros((25, 3), np.float32)
    body[list(COCO18_TO_BODY25)] = pts
    # COCO-18 detects its own neck; derive it from the shoulders only when it is missing.
    for child, (a, b) in ((1, (2, 5)), (8, (9, 12))):
        if body[child, 2] == 0 and body[a, 2] > 0 and body[b, 2] > 0:
            xy = (body[a, :2].astype(np.float64) + body[b, :2].astype(np.float64)) / 2
            body[child, :2] = xy.astype(np.float32)
            # A derived point carries the weaker parent's confidence (DESIGN.md).
            body[child, 2] = min(body[a, 2], body[b, 2])
    return body


def parse_openpose_frame(data: dict, *, source: Path | None = None) -> list[np.ndarray]:
    """The people of one parsed OpenPose JSON frame, one ``(137, 3)`` float32 array each.

    ``data`` is the file's decoded JSON. Missing or empty arrays leave those points
    missing (x = y = confidence = 0), as does a confidence of 0. Raises
    :class:`InputError` (naming ``source``) when the structure is not OpenPose's.
    """
    if not isinstance(data, dict):
        raise InputError(source, f"not an OpenPose frame (top level is {_json_type(data)})")
    if "people" not in data:
        raise InputError(source, "not an OpenPose frame (no 'people' list)")
    people = data["people"]
    if not isinstance(people, list):
        raise InputError(source, f"'people' must be a list, got {_json_type(people)}")
    out = []
    for i, person in enumerate(people):
        where = f"people[{i}]"
        if not isinstance(person, dict):
            raise InputError(source, f"{where} must be an object, got {_json_type(person)}")
        pose = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        for key, (part, counts) in _PARTS.items():
            pts = _part_points(person.get(key), key, counts, where, source)
            if pts is None:
                continue
            if part == BODY and len(pts) == 18:
                pts = _coco18_to_body25(pts)
            pose[part] = pts
        # Missing means x = y = 0 in openpose137; some writers leave coordinates behind
        # (and -0.0 confidences), which would otherwise leak into rendering and statistics.
        pose[pose[:, 2] == 0] = 0.0
        out.append(pose)
    return out


def read_openpose_folder(
    folder: str | Path,
    *,
    width: int,
    height: int,
    fps: float,
    times: Sequence[float] | np.ndarray | None = None,
) -> PoseSequence:
    """Read a folder of OpenPose JSON frames (see :func:`list_openpose_files`) as a :class:`PoseSequence`.

    One frame per file in natural order; ``width``/``height`` are the video's frame size
    (OpenPose coordinates are pixels of it) and ``fps`` its frame rate, ``times`` optional
    ``(T,)`` timestamps in seconds. Frames with several people keep the one that
    :func:`dancenow.pose.tracking.choose_person` picks given the previous choice; frames
    with nobody are all-missing rows. Keypoints ``(T, 137, 3)`` float32, detector
    ``"openpose-json"``. Any problem with a file raises :class:`InputError` naming it.
    """
    if width <= 0 or height <= 0 or not fps > 0:
        raise ValueError(f"width, height and fps must be positive, got {width}, {height}, {fps}")
    frames = []
    for path in list_openpose_files(folder):
        frames.append(parse_openpose_frame(_load_json(path), source=path))
    return PoseSequence(
        keypoints=tracking.track(frames),
        fps=float(fps),
        width=int(width),
        height=int(height),
        detector=DETECTOR,
        times=None if times is None else np.asarray(times, np.float64),
    )


def _format_values(values: np.ndarray) -> str:
    """Comma-separated shortest decimals of a float32 array that read back (via float64) exactly."""
    values = np.asarray(values, np.float32).ravel()
    texts = [np.format_float_positional(v, unique=True, trim="0") for v in values]
    # The shortest float32 decimal is exact when parsed straight to float32, but JSON
    # readers go through float64 first; in rare cases that double rounding lands on the
    # neighbouring float32. Those few values get the exact float64 spelling instead.
    back = np.array([float(t) for t in texts], np.float64).astype(np.float32)
    for i in np.flatnonzero(back.view(np.uint32) != values.view(np.uint32)):
        texts[i] = repr(float(values[i]))
    return ",".join(texts)


def _frame_json(pose: np.ndarray) -> str:
    """OpenPose 1.3 JSON text for one ``(137, 3)`` frame; an all-missing frame has no people."""
    if not (pose[:, 2] > 0).any():
        people = ""
    else:
        arrays = [f'"{key}":[{_format_values(pose[part])}]' for key, (part, _) in _PARTS.items()]
        empty3d = ",".join(f'"{k}_keypoints_3d":[]' for k in ("pose", "face", "hand_left", "hand_right"))
        people = '{"person_id":[-1],' + ",".join(arrays) + "," + empty3d + "}"
    return f'{{"version":{FORMAT_VERSION},"people":[{people}]}}\n'


def write_openpose_folder(poses: PoseSequence, folder: str | Path, *, prefix: str = "frame") -> None:
    """Write ``poses`` as OpenPose 1.3 JSON, one ``{prefix}{i:012d}_keypoints.json`` per frame.

    The folder is created if needed; each file is written atomically. Frames with no
    detected point are written with an empty ``people`` list, as OpenPose does. Older
    ``{prefix}<12 digits>_keypoints.json`` files beyond the new frame count are removed,
    so reading the folder back gives exactly ``poses.keypoints``.
    """
    if not prefix or "/" in prefix or "\\" in prefix or prefix.startswith("."):
        raise ValueError(f"prefix must be a plain, non-hidden file-name start, got {prefix!r}")
    kp = np.asarray(poses.keypoints, np.float32)
    if not np.isfinite(kp).all():
        raise ValueError("keypoints contain NaN or Inf, which JSON cannot hold")
    if (kp[..., 2] < 0).any():
        raise ValueError("keypoints contain negative confidences")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = set()
    for i, pose in enumerate(kp):
        name = f"{prefix}{i:012d}_keypoints.json"
        names.add(name)
        with atomic_path(folder / name) as tmp:
            tmp.write_text(_frame_json(pose), encoding="utf-8")
    stale = re.compile(re.escape(prefix) + r"\d{12}_keypoints\.json")
    for old in folder.iterdir():
        if old.name not in names and stale.fullmatch(old.name) and old.is_file():
            old.unlink()

"""Reading a dataset folder (written by :func:`~dancenow.data.prepare.prepare_dataset`) for training.

- :func:`load_dataset_info` checks the folder and parses ``dataset.json`` into a :class:`DatasetInfo`.
- :class:`PairDataset` gives consecutive frame pairs ``(t-1, t)`` for temporal-smoothing training.
- :class:`FrameDataset` gives single frames (evaluation, nearest-pose baseline).
- :func:`label_from_keypoints` renders the generator's input; inference uses the same function,
  so training and transfer labels are drawn identically.

Tensors follow one convention: images and labels are ``(3, H, W)`` float32 in ``[-1, 1]``
(RGB; a black label background is -1); person masks and valid maps are ``(1, H, W)`` float32
in ``[0, 1]``. Each frame comes with the background plate cropped by the same window
(``plate``) and its valid map (``valid``: 1 where the crop lies inside the video); pixels with
valid 0 must never reach a loss.
Frames and masks are read from the memory-mapped ``frames.npy`` and ``masks.npy`` (no decoding),
opened lazily in each process so DataLoader workers (fork or spawn) each get their own maps.
Labels are rendered on the fly from ``keypoints.npy``: ~5-7 ms per label on one core at any
size (the renderer's per-limb Python work dominates, not pixels), so each process keeps the most
recently rendered labels in a small LRU cache (``label_cache_mb``): a frame is the ``t`` of one
pair and the ``t-1`` of the next, and a short split fits entirely after one epoch.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from dancenow.data import DATASET_VERSION, SIZE_MULTIPLE, background_size
from dancenow.data.appearance import APPEARANCE_MODES, AppearanceBank, exclusion_frames
from dancenow.data.crop import ScaledCropper, valid_region
from dancenow.errors import InputError
from dancenow.pose.layout import NUM_KEYPOINTS
from dancenow.pose.limbs import limb_core_map
from dancenow.pose.nearest import PoseIndex
from dancenow.pose.render import line_widths, render_pose

__all__ = [
    "SPLITS",
    "DatasetInfo",
    "FrameFacts",
    "background_problem",
    "read_plate",
    "check_frame_facts",
    "FrameDataset",
    "PairDataset",
    "image_to_tensor",
    "label_from_keypoints",
    "load_dataset_info",
    "render_label",
    "tensor_to_image",
]

SPLITS = ("train", "val", "all")
MIN_MASK_FRACTION = 0.002
"""A person mask covering less of its frame than this, on a frame whose pose shows a person, is
taken as the segmenter losing them."""
_AGAIN = "run `dancenow prepare` again"


# --------------------------------------------------------------------------- tensors


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32 in ``[-1, 1]`` (0 -> -1, 255 -> 1)."""
    # np.array copies: memory-mapped frames are read-only, and torch wants writable memory.
    t = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)
    return t.float().div_(127.5).sub_(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in ``[-1, 1]`` -> ``(H, W, 3)`` uint8 RGB (clamped, rounded)."""
    t = ((tensor.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return t.permute(1, 2, 0).contiguous().numpy()


def render_label(keypoints: np.ndarray, height: int, width: int, *, line_scale: float = 1.0) -> np.ndarray:
    """The stick figure of ``(137, 3)`` ``keypoints`` (label-image pixels) as ``(H, W, 3)`` uint8.

    ``line_scale`` multiplies the default line widths (which grow with ``height``).
    """
    if not (line_scale > 0 and math.isfinite(line_scale)):
        raise ValueError(f"line_scale must be a positive number, got {line_scale}")
    line_width = None if line_scale == 1.0 else max(1, round(line_widths(height)[0] * line_scale))
    return render_pose(keypoints, height, width, line_width=line_width)


def label_from_keypoints(
    keypoints: np.ndarray, height: int, width: int, *, line_scale: float = 1.0
) -> torch.Tensor:
    """The generator's label for one pose: ``(3, height, width)`` float32 in ``[-1, 1]``.

    Args:
        keypoints: ``(137, 3)`` (x, y, confidence) in pixels of the label image (confidence 0 = missing).
        height, width: label size.
        line_scale: multiplies the default line widths.
    """
    return image_to_tensor(render_label(keypoints, height, width, line_scale=line_scale))


# --------------------------------------------------------------------------- dataset.json


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset folder's ``dataset.json``, checked. Frame sizes are ``(width, height)``."""

    root: Path  # the dataset folder
    version: int  # format version (DATASET_VERSION)
    source_video: Path  # absolute path of the video the frames came from (may have moved since)
    source_size: tuple[int, int]  # source (W, H) pixels
    fps: float  # source frame rate
    num_frames: int  # T: frames in frames.npy, keypoints.npy, faces.npy
    size: tuple[int, int]  # training (w, h) pixels
    window_size: tuple[int, int]  # (w, h) source pixels of every frame's crop window
    full_frame: bool  # True: the whole frame letterboxed instead of a window following the person
    face_size: int  # side of the square face boxes (training pixels)
    splits: Mapping[str, tuple[int, int]]  # "train"/"val" -> [start, stop) frame indices
    detector: str  # pose detector that made the keypoints
    body_detected_fraction: float  # frames with any body keypoint / T
    eval_crop: tuple[int, int, int, int]  # evaluation's fixed window (source pixels)
    eval_size: tuple[int, int]  # (w, h) of the evaluation crops

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def scale(self) -> float:
        """Training pixels per source pixel (the same along x and y to within half a pixel)."""
        return self.size[1] / self.window_size[1]

    def background(self, full_size: bool = True) -> np.ndarray:
        """The clean background plate ``(H, W, 3)`` uint8 RGB, at the video's size (``full_size``)
        or as stored (:func:`~dancenow.data.background_size`)."""
        return read_plate(self.root / "background.png", self.source_size if full_size else None, _AGAIN)

    def windows(self) -> np.ndarray:
        """``(T, 4)`` int64 crop window of every frame ``(x0, y0, x1, y1)``, source pixels."""
        return np.load(self.root / "windows.npy", allow_pickle=False)

    def split_range(self, split: str) -> tuple[int, int]:
        """``[start, stop)`` frame indices of ``"train"``, ``"val"`` or ``"all"``."""
        if split == "all":
            return 0, self.num_frames
        if split not in self.splits:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.splits[split]


def _fail(path: Path, problem: str) -> InputError:
    return InputError(path, f"{problem}; {_AGAIN}")


def _get(meta: dict, key: str, path: Path, kind, check=None, what: str = ""):
    """``meta[key]`` converted by ``kind``; InputError when missing, mistyped or failing ``check``."""
    if key not in meta:
        raise _fail(path, f"missing field {key!r}")
    value = meta[key]
    ok = True
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif kind is bool or kind is str:
        ok = isinstance(value, kind)
    if not ok or (check is not None and not check(value)):
        raise _fail(path, f"bad field {key!r} = {value!r}" + (f" (expected {what})" if what else ""))
    return value


def _int_list(meta: dict, key: str, path: Path, n: int, check, what: str) -> tuple[int, ...]:
    value = meta.get(key)
    good = (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and check(value)
    )
    if not good:
        raise _fail(path, f"bad field {key!r} = {value!r} (expected {what})")
    return tuple(value)


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` of an .npy file, read without loading it."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if fortran:
            raise ValueError("Fortran-ordered array")
        return shape, dtype, f.tell()


def _check_array(path: Path, shape: tuple[int, ...], dtypes: tuple[type, ...]) -> None:
    """InputError unless ``path`` is a complete .npy of ``shape`` and one of ``dtypes``."""
    if not path.is_file():
        raise _fail(path, "missing")
    try:
        got_shape, dtype, offset = _npy_header(path)
    except (OSError, ValueError) as err:
        raise _fail(path, f"not a readable .npy file ({err})") from None
    if got_shape != shape or not any(dtype == np.dtype(d) for d in dtypes):
        raise _fail(path, f"holds {dtype} {got_shape}, expected {np.dtype(dtypes[0])} {shape}")
    needed = offset + math.prod(shape) * dtype.itemsize
    if path.stat().st_size < needed:
        raise _fail(path, f"truncated ({path.stat().st_size} of {needed} bytes)")


MAX_SIDE = 16384
"""Pixels: larger than any video a phone or camera records."""


@dataclass(frozen=True)
class FrameFacts:
    """How a dataset's frames relate to its source video: in ``dataset.json``, and copied into
    a run folder's ``config.json`` (``data``) for transfer. Sizes are ``(width, height)``."""

    source_size: tuple[int, int]
    size: tuple[int, int]
    window_size: tuple[int, int]  # (w, h) source pixels of a crop window
    face_size: int
    fps: float
    full_frame: bool


def check_frame_facts(meta: dict, prefix: str = "") -> FrameFacts:
    """The frame facts of ``meta`` (``dataset.json`` or a run's ``data``), checked: ValueError
    ``bad field 'PREFIXkey' = value (expected ...)`` on the first bad one.

    Transfer and evaluation build crops, resizes and face boxes from these, so a hand-edited or
    hostile value must fail here, with the file named, rather than deep in OpenCV.
    """

    def bad(key: str, expected: str) -> ValueError:
        return ValueError(f"bad field {prefix + key!r} = {meta.get(key)!r} (expected {expected})")

    for key in ("source_size", "size"):
        value = meta.get(key)
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(_is_int(v) and 1 <= v <= MAX_SIDE for v in value)
        ):
            raise bad(key, f"[width, height] in 1..{MAX_SIDE} pixels")
    if any(v % SIZE_MULTIPLE for v in meta["size"]):
        raise bad("size", f"multiples of {SIZE_MULTIPLE}")
    width, height = meta["size"]
    window = meta.get("window_size")
    if not (
        isinstance(window, list)
        and len(window) == 2
        and all(_is_int(v) and 2 <= v <= 4 * MAX_SIDE for v in window)
    ):
        raise bad("window_size", f"[width, height] in 2..{4 * MAX_SIDE} pixels")
    face_size = meta.get("face_size")
    if not (_is_int(face_size) and 2 <= face_size <= min(width, height)):
        raise bad("face_size", f"an int in 2..{min(width, height)}")
    fps = meta.get("fps")
    if not (_is_number(fps) and 0 < fps <= 1000):
        raise bad("fps", "a frame rate in (0, 1000]")
    if not isinstance(meta.get("full_frame"), bool):
        raise bad("full_frame", "true or false")
    return FrameFacts(
        source_size=tuple(meta["source_size"]),
        size=(width, height),
        window_size=tuple(window),
        face_size=face_size,
        fps=float(fps),
        full_frame=meta["full_frame"],
    )


def read_plate(path: Path, source_size: tuple[int, int] | None, again: str) -> np.ndarray:
    """The background plate PNG ``path`` as ``(H, W, 3)`` uint8 RGB, enlarged to ``source_size``
    ``(W, H)`` when given (it is stored at most :data:`~dancenow.data.BACKGROUND_MAX_SIDE`).
    InputError ``PATH: not a readable image; AGAIN`` when it cannot be decoded."""
    image = cv2.imread(str(path))
    if image is None:
        raise InputError(path, f"not a readable image; {again}")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if source_size is not None and image.shape[:2] != (source_size[1], source_size[0]):
        image = cv2.resize(image, tuple(source_size), interpolation=cv2.INTER_CUBIC)
    return image


def background_problem(path: Path, source_size: tuple[int, int]) -> str | None:
    """What is wrong with the background image ``path`` of a ``source_size`` video, or None.

    Only the PNG header is read: its size must be :func:`~dancenow.data.background_size`, or the
    generated crops would be pasted at the wrong place.
    """
    if not path.is_file():
        return "missing"
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return "not a PNG image"
    got = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
    expected = background_size(source_size)
    if got != expected:
        return (
            f"is {got[0]}x{got[1]}, but a {source_size[0]}x{source_size[1]} video's background "
            f"is {expected[0]}x{expected[1]}"
        )
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_dataset_info(root: str | Path) -> DatasetInfo:
    """Parse and check ``root/dataset.json`` and the arrays next to it.

    Raises:
        InputError: the folder is missing or not a dataset, ``dataset.json`` is unreadable, of
            another format version or has a bad field, ``frames.npy`` / ``masks.npy`` /
            ``keypoints.npy`` / ``faces.npy`` is missing, truncated or of the wrong shape, or
            ``background.png`` / ``background_uncovered.png`` is missing or not of the source
            video's size. The message names the file and ends with what to do.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(root, "no such dataset folder; run `dancenow prepare` to make one")
    if not root.is_dir():
        raise InputError(root, "is a file, not a dataset folder; run `dancenow prepare` to make one")
    path = root / "dataset.json"
    if not path.is_file():
        problem = "empty folder" if not any(root.iterdir()) else "no dataset.json"
        raise _fail(root, f"not a dataset folder ({problem})")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise _fail(path, f"unreadable ({err})") from None
    except json.JSONDecodeError as err:
        raise _fail(path, f"not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(meta, dict):
        raise _fail(path, "not a JSON object")

    version = _get(meta, "version", path, int)
    if version != DATASET_VERSION:
        raise _fail(path, f"dataset format version {version}, this dancenow reads {DATASET_VERSION}")
    try:
        facts = check_frame_facts(meta)
    except ValueError as err:
        raise _fail(path, str(err)) from None
    num_frames = _get(meta, "num_frames", path, int, lambda v: v >= 1, "at least 1")
    splits = meta.get("splits")
    parsed: dict[str, tuple[int, int]] = {}
    if not isinstance(splits, dict) or set(splits) != {"train", "val"}:
        raise _fail(path, f"bad field 'splits' = {splits!r} (expected train and val)")
    for name in ("train", "val"):
        parsed[name] = _int_list(
            splits,
            name,
            path,
            2,
            lambda v: 0 <= v[0] <= v[1] <= num_frames,
            f"[start, stop] within 0..{num_frames}",
        )
    info = DatasetInfo(
        root=root,
        version=version,
        source_video=Path(_get(meta, "source_video", path, str)),
        source_size=facts.source_size,
        fps=facts.fps,
        num_frames=num_frames,
        size=facts.size,
        window_size=facts.window_size,
        full_frame=facts.full_frame,
        face_size=facts.face_size,
        splits=parsed,
        detector=_get(meta, "detector", path, str),
        body_detected_fraction=_get(
            meta, "body_detected_fraction", path, float, lambda v: 0 <= v <= 1, "0..1"
        ),
        eval_crop=_int_list(
            meta, "eval_crop", path, 4, lambda v: v[2] - v[0] >= 2 and v[3] - v[1] >= 2, "[x0, y0, x1, y1]"
        ),
        eval_size=_int_list(
            meta, "eval_size", path, 2, lambda v: all(1 <= x <= MAX_SIDE for x in v), "[w, h]"
        ),
    )
    w, h = facts.size
    ew, eh = info.eval_size
    num_val = parsed["val"][1] - parsed["val"][0]
    _check_array(root / "windows.npy", (num_frames, 4), (np.int64,))
    _check_array(root / "eval_frames.npy", (num_val, eh, ew, 3), (np.uint8,))
    _check_array(root / "baseline_frames.npy", (num_val, eh, ew, 3), (np.uint8,))
    _check_array(root / "frames.npy", (num_frames, h, w, 3), (np.uint8,))
    _check_array(root / "masks.npy", (num_frames, h, w), (np.uint8,))
    _check_array(root / "keypoints.npy", (num_frames, NUM_KEYPOINTS, 3), (np.float32,))
    _check_array(root / "faces.npy", (num_frames, 4), (np.int32, np.int64))
    for name in ("background.png", "background_uncovered.png"):
        problem = background_problem(root / name, facts.source_size)
        if problem:
            raise _fail(root / name, problem)
    return info


# --------------------------------------------------------------------------- datasets


class _LabelCache:
    """Least-recently-used rendered labels, ``(H, W, 3)`` uint8 each, within a byte budget."""

    def __init__(self, budget_bytes: int):
        self.budget = max(0, int(budget_bytes))
        self.items: OrderedDict[int, np.ndarray] = OrderedDict()
        self.bytes = 0

    def get(self, key: int) -> np.ndarray | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: int, value: np.ndarray) -> None:
        if value.nbytes > self.budget or key in self.items:
            return
        self.items[key] = value
        self.bytes += value.nbytes
        while self.bytes > self.budget:
            _, old = self.items.popitem(last=False)
            self.bytes -= old.nbytes

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0


class _SplitData(Dataset):
    """Frames ``[start, stop)`` of one split: lazily memory-mapped images, rendered labels, face boxes."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        line_scale: float = 1.0,
        label_cache_mb: float = 128,
        appearance: str = "none",
        neighbours: int = 1,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not (line_scale > 0 and math.isfinite(line_scale)):
            raise ValueError(f"line_scale must be a positive number, got {line_scale}")
        if appearance not in APPEARANCE_MODES:
            raise ValueError(f"appearance must be one of {APPEARANCE_MODES}, got {appearance!r}")
        if neighbours < 1:
            raise ValueError(f"neighbours must be at least 1, got {neighbours}")
        self.info = load_dataset_info(root)
        self.root = self.info.root
        self.split = split
        self.start, self.stop = self.info.split_range(split)
        self.line_scale = float(line_scale)
        # Small (T x 1.6 KB and T x 16 B): loaded whole; each worker gets a copy.
        self.keypoints = np.load(self.root / "keypoints.npy", allow_pickle=False)  # (T, 137, 3) float32
        self.faces = np.load(self.root / "faces.npy", allow_pickle=False).astype(np.int64)  # (T, 4)
        self.windows = self.info.windows()  # (T, 4) int64
        self._labels = _LabelCache(label_cache_mb * 2**20)
        self._frames: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._plate: ScaledCropper | None = None
        self._frames_pid: int | None = None
        self._index: PoseIndex | None = None
        self.appearance_mode = appearance
        self.neighbours = self._neighbours(neighbours) if appearance != "none" else None

    def _neighbours(self, k: int) -> np.ndarray:
        """``(stop - start, k)`` dataset frame indices of each frame's ``k`` nearest training
        frames by pose (-1: none), never within :func:`~dancenow.data.appearance.exclusion_frames`
        of the frame itself; found once, when the dataset is opened."""
        frames = np.arange(self.start, self.stop)
        pos = self.appearance_bank().retrieve(
            self.keypoints[self.start : self.stop], k, frames=frames, exclude=exclusion_frames(self.info.fps)
        )
        return np.where(pos >= 0, pos + self.info.split_range("train")[0], -1)

    def appearance_bank(self) -> AppearanceBank:
        """The training split's frames, masks and keypoints and the pose index of their bodies
        (its ``frames``: dataset indices, for the exclusion window). Cheap after the first call:
        the frames are memory-mapped views and the index is built once."""
        t0, t1 = self.info.split_range("train")
        if self._index is None:
            self._index = PoseIndex.from_keypoints(self.keypoints[t0:t1], np.arange(t0, t1))
        return AppearanceBank(self.frames[t0:t1], self.masks[t0:t1], self.keypoints[t0:t1], self._index)

    def appearance(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame ``t``'s appearance input: a training frame retrieved by pose (one of its
        ``neighbours`` nearest, drawn at random when there are several), unwarped or warped into
        frame t's pose: ``(3, H, W)`` float32 in ``[-1, 1]`` and its valid map ``(1, H, W)``."""
        choices = self.neighbours[t - self.start]
        choices = choices[choices >= 0]
        j = -1
        if len(choices) == 1:
            j = int(choices[0])
        elif len(choices) > 1:
            j = int(choices[int(torch.randint(len(choices), ()))])
        t0 = self.info.split_range("train")[0]
        rgb, valid = self.appearance_bank().condition(
            j - t0 if j >= 0 else -1, self.keypoints[t], self.appearance_mode
        )
        return image_to_tensor(rgb), torch.from_numpy(valid)[None]

    def _appearance_items(self, t: int, *suffixes: str) -> dict[str, torch.Tensor]:
        """``appearance{s}`` and ``appearance_valid{s}`` of frames ``t - n + 1 .. t`` for the ``n``
        ``suffixes`` (nothing without appearance conditioning)."""
        if self.appearance_mode == "none":
            return {}
        out = {}
        for back, s in enumerate(reversed(suffixes)):
            out[f"appearance{s}"], out[f"appearance_valid{s}"] = self.appearance(t - back)
        return out

    def __getstate__(self) -> dict:
        # Spawned workers receive the dataset pickled: send neither the map nor the cached labels.
        state = self.__dict__.copy()
        state["_frames"] = None
        state["_masks"] = None
        state["_plate"] = None
        state["_frames_pid"] = None
        state["_labels"] = _LabelCache(self._labels.budget)
        return state

    @property
    def frames(self) -> np.ndarray:
        """``(T, H, W, 3)`` uint8 memory map of all frames (every split), opened once per process."""
        self._open_maps()
        return self._frames

    @property
    def masks(self) -> np.ndarray:
        """``(T, H, W)`` uint8 memory map of the person masks of all frames (255 = person)."""
        self._open_maps()
        return self._masks

    def _open_maps(self) -> None:
        if self._frames is None or self._frames_pid != os.getpid():
            self._frames = np.load(self.root / "frames.npy", mmap_mode="r")
            self._masks = np.load(self.root / "masks.npy", mmap_mode="r")
            self._frames_pid = os.getpid()

    def plate(self, t: int) -> torch.Tensor:
        """The background plate cropped by frame ``t``'s window: ``(3, H, W)`` float32 in ``[-1, 1]``."""
        if self._plate is None:
            image = self.info.background(full_size=False)
            self._plate = ScaledCropper(image, self.info.source_size, self.info.window_size, self.info.size)
        return image_to_tensor(self._plate(self.windows[t]))

    def valid(self, t: int) -> torch.Tensor:
        """``(1, H, W)`` float32: 1 where frame ``t``'s crop lies inside the video, 0 beyond its edges."""
        region = valid_region(self.windows[t], self.info.source_size, self.info.size)
        return torch.from_numpy(region)[None].float()

    def mask_weight(self, t: int) -> torch.Tensor:
        """float32 scalar: 0 when frame ``t``'s person mask is (almost) empty although its pose
        shows a person (the segmenter lost them; the mask must not teach alpha = 0), else 1."""
        person = bool((self.keypoints[t, :, 2] > 0).any())
        empty = np.count_nonzero(np.asarray(self.masks[t]) > 127) < MIN_MASK_FRACTION * self.masks[t].size
        return torch.tensor(0.0 if person and empty else 1.0)

    def limbs(self, t: int) -> torch.Tensor:
        """The core capsules of frame ``t``'s visible limbs (:mod:`dancenow.pose.limbs`) as
        ``(1, H, W)`` float32, 1 on a core."""
        return torch.from_numpy(limb_core_map(self.keypoints[t], self.info.height, self.info.width))[None]

    def image(self, t: int) -> torch.Tensor:
        """Frame ``t`` as ``(3, H, W)`` float32 in ``[-1, 1]``."""
        return image_to_tensor(self.frames[t])

    def mask(self, t: int) -> torch.Tensor:
        """The person mask of frame ``t`` as ``(1, H, W)`` float32 in ``[0, 1]`` (1 = person)."""
        m = torch.from_numpy(np.array(self.masks[t], dtype=np.uint8, copy=True))
        return m[None].float().div_(255.0)

    def label(self, t: int) -> torch.Tensor:
        """The stick figure of frame ``t`` as ``(3, H, W)`` float32 in ``[-1, 1]``."""
        drawn = self._labels.get(t)
        if drawn is None:
            drawn = render_label(
                self.keypoints[t], self.info.height, self.info.width, line_scale=self.line_scale
            )
            self._labels.put(t, drawn)
        return image_to_tensor(drawn)

    def face_box(self, t: int) -> torch.Tensor:
        """``(4,)`` int64 ``(x0, y0, x1, y1)`` face box of frame ``t`` (training pixels)."""
        return torch.from_numpy(self.faces[t].copy())

    def _frame_index(self, i: int, length: int, first: int) -> int:
        if not -length <= i < length:
            raise IndexError(f"index {i} out of range for {length} items")
        return first + (i % length)


class PairDataset(_SplitData):
    """Consecutive frame pairs ``(t-1, t)`` inside one split, for training with temporal smoothing.

    Item ``i`` is the pair ending at frame ``t = start + 1 + i``; a dict of

    - ``"label_prev"``, ``"label"``: ``(3, H, W)`` float32 in ``[-1, 1]``, stick figures of t-1 and t
    - ``"image_prev"``, ``"image"``: ``(3, H, W)`` float32 in ``[-1, 1]``, the real frames
    - ``"plate_prev"``, ``"plate"``: ``(3, H, W)`` float32 in ``[-1, 1]``, the background plate in
      each frame's window
    - ``"valid_prev"``, ``"valid"``: ``(1, H, W)`` float32, 1 inside the video, 0 beyond it
    - ``"mask_prev"``, ``"mask"``: ``(1, H, W)`` float32 in ``[0, 1]``, the person masks
    - ``"mask_weight_prev"``, ``"mask_weight"``: float32 scalars, 0 where the mask lost the person
    - ``"limbs_prev"``, ``"limbs"``: ``(1, H, W)`` float32, 1 on the core of each visible limb
    - ``"face_box"``: ``(4,)`` int64 ``(x0, y0, x1, y1)`` of frame t
    - ``"index"``: int64 scalar, t (an index into the whole dataset, not the split)
    - with ``appearance`` not ``none``: ``"appearance_prev"``, ``"appearance"`` ``(3, H, W)`` in
      ``[-1, 1]`` and ``"appearance_valid_prev"``, ``"appearance_valid"`` ``(1, H, W)`` in
      ``[0, 1]``, the texture input of t-1 and t (:meth:`appearance`)

    Args:
        root: dataset folder.
        split: ``"train"``, ``"val"`` or ``"all"``.
        line_scale: multiplies the stick figure's default line widths.
        label_cache_mb: per-process memory for rendered labels (0 disables the cache).
        appearance: ``none`` | ``nearest`` | ``warped`` (:mod:`~dancenow.data.appearance`).
        neighbours: training frames retrieved per frame (the appearance input is drawn among them).
    """

    def __len__(self) -> int:
        return max(0, self.stop - self.start - 1)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t = self._frame_index(i, len(self), self.start + 1)
        return {
            "label_prev": self.label(t - 1),
            "label": self.label(t),
            "image_prev": self.image(t - 1),
            "image": self.image(t),
            "plate_prev": self.plate(t - 1),
            "plate": self.plate(t),
            "valid_prev": self.valid(t - 1),
            "valid": self.valid(t),
            "mask_prev": self.mask(t - 1),
            "mask": self.mask(t),
            "mask_weight_prev": self.mask_weight(t - 1),
            "mask_weight": self.mask_weight(t),
            "limbs_prev": self.limbs(t - 1),
            "limbs": self.limbs(t),
            "face_box": self.face_box(t),
            "index": torch.tensor(t, dtype=torch.int64),
        } | self._appearance_items(t, "_prev", "")


class FrameDataset(_SplitData):
    """Single frames of one split (evaluation, inference on the dataset's own poses).

    Item ``i`` is frame ``t = start + i``: ``"label"``, ``"image"``, ``"plate"`` (``(3, H, W)``
    float32 in ``[-1, 1]``), ``"valid"`` (``(1, H, W)``), ``"face_box"`` (``(4,)`` int64),
    ``"index"`` (int64 scalar, t) and, with appearance, ``"appearance"`` and
    ``"appearance_valid"``.
    Arguments as for :class:`PairDataset`.
    """

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t = self._frame_index(i, len(self), self.start)
        return {
            "label": self.label(t),
            "image": self.image(t),
            "plate": self.plate(t),
            "valid": self.valid(t),
            "face_box": self.face_box(t),
            "index": torch.tensor(t, dtype=torch.int64),
        } | self._appearance_items(t, "")

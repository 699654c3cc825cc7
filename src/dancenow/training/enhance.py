"""The enhance stage's data: random full-size patches of the target's training frames, beside the
enhancer's inputs for the same frames as the trained generator draws them (issue #23).

The body generator (and face generator, when trained) runs over the training split in order,
its previous output fed back as in generation, so the enhancer learns on what transfer will give
it, not on downscaled photographs. Up to ``optim.enhance_frames`` of those frames, evenly spread,
are kept at the output's size (:mod:`dancenow.data.fullsize`) with the real frame cut by the
same window from the target video. A step draws one patch of ``optim.enhance_patch`` pixels per
sample, centred on a random pixel of the person and always wholly inside the video.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
import torch
from torch.utils.data import Dataset

from dancenow.data.crop import crop_frame
from dancenow.data.dataset import DatasetInfo, FrameDataset, image_to_tensor, tensor_to_image
from dancenow.data.fullsize import FullSizeFrame, FullSizeInputs
from dancenow.errors import InputError
from dancenow.models.composite import next_frame
from dancenow.runfolder.config import TrainConfig
from dancenow.utils.progress import progress as progress_bar
from dancenow.video import iter_frames, probe

_CENTRES = 4096
"""Person pixels kept per frame to centre patches on (a random subset)."""


def inside_box(valid: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of the valid pixels of a window (a rectangle: the window's part inside
    the video), None when there are none."""
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


class EnhancePatches(Dataset):
    """Item ``i``: a random patch of kept frame ``i`` (a new one each time it is drawn): a dict of
    ``composite``, ``label``, ``plate``, ``image`` ``(3, P, P)`` in ``[-1, 1]``, ``alpha``
    ``(1, P, P)`` and ``index`` (the dataset frame). Read in the training process only
    (``num_workers`` 0): the frames are held in memory."""

    def __init__(
        self, frames: list[FullSizeFrame], reals: list[np.ndarray], indices: list[int], patch: int, seed: int
    ):
        self.patch, self.seed = patch, seed
        self.frames, self.reals, self.indices = [], [], []
        self.boxes: list[tuple[int, int, int, int]] = []
        self.centres: list[np.ndarray] = []
        rng = np.random.default_rng(seed)
        for frame, real, t in zip(frames, reals, indices, strict=True):
            box = inside_box(frame.valid)
            if box is None or box[2] - box[0] < patch or box[3] - box[1] < patch:
                continue  # the window lies too far beyond the video for a whole patch
            person = (frame.alpha > 0.5) | (frame.label.max(axis=2) > 0)
            ys, xs = np.nonzero(person)
            pick = rng.permutation(len(ys))[:_CENTRES]
            self.frames.append(frame)
            self.reals.append(real)
            self.indices.append(t)
            self.boxes.append(box)
            self.centres.append(np.stack([xs[pick], ys[pick]], axis=1))
        self._draws = np.zeros(len(self.frames), np.int64)

    def __len__(self) -> int:
        return len(self.frames)

    def window(self, i: int) -> tuple[int, int]:
        """The top-left corner of the next patch of kept frame ``i``."""
        rng = np.random.default_rng([self.seed, i, int(self._draws[i])])
        self._draws[i] += 1
        x0, y0, x1, y1 = self.boxes[i]
        p = self.patch
        centres = self.centres[i]
        if len(centres):
            cx, cy = centres[rng.integers(len(centres))]
        else:
            cx, cy = rng.integers(x0, x1), rng.integers(y0, y1)
        px = int(np.clip(cx - p // 2, x0, x1 - p))
        py = int(np.clip(cy - p // 2, y0, y1 - p))
        return px, py

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        px, py = self.window(i)
        p = self.patch
        f = self.frames[i]
        cut = (slice(py, py + p), slice(px, px + p))
        return {
            "composite": image_to_tensor(f.composite[cut]),
            "alpha": torch.from_numpy(np.ascontiguousarray(f.alpha[cut]))[None],
            "label": image_to_tensor(f.label[cut]),
            "plate": image_to_tensor(f.plate[cut]),
            "image": image_to_tensor(self.reals[i][cut]),
            "index": torch.tensor(self.indices[i], dtype=torch.int64),
        }


@torch.no_grad()
def enhance_patches(
    generator: torch.nn.Module,
    face_generator: torch.nn.Module | None,
    info: DatasetInfo,
    cfg: TrainConfig,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager],
    *,
    progress: bool = True,
) -> EnhancePatches:
    """Run the trained generator over the training split and keep the enhancer's data."""
    video = info.source_video
    if not video.is_file():
        raise InputError(
            video,
            "missing: the enhance stage learns from the target video at full size (put it back "
            "where `prepare` found it, or prepare again)",
        )
    if (probe(video).width, probe(video).height) != tuple(info.source_size):
        raise InputError(video, f"is not the video the dataset was prepared from (not {info.source_size})")
    m = cfg.model
    frames = FrameDataset(info.root, "train", appearance=m.appearance, neighbours=m.appearance_neighbours)
    n = len(frames)
    keep = set(
        np.unique(np.linspace(0, n - 1, min(n, cfg.optim.enhance_frames)).round().astype(int)).tolist()
    )
    inputs = FullSizeInputs(info.background(), info.source_size, info.window_size, info.size)
    windows = info.windows()
    generator.eval()
    kept, reals, indices = [], [], []
    bar = progress_bar(n, "enhance data", "frame", enabled=progress)
    prev = None
    decoded = iter_frames(video)
    for t, real in enumerate(decoded):
        if t < frames.start:
            continue
        if t >= frames.stop:
            break
        item = frames[t - frames.start]
        look = None
        if "appearance" in item:
            look = torch.cat([item["appearance"], item["appearance_valid"]])[None].to(device)
        with autocast():
            fake, alpha = next_frame(
                generator,
                face_generator,
                item["label"][None].to(device),
                prev,
                item["plate"][None].to(device),
                item["valid"][None].to(device),
                item["face_box"][None] if face_generator is not None else None,
                temporal=m.temporal,
                appearance=look,
            )
        prev = fake.float().clamp(-1, 1)
        if t - frames.start in keep:
            crop = tensor_to_image(prev[0])
            full = inputs(crop, alpha[0, 0].float().cpu().numpy(), frames.keypoints[t], windows[t])
            kept.append(full)
            reals.append(crop_frame(real.image, windows[t], inputs.size, border="black"))
            indices.append(t)
        bar.update(1)
    bar.close()
    decoded.close()
    patches = EnhancePatches(kept, reals, indices, cfg.optim.enhance_patch, cfg.seed)
    if len(patches) == 0:
        raise InputError(
            info.root,
            f"no training window holds a whole {cfg.optim.enhance_patch}-px patch inside the video "
            "(set optim.enhance_patch smaller)",
        )
    return patches

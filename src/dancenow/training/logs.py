"""What a run records as it trains: ``metrics.jsonl``, TensorBoard scalars and sample grids."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from dancenow.data.dataset import DatasetInfo, FrameDataset, tensor_to_image
from dancenow.models.composite import next_frame
from dancenow.models.generators import downsample2


class RunLog:
    """Appends records to ``RUN/metrics.jsonl`` and TensorBoard (``RUN/tensorboard``); does
    nothing when ``enabled`` is false (every rank but the first)."""

    def __init__(self, run: Path, *, enabled: bool):
        self.run, self.enabled = run, enabled
        self.writer = None

    def metrics(self, record: dict) -> None:
        """One record: ``stage``, ``step``, ``global_step`` and numbers."""
        if not self.enabled:
            return
        with open(self.run / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        for k, v in record.items():
            if isinstance(v, (int, float)) and k not in ("step", "global_step"):
                self.tensorboard().add_scalar(f"{record['stage']}/{k}", v, record["global_step"])

    def image(self, stage: str, grid, global_step: int) -> None:
        """A sample grid ``(H, W, 3)`` uint8: ``RUN/samples/STAGE_STEP.png`` and TensorBoard."""
        if not self.enabled:
            return
        import cv2

        out = self.run / "samples" / f"{stage}_{global_step:07d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        self.tensorboard().add_image(f"{stage}/label|generated|real", grid, global_step, dataformats="HWC")

    def tensorboard(self):
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run / "tensorboard"))
        return self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class SampleGrids:
    """Rows of label | generated | real (label | appearance input | generated | real with
    appearance conditioning) for consecutive held-out frames (temporal feedback on), from the
    validation split (the training split when it is empty)."""

    def __init__(self, dataset: DatasetInfo, frames: int = 4, *, appearance: str = "none"):
        self.dataset, self.frames, self.appearance = dataset, frames, appearance
        self._data: FrameDataset | None = None

    @torch.no_grad()
    def __call__(
        self, g: nn.Module, face_g: nn.Module | None, *, temporal: bool, scale: int, autocast: Callable
    ):
        """The grid ``(rows·H, 3·W, 3)`` (``4·W`` with appearance) uint8 from body generator
        ``g`` (and ``face_g``)."""
        if self._data is None:  # opened once: its label cache then serves every later grid
            start, stop = self.dataset.split_range("val")
            split = "val" if stop > start else "train"
            self._data = FrameDataset(self.dataset.root, split, appearance=self.appearance)
        device = next(g.parameters()).device
        was_training = g.training
        g.eval()
        prev, rows = None, []
        for i in range(min(self.frames, len(self._data))):
            item = self._data[i]
            label, real, plate, valid = (
                item[k][None].to(device) for k in ("label", "image", "plate", "valid")
            )
            look = None
            if "appearance" in item:
                look = torch.cat([item["appearance"], item["appearance_valid"]])[None].to(device)
            if scale > 1:
                label, real, plate, valid = (downsample2(x) for x in (label, real, plate, valid))
                look = downsample2(look) if look is not None else None
            with autocast():
                fake, _ = next_frame(
                    g,
                    face_g,
                    label,
                    prev,
                    plate,
                    valid,
                    item["face_box"][None],
                    temporal=temporal,
                    appearance=look,
                )
            prev = fake.float()
            shown = [label] + ([look[:, :3]] if look is not None else []) + [fake.float().clamp(-1, 1), real]
            rows.append(torch.cat(shown, dim=3)[0])
        g.train(was_training)
        return tensor_to_image(torch.cat(rows, dim=1))

"""Training step time of the two ways to upsample in the generators, alternated in one process.

    python benchmarks/upsample_speed.py DATASET [--rounds 8]

DATASET is a prepared 256x256 dataset (``dancenow prepare VIDEO -o DS --size 256``). Builds two
``cpu``-preset trainers on the same frames: one with pix2pixHD's stride-2 transposed convolution
(what dancenow used before run folder format 3, kept here only as the reference), one with the
generators' own resize-then-convolve layer. Prints each step's arithmetic (GMAC, forward and
backward) and the median global-stage step time, alternating the two step by step so that a
drift in the machine's speed hits both alike. The results are in docs/RESULTS.md §2c.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dancenow.utils.threads import choose_wait_policy  # noqa: E402  (before torch, as the CLI)

choose_wait_policy()

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from dancenow.data.dataset import PairDataset  # noqa: E402
from dancenow.models import generators  # noqa: E402
from dancenow.models.blocks import norm_layer  # noqa: E402
from dancenow.runfolder.config import load_preset  # noqa: E402
from dancenow.training.distributed import DistInfo  # noqa: E402
from dancenow.training.trainer import Trainer  # noqa: E402
from dancenow.utils.machine import describe  # noqa: E402


def transposed(cin: int, cout: int, *, norm: str = "instance") -> nn.Sequential:
    """pix2pixHD's upsampling layer, the reference."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
        norm_layer(norm, cout),
        nn.ReLU(True),
    )


def global_step(dataset: Path, run: Path):
    """``step(i)``: one global-stage training step of the ``cpu`` preset on four fixed frame pairs."""
    t = Trainer(load_preset("cpu"), dataset, run, DistInfo(device=torch.device("cpu")), progress=False)
    opt, nets = t.nets.optimizers("global"), t.nets.for_stage("global", t.dist)
    data = PairDataset(dataset, "train")
    batches = [t.batch_to({k: v[None] for k, v in data[i].items()}, t.nets.scale("global")) for i in range(4)]
    return lambda i: t.step("global", nets, batches[i % 4], opt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    print(f"{describe()}, {torch.get_num_threads()} threads", flush=True)
    tmp = Path(tempfile.mkdtemp())
    steps = {"resize + conv": global_step(args.dataset, tmp / "resize")}
    own = generators.up_norm_relu
    generators.up_norm_relu = transposed  # read when the generators are built
    try:
        steps["transposed conv"] = global_step(args.dataset, tmp / "transposed")
    finally:
        generators.up_norm_relu = own
    for name, step in steps.items():
        step(0)  # warm-up
        with FlopCounterMode(display=False) as counter:
            step(1)
        print(f"{name}: {counter.get_total_flops() / 2e9:.1f} GMAC per step", flush=True)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step(i)
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        print(f"{name}: median {statistics.median(ts):.3f} s/step over {args.rounds} (min {min(ts):.3f})")
    ratio = statistics.median(times["resize + conv"]) / statistics.median(times["transposed conv"])
    print(f"step time resize + conv / transposed conv: {ratio:.2f}")


if __name__ == "__main__":
    main()

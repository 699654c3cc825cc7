"""Two processes with gloo DDP keep the weights identical across ranks."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, dataset: str, run: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from dancenow.runfolder.config import load_preset
    from dancenow.training.distributed import cleanup, setup
    from dancenow.training.trainer import Trainer

    info = setup("cpu")
    try:
        trainer = Trainer(load_preset("tiny"), dataset, run, info, progress=False)
        trainer.train("all", max_steps=3)
        weights = {f"{name}.{k}": v for name, sd in trainer.nets.all_weights().items() for k, v in sd.items()}
        torch.save(weights, os.path.join(out, f"rank{rank}.pt"))
    finally:
        cleanup()


@pytest.mark.slow
def test_two_process_gloo_ddp_keeps_ranks_identical(tiny_dataset, tmp_path):
    mp.spawn(
        _worker,
        args=(2, _free_port(), str(tiny_dataset), str(tmp_path / "run"), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys() and len(a) > 50
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert differing == []
    # and the ranks did train: the weights moved away from a fresh initialisation
    from dancenow.models.build import build_global_generator
    from dancenow.runfolder.config import load_preset

    torch.manual_seed(0)
    fresh = build_global_generator(load_preset("tiny").model).state_dict()
    assert not all(torch.equal(fresh[k], a[f"global_generator.{k}"]) for k in fresh)
    assert (tmp_path / "run" / "config.json").is_file()

"""Training speed: seconds per step and images/s, fp32 eager reference vs the default fast path.

    python benchmarks/train_speed.py [--quick] [--json OUT.json] [--preset cpu] [--device cpu|cuda]

Every configuration runs in a fresh process (clean peak memory) on the same generated dataset,
one after the other in the same invocation, so the ratio compares like with like. A step is one
EDN training step on a frame pair (G forward on both frames, D step, G step), batch 1; images/s
counts generated frames. The last line printed is the fast/reference ratio at 256x256.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

WORKER = r"""
import json, resource, sys, time
import torch
args = json.loads(sys.argv[1])
from dancenow.data.dataset import PairDataset
from dancenow.training.config import load_preset, TrainConfig
from dancenow.training.distributed import DistInfo
from dancenow.training.trainer import Trainer
cfg = load_preset(args["preset"]).to_dict()
for k, v in args["overrides"].items():
    if isinstance(v, dict):
        cfg[k].update(v)
    else:
        cfg[k] = v
cfg = TrainConfig.from_dict(cfg)
device = torch.device(args["device"])
t = Trainer(cfg, args["dataset"], args["run"], DistInfo(device=device), progress=False)
stage = "global"
g = t.generator(stage)
opt = t.make_optimizers(stage)
modules = t._wrap(stage, g)
ds = PairDataset(args["dataset"], "train")
batches = [t.batch_to({k: v[None] for k, v in ds[i].items()}, 1) for i in range(4)]
def step(i):
    t.body_step(batches[i % 4], modules["g"], modules["d"], opt["g"], opt["d"])
    if device.type == "cuda":
        torch.cuda.synchronize()
for i in range(args["warmup"]):
    step(i)
times = []
for i in range(args["steps"]):
    t0 = time.perf_counter(); step(i); times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"step_s": med, "images_per_s": 2 / med, "peak_rss_mb": peak}
if device.type == "cuda":
    out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""

CONFIGS = {
    # the plain reference: fp32, eager, contiguous tensors
    "reference fp32 eager": {"precision": "fp32", "compile": False, "channels_last": False},
    # what `dancenow train` uses by default on this device
    "default": {},
}


def make_dataset(root: Path, size: tuple[int, int]) -> Path:
    from dancenow.data.prepare import prepare_dataset
    from dancenow.pose.posefile import PoseSequence, save_poses
    from dancenow.synthetic.video import make_clip

    w, h = size
    kp = make_clip(root / "clip.mp4", seconds=1, fps=10, size=(w, h), seed=0)
    save_poses(root / "clip.npz", PoseSequence(kp, fps=10, width=w, height=h, detector="synthetic"))
    return prepare_dataset(root / "clip.mp4", root / "ds", poses=root / "clip.npz", size=size, progress=False)


def run_config(
    dataset: Path, run: Path, preset: str, overrides: dict, device: str, steps: int, warmup: int
) -> dict:
    args = {
        "dataset": str(dataset),
        "run": str(run),
        "preset": preset,
        "overrides": overrides,
        "device": device,
        "steps": steps,
        "warmup": warmup,
    }
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(args)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1]
            if proc.stderr.strip()
            else f"exit {proc.returncode}"
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="256x256 only, fewer steps")
    ap.add_argument("--sizes", default=None, help="comma-separated WxH list (default 256x256,512x256)")
    ap.add_argument("--extra", action="store_true", help="also channels-last, compile and bf16")
    ap.add_argument("--only", default=None, help="comma-separated config names to run (after --extra)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.sizes or "256x256,512x256").split(",")]
    if args.quick:
        sizes = sizes[:1]
    steps, warmup = (3, 1) if args.quick else (6, 2)
    configs = dict(CONFIGS)
    if args.extra:
        configs |= {
            "fp32 + channels-last": {"precision": "fp32", "channels_last": True},
            "fp32 + torch.compile": {"precision": "fp32", "compile": True},
            "bf16 autocast": {"precision": "bf16"},
        }
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only.split(",")}
    import torch

    result = {
        "date": date.today().isoformat(),
        "preset": args.preset,
        "device": args.device,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
        + (f", {torch.cuda.get_device_name(0)}" if args.device == "cuda" else ""),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in sizes:
            root = Path(tmp) / f"{w}x{h}"
            root.mkdir()
            dataset = make_dataset(root, (w, h))
            for name, overrides in configs.items():
                t0 = time.perf_counter()
                r = run_config(
                    dataset, root / name.replace(" ", "_"), args.preset, overrides, args.device, steps, warmup
                )
                r |= {"size": f"{w}x{h}", "config": name, "wall_s": time.perf_counter() - t0}
                result["runs"].append(r)
                if "error" in r:
                    print(f"{w}x{h}  {name:24s} failed: {r['error']}")
                else:
                    print(
                        f"{w}x{h}  {name:24s} {r['step_s']:7.3f} s/step  {r['images_per_s']:6.2f} images/s  "
                        f"peak RSS {r['peak_rss_mb']:6.0f} MB"
                        + (f"  peak GPU {r['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in r else "")
                    )
    print(f"machine: {result['machine']}")
    for w, h in sizes:
        runs = {r["config"]: r for r in result["runs"] if r["size"] == f"{w}x{h}" and "error" not in r}
        if "default" in runs and "reference fp32 eager" in runs:
            ratio = runs["reference fp32 eager"]["step_s"] / runs["default"]["step_s"]
            result[f"ratio_{w}x{h}"] = ratio
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    first = f"{sizes[0][0]}x{sizes[0][1]}"
    if f"ratio_{first}" in result:
        print(f"default / reference speed-up at {first}: {result[f'ratio_{first}']:.2f}x")


if __name__ == "__main__":
    main()

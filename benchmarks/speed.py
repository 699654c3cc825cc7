"""Speed of every stage, the fp32 eager reference against the default fast path, in one run.

    python benchmarks/speed.py [--quick] [--json OUT.json] [--preset cpu] [--device cpu|cuda]
                               [--sizes 256x256,512x256] [--extra]

Measures, on a generated dancer (no footage needed):
  (a) pose extraction frames/s (MediaPipe Holistic, one process, the generated clip);
  (b) data-loader batches/s (the preset's worker count) against training steps/s: the loader
      must never be the bottleneck;
  (c) training step time and images/s per stage (global, local when the preset has one, face)
      for the reference configuration and for the default, with their ratio;
  (d) transfer frames/s: generation alone (reference and default) and the whole ``transfer``
      (normalize, generate, paste, encode H.264) with the default;
  (e) peak memory of each measurement (RSS; GPU memory on a GPU).
Each measurement runs in a fresh process (clean peak memory), one after the other, so ratios
compare like with like. ``--quick`` (256x256, fewer steps) takes about a minute on 2 CPU cores
and prints the training-step ratio on its last line.

The reference is pix2pixHD as plainly written: fp32, eager, contiguous tensors, a D step then a
G step that runs D again, PyTorch's instance norm; generation with contiguous tensors. The
default is what ``dancenow train`` / ``transfer`` use (see docs/BENCHMARKS.md for how each
choice was measured).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

EXTRA = {"default + torch.compile": {"compile": True}, "default + bf16": {"precision": "bf16"}}

WORKER = r"""
import json, resource, sys, time
import numpy as np
import torch
args = json.loads(sys.argv[1])
device = torch.device(args["device"])
out = {}

def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()

def timed(fn, n, warmup):
    for i in range(warmup):
        fn(i)
    sync()
    times = []
    for i in range(n):
        t0 = time.perf_counter(); fn(warmup + i); sync(); times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]

def trainer(overrides):
    from dancenow.training.config import TrainConfig, load_preset, merge_overrides
    from dancenow.training.distributed import DistInfo
    from dancenow.training.trainer import Trainer
    cfg = TrainConfig.from_dict(merge_overrides(load_preset(args["preset"]).to_dict(), overrides))
    return Trainer(cfg, args["dataset"], args["run"], DistInfo(device=device), progress=False)

task = args["task"]
if task == "pose":
    from dancenow.pose.extract import detect_video
    t0 = time.perf_counter()
    poses = detect_video(args["video"], workers=1, progress=False)
    out = {"frames_per_s": len(poses.keypoints) / (time.perf_counter() - t0), "frames": len(poses.keypoints)}
elif task == "loader":
    from torch.utils.data import DataLoader
    from dancenow.data.dataset import PairDataset
    t = trainer({})
    ds = PairDataset(args["dataset"], "train")
    loader = DataLoader(ds, batch_size=t.cfg.optim.batch_size, shuffle=True, num_workers=t.cfg.num_workers)
    n, it = 0, iter(loader)
    next(it)  # worker start-up is paid once per epoch, not per batch
    t0 = time.perf_counter()
    while n < args["steps"]:
        for _ in it:
            n += 1
            if n >= args["steps"]:
                break
        it = iter(loader)
    out = {"batches_per_s": n / (time.perf_counter() - t0), "num_workers": t.cfg.num_workers}
elif task == "train":
    from dancenow.data.dataset import PairDataset
    t = trainer(args["overrides"])
    stage = args["stage"]
    g = t.generator(stage)
    opt = t.make_optimizers(stage)
    modules = t._wrap(stage, g)
    ds = PairDataset(args["dataset"], "train")
    batches = [t.batch_to({k: v[None] for k, v in ds[i].items()}, t.stage_scale(stage)) for i in range(4)]
    if stage == "face":
        step = lambda i: t.face_step(batches[i % 4], modules["g"], modules["face_g"], modules["face_d"],
                                     opt["g"], opt["d"])
    else:
        step = lambda i: t.body_step(batches[i % 4], modules["g"], modules["d"], opt["g"], opt["d"])
    med = timed(step, args["steps"], args["warmup"])
    w, h = t.data.size
    scale = t.stage_scale(stage)
    out = {"step_s": med, "images_per_s": 2 / med, "image_size": f"{w // scale}x{h // scale}"}
    if args.get("profile"):
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=acts) as prof:
            step(0)
            sync()
        sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        out["profile"] = prof.key_averages().table(sort_by=sort, row_limit=12)
elif task == "transfer":
    from dancenow.inference.model import load_model
    from dancenow.inference.transfer import generate, transfer
    model = load_model(args["run"], device)
    kp = np.load(args["dataset"] + "/keypoints.npy")
    kp = np.concatenate([kp] * (args["frames"] // len(kp) + 1))[: args["frames"]]
    from dancenow.utils.precision import resolve_precision
    for fast in (False, True):
        amp = resolve_precision("auto", device) if fast else None  # as transfer does
        list(generate(model, kp[:3], device=device, amp_dtype=amp, fast=fast, progress=False))
        sync()
        t0 = time.perf_counter()
        for _ in generate(model, kp, device=device, amp_dtype=amp, fast=fast, progress=False):
            pass
        sync()
        out["generate_fps_" + ("default" if fast else "reference")] = len(kp) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    res = transfer(args["run"], args["video"], args["output"], source_poses=args["poses"], device=str(device),
                   progress=False)
    out["transfer_fps"] = res.frames / (time.perf_counter() - t0)
    out["transfer_frames"] = res.frames
# VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited across exec)
status = open("/proc/self/status").read() if sys.platform == "linux" else ""
hwm = [l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")]
kb = int(hwm[0]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out["peak_rss_mb"] = kb / 1024
if device.type == "cuda":
    out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""


def worker(**args) -> dict:
    from dancenow.utils.threads import choose_wait_policy

    env = dict(os.environ)
    choose_wait_policy(env)  # as the dancenow command does, with the previous worker gone
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(args)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_inputs(root: Path, size: tuple[int, int], preset: str, device: str, seconds: float) -> dict:
    """A generated dancer clip with its exact poses, a dataset and an (untrained) run folder."""
    from dancenow.data.prepare import prepare_dataset
    from dancenow.pose.posefile import PoseSequence, save_poses
    from dancenow.synthetic.video import make_clip

    w, h = size
    kp = make_clip(root / "clip.mp4", seconds=seconds, fps=10, size=(w, h), seed=0)
    save_poses(root / "clip.npz", PoseSequence(kp, fps=10, width=w, height=h, detector="synthetic"))
    dataset = prepare_dataset(
        root / "clip.mp4", root / "ds", poses=root / "clip.npz", size=size, progress=False
    )
    run = root / "run"
    # An untrained run with every stage's weights: speed does not depend on the weights' values.
    from dancenow.training.run import train_run

    train_run(dataset, run, preset=preset, max_steps=1, device=device, progress=False)
    return {
        "video": str(root / "clip.mp4"),
        "poses": str(root / "clip.npz"),
        "dataset": str(dataset),
        "run": str(run),
    }


def stages_of(preset: str) -> list[str]:
    from dancenow.training.config import load_preset

    m = load_preset(preset).model
    return ["global"] + (["local"] if m.local else []) + (["face"] if m.face else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--quick", action="store_true", help="256x256 only, fewer steps (about a minute on 2 cores)"
    )
    ap.add_argument("--sizes", default=None, help="comma-separated WxH list (default 256x256,512x256)")
    ap.add_argument("--extra", action="store_true", help="also the default + torch.compile, + bf16")
    ap.add_argument("--profile", action="store_true", help="also print where one global step's time goes")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from dancenow.utils.machine import describe

    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.sizes or "256x256,512x256").split(",")]
    if args.quick:
        sizes = sizes[:1]
    steps, warmup, frames = (3, 1, 20) if args.quick else (6, 2, 60)
    from dancenow.training.config import REFERENCE_OVERRIDES

    configs = {"reference fp32 eager": REFERENCE_OVERRIDES, "default": {}} | (EXTRA if args.extra else {})
    result = {
        "date": date.today().isoformat(),
        "preset": args.preset,
        "device": args.device,
        "machine": describe(args.device),
        "sizes": {},
    }
    print(f"machine: {result['machine']}  preset: {args.preset}")
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in sizes:
            key = f"{w}x{h}"
            root = Path(tmp) / key
            root.mkdir()
            inputs = make_inputs(root, (w, h), args.preset, args.device, 1.0 if args.quick else 3.0)
            common = {"preset": args.preset, "device": args.device, "dataset": inputs["dataset"]}
            r: dict = {"train": {}}
            r["pose"] = worker(task="pose", video=inputs["video"], **common)
            r["loader"] = worker(task="loader", run=str(root / "loader_run"), steps=4 * steps, **common)
            for stage in stages_of(args.preset):
                for name, overrides in configs.items():
                    run = str(root / f"t_{stage}_{name.replace(' ', '_')}")
                    m = worker(
                        task="train",
                        stage=stage,
                        overrides=overrides,
                        run=run,
                        steps=steps,
                        warmup=warmup,
                        profile=args.profile and stage == "global",
                        **common,
                    )
                    if "profile" in m:
                        print(f"\n-- profile of one {stage} step, {name}, {key}\n{m.pop('profile')}")
                    r["train"].setdefault(stage, {})[name] = m
            r["transfer"] = worker(
                task="transfer",
                run=inputs["run"],
                video=inputs["video"],
                poses=inputs["poses"],
                output=str(root / "out.mp4"),
                frames=frames,
                **common,
            )
            result["sizes"][key] = r
            report(key, r)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    first = f"{sizes[0][0]}x{sizes[0][1]}"
    g = result["sizes"][first]["train"]["global"]
    if "step_s" in g.get("default", {}) and "step_s" in g.get("reference fp32 eager", {}):
        ratio = g["reference fp32 eager"]["step_s"] / g["default"]["step_s"]
        print(
            f"training step speed-up, default vs fp32 eager reference, global stage at {first}: {ratio:.2f}x"
        )


def fmt_mem(m: dict) -> str:
    return f"peak RSS {m.get('peak_rss_mb', 0):6.0f} MB" + (
        f", GPU {m['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in m else ""
    )


def report(size: str, r: dict) -> None:
    p = r["pose"]
    print(f"\n== {size}")
    print(f"pose extraction     {p.get('frames_per_s', float('nan')):7.1f} frames/s   {fmt_mem(p)}" + _err(p))
    for stage, runs in r["train"].items():
        ref = runs.get("reference fp32 eager", {})
        for name, m in runs.items():
            if "error" in m:
                print(f"train {stage:6s} {name:26s} failed: {m['error']}")
                continue
            ratio = ref["step_s"] / m["step_s"] if "step_s" in ref else float("nan")
            print(
                f"train {stage:6s} {name:26s} {m['step_s']:7.3f} s/step {m['images_per_s']:7.2f} images/s "
                f"({m['image_size']})  x{ratio:4.2f}  {fmt_mem(m)}"
            )
    loader = r["loader"]
    default_global = r["train"]["global"].get("default", {})
    if "batches_per_s" in loader and "step_s" in default_global:
        headroom = loader["batches_per_s"] * default_global["step_s"]
        print(
            f"data loader         {loader['batches_per_s']:7.1f} batches/s "
            f"({loader['num_workers']} workers) = {headroom:.0f}x the global training step rate"
        )
    else:
        print("data loader failed:" + _err(loader))
    t = r["transfer"]
    if "error" in t:
        print(f"transfer failed: {t['error']}")
    else:
        print(
            f"transfer            generate {t['generate_fps_reference']:6.1f} -> "
            f"{t['generate_fps_default']:6.1f} frames/s "
            f"(x{t['generate_fps_default'] / t['generate_fps_reference']:.2f}); whole transfer "
            f"{t['transfer_fps']:.1f} frames/s  {fmt_mem(t)}"
        )


def _err(m: dict) -> str:
    return f"  failed: {m['error']}" if "error" in m else ""


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

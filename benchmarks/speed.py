"""Speed of every stage, the fp32 eager reference against the default fast path, in one run.

    python benchmarks/speed.py [--quick] [--json OUT.json] [--preset cpu] [--device cpu|cuda]
                               [--sizes 256x256,512x256] [--extra] [--ablate] [--profile]

Measures, on a generated dancer (no footage needed):
  (a) pose extraction frames/s (MediaPipe Holistic, one process, the generated clip);
  (b) data-loader batches/s (the preset's worker count) against training steps/s: the loader
      must never be the bottleneck;
  (c) training step time and images/s per stage (global, local when the preset has one, face)
      for the reference configuration and for the default, with their ratio; the arithmetic of
      a step (GMAC, convolutions and matmuls as executed, forward and backward), the share of
      the device's matmul peak it reaches, and the bound that puts on any speed-up: the default's
      arithmetic done at the peak;
  (d) transfer frames/s: generation alone (reference and default) and the whole ``transfer``
      (normalize, generate, paste, encode H.264) with the default;
  (e) peak memory of each measurement (RSS; GPU memory on a GPU).
Memory and arithmetic come from a fresh process per configuration. Training step times come from
one process that alternates the configurations step by step and samples the matmul peak between
rounds, so a drift in the machine's speed (separate processes differ by up to 25 % on a shared
VM) hits all of them alike. ``--quick`` (256x256, global stage) takes about a minute on 2 CPU
cores and prints the training-step ratio on its last line. ``--ablate`` adds the default with each
of its parts (fused step, norm kernel, frozen generator's format) replaced by the reference's.

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

REF = "reference fp32 eager"
EXTRA = {"default + torch.compile": {"compile": True}, "default + bf16": {"precision": "bf16"}}
# The default with one of its parts replaced by the reference's: what each part is worth
ABLATE = {
    "default, D then G step": {"fused_step": False},
    "default, torch instance norm": {"norm_kernel": "instance"},
    "default, frozen G contiguous": {"frozen_channels_last": False},
}

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

def trainer(overrides, run=None):
    from dancenow.runfolder.config import TrainConfig, load_preset, merge_overrides
    from dancenow.training.distributed import DistInfo
    from dancenow.training.trainer import Trainer
    cfg = TrainConfig.from_dict(merge_overrides(load_preset(args["preset"]).to_dict(), overrides))
    return Trainer(cfg, args["dataset"], run or args["run"], DistInfo(device=device), progress=False)

def matmul_peak(best):
    # The device's matmul throughput (GMAC/s), kept as the best of the calls: the ceiling for
    # convolution arithmetic in fp32 and, where the default autocasts to it, bf16.
    from dancenow.utils.precision import resolve_precision
    n, reps = (2048, 5) if device.type == "cpu" else (8192, 50)
    dtypes = {"fp32": torch.float32} | ({"bf16": torch.bfloat16} if resolve_precision("auto", device) else {})
    for name, dtype in dtypes.items():
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        a @ b; sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync()
        rate = reps * n**3 / (time.perf_counter() - t0) / 1e9
        best[f"{name}_gmac_per_s"] = max(rate, best.get(f"{name}_gmac_per_s", 0.0))
    return best

def train_step(overrides, stage, run=None):
    # (trainer, step(i)): one training step of the stage on four fixed frame pairs
    from dancenow.data.dataset import PairDataset
    t = trainer(overrides, run)
    opt = t.nets.optimizers(stage)
    nets = t.nets.for_stage(stage, t.dist)
    ds = PairDataset(args["dataset"], "train")
    batches = [t.batch_to({k: v[None] for k, v in ds[i].items()}, t.nets.scale(stage)) for i in range(4)]
    return t, lambda i: t.step(stage, nets, batches[i % 4], opt)

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
    # One configuration alone in a fresh process: its peak memory and the arithmetic of a step
    # (convolutions and matmuls, forward and backward, as executed). Times come from train_ab.
    stage = args["stage"]
    t, step = train_step(args["overrides"], stage)
    step(0)
    sync()
    w, h = t.data.size
    scale = t.nets.scale(stage)
    from torch.utils.flop_counter import FlopCounterMode
    out = {"image_size": f"{w // scale}x{h // scale}"}
    try:
        with FlopCounterMode(display=False) as counter:
            step(1)
        out["gmac_per_step"] = counter.get_total_flops() / 2e9
    except Exception as exc:  # e.g. a compiled module the counter cannot follow: memory still counts
        out["gmac_error"] = f"{type(exc).__name__}: {exc}"[:200]
    if args.get("profile"):
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=acts) as prof:
            step(0)
            sync()
        sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        out["profile"] = prof.key_averages().table(sort_by=sort, row_limit=12)
elif task == "train_ab":
    # Every configuration in one process, their steps interleaved round by round, with a matmul
    # peak sample each round: a drift of the machine's speed (which moves separate processes by up
    # to 25 %) then hits all of them, and the peak they are compared with, alike.
    steps = {name: train_step(ov, args["stage"], f"{args['run']}_{i}")[1]
             for i, (name, ov) in enumerate(args["configs"].items())}
    times = {name: [] for name in steps}
    for name, step in steps.items():
        for i in range(args["warmup"]):
            step(i)
    peak = {}
    for r in range(args["steps"]):
        for name, step in steps.items():
            sync(); t0 = time.perf_counter(); step(r); sync(); times[name].append(time.perf_counter() - t0)
        matmul_peak(peak)
    out = {"step_s": {name: sorted(v)[len(v) // 2] for name, v in times.items()},
           "step_min_s": {name: min(v) for name, v in times.items()}, "times": times, "peak": peak,
           "rounds": args["steps"]}
elif task == "transfer":
    from dancenow.inference.model import load_model
    from dancenow.inference.transfer import generate, transfer
    from dancenow.data.dataset import load_dataset_info
    model = load_model(args["run"], device)
    info = load_dataset_info(args["dataset"])
    plate = info.background()
    repeat = args["frames"] // info.num_frames + 1
    kp = np.concatenate([np.load(args["dataset"] + "/keypoints.npy")] * repeat)[: args["frames"]]
    win = np.concatenate([info.windows()] * repeat)[: args["frames"]]
    from dancenow.utils.precision import resolve_precision
    for fast in (False, True):
        amp = resolve_precision("auto", device) if fast else None  # as transfer does
        list(generate(model, kp[:3], win[:3], plate, device=device, amp_dtype=amp, fast=fast, progress=False))
        sync()
        t0 = time.perf_counter()
        for _ in generate(model, kp, win, plate, device=device, amp_dtype=amp, fast=fast, progress=False):
            pass
        sync()
        out["generate_fps_" + ("default" if fast else "reference")] = len(kp) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    res = transfer(args["run"], args["video"], args["output"], source_poses=args["poses"], device=str(device),
                   progress=False)
    out["transfer_fps"] = res.frames / (time.perf_counter() - t0)
    out["transfer_frames"] = res.frames
    out["peak"] = matmul_peak({})  # the machine's speed at the time (it drifts on a shared VM)
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


def make_inputs(
    root: Path, size: tuple[int, int], preset: str, device: str, seconds: float, source_seconds: float
) -> dict:
    """A generated dancer clip with its exact poses, a dataset and an (untrained) run folder, and
    a second dancer's clip with its poses, the source of the timed transfer."""
    from dancenow.data.prepare import prepare_dataset
    from dancenow.pose.posefile import PoseSequence, save_poses
    from dancenow.synthetic.video import make_clip

    w, h = size
    for name, length, seed in (("clip", seconds, 0), ("source", source_seconds, 1)):
        kp = make_clip(root / f"{name}.mp4", seconds=length, fps=10, size=(w, h), seed=seed)
        save_poses(root / f"{name}.npz", PoseSequence(kp, fps=10, width=w, height=h, detector="synthetic"))
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
        "source": str(root / "source.mp4"),
        "source_poses": str(root / "source.npz"),
        "dataset": str(dataset),
        "run": str(run),
    }


def stages_of(preset: str) -> list[str]:
    from dancenow.runfolder.config import load_preset

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
    ap.add_argument(
        "--ablate", action="store_true", help="also the default with each of its parts undone in turn"
    )
    ap.add_argument("--profile", action="store_true", help="also print where one global step's time goes")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from dancenow.utils.machine import describe

    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.sizes or "256x256,512x256").split(",")]
    if args.quick:
        sizes = sizes[:1]
    rounds, frames = (3, 20) if args.quick else (9, 60)  # interleaved training steps; frames generated
    from dancenow.runfolder.config import REFERENCE_OVERRIDES

    configs = {REF: REFERENCE_OVERRIDES, "default": {}}
    configs |= (EXTRA if args.extra else {}) | (ABLATE if args.ablate else {})
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
            # the transfer's source is long enough that start-up (loading the model, opening the
            # encoder) does not dominate its frames/s
            inputs = make_inputs(
                root, (w, h), args.preset, args.device, *((1.0, 2.0) if args.quick else (3.0, 10.0))
            )
            common = {"preset": args.preset, "device": args.device, "dataset": inputs["dataset"]}
            r: dict = {"train": {}}
            r["pose"] = worker(task="pose", video=inputs["video"], **common)
            r["loader"] = worker(task="loader", run=str(root / "loader_run"), steps=12, **common)
            for stage in stages_of(args.preset)[: 1 if args.quick else None]:
                for name, overrides in configs.items():
                    run = str(root / f"t_{stage}_{name.replace(' ', '_')}")
                    m = worker(
                        task="train",
                        stage=stage,
                        overrides=overrides,
                        run=run,
                        profile=args.profile and stage == "global",
                        **common,
                    )
                    if "profile" in m:
                        print(f"\n-- profile of one {stage} step, {name}, {key}\n{m.pop('profile')}")
                    r["train"].setdefault(stage, {})[name] = m
                inter = worker(
                    task="train_ab",
                    stage=stage,
                    configs=configs,
                    run=str(root / f"ab_{stage}"),
                    steps=rounds,
                    warmup=1,
                    **common,
                )
                inter["speedup_bound"] = speedup_bound(r["train"][stage], inter, args.device)
                r.setdefault("interleaved", {})[stage] = inter
            r["transfer"] = worker(
                task="transfer",
                run=inputs["run"],
                video=inputs["source"],
                poses=inputs["source_poses"],
                output=str(root / "out.mp4"),
                frames=frames,
                **common,
            )
            result["sizes"][key] = r
            report(key, r, args.device)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    first = f"{sizes[0][0]}x{sizes[0][1]}"
    inter = result["sizes"][first]["interleaved"]["global"]
    if "step_s" in inter:
        ratio = inter["step_s"][REF] / inter["step_s"]["default"]
        fastest = inter["step_min_s"][REF] / inter["step_min_s"]["default"]
        bound = inter["speedup_bound"]
        print(
            f"training step speed-up, default vs fp32 eager reference, global stage at {first}: {ratio:.2f}x"
            f" (medians; fastest steps {fastest:.2f}x"
            + (f"; arithmetic bound {bound:.2f}x)" if bound else ")")
        )


def fmt_mem(m: dict) -> str:
    return f"peak RSS {m.get('peak_rss_mb', 0):6.0f} MB" + (
        f", GPU {m['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in m else ""
    )


def peak_for(name: str, peak: dict, device: str) -> float | None:
    """The matmul peak in the dtype configuration ``name`` computes in (bf16 where it autocasts)."""
    import torch

    from dancenow.utils.precision import resolve_precision

    bf16 = name != REF and ("bf16" in name or resolve_precision("auto", torch.device(device)) is not None)
    return peak.get("bf16_gmac_per_s" if bf16 else "fp32_gmac_per_s")


def speedup_bound(runs: dict, inter: dict, device: str) -> float | None:
    """The most the default could be faster than the reference: the reference's step time over
    the default's arithmetic done at the matmul peak (no implementation of the same arithmetic
    can beat it). None when a figure is missing."""
    macs, top = (
        runs.get("default", {}).get("gmac_per_step"),
        peak_for("default", inter.get("peak", {}), device),
    )
    if not macs or not top or REF not in inter.get("step_s", {}):
        return None
    return inter["step_s"][REF] / (macs / top)


def report(size: str, r: dict, device: str) -> None:
    """Print one size's figures, with each training configuration's share of the matmul peak and
    the default's arithmetic bound."""
    p = r["pose"]
    print(f"\n== {size}")
    print(f"pose extraction     {p.get('frames_per_s', float('nan')):7.1f} frames/s   {fmt_mem(p)}" + _err(p))
    for stage, runs in r["train"].items():
        for name, m in runs.items():
            print(
                f"train {stage:6s} {name:26s} "
                + (
                    f"failed: {m['error']}"
                    if "error" in m
                    else f"{m.get('gmac_per_step', float('nan')):5.1f} GMAC/step  {fmt_mem(m)}"
                )
            )
        inter = r["interleaved"][stage]
        if "error" in inter:
            print(f"      {stage:6s} interleaved steps failed: {inter['error']}")
            continue
        ab, peak = inter["step_s"], inter["peak"]
        ref_step = ab[REF]
        print(
            f"      {stage:6s} steps interleaved in one process, median of {inter['rounds']}; matmul peak "
            + ", ".join(f"{k.split('_')[0]} {v:.0f} GMAC/s" for k, v in peak.items())
        )
        for name, step_s in ab.items():
            top, macs = peak_for(name, peak, device), runs.get(name, {}).get("gmac_per_step")
            use = (
                f"  {macs / step_s:5.1f} GMAC/s = {100 * macs / step_s / top:3.0f}% of peak"
                if macs and top
                else ""
            )
            size = runs.get(name, {}).get("image_size", "")
            fastest_step = inter["step_min_s"][name]
            print(
                f"        {name:26s} {step_s:7.3f} s/step {2 / step_s:6.2f} images/s ({size})"
                f"  x{ref_step / step_s:4.2f}{use}"
                f"  (fastest step {fastest_step:.3f} s, x{inter['step_min_s'][REF] / fastest_step:4.2f})"
            )
        bound = inter["speedup_bound"]
        if bound:
            print(
                f"        bound: the default's {runs['default']['gmac_per_step']:.1f} GMAC/step at the peak "
                f"take >= {ref_step / bound:.3f} s, so at most x{bound:.2f} the reference"
            )
    loader = r["loader"]
    default_step = r["interleaved"]["global"].get("step_s", {}).get("default")
    if "batches_per_s" in loader and default_step:
        headroom = loader["batches_per_s"] * default_step
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
            f"{t['transfer_fps']:.1f} frames/s ({t['transfer_frames']} frames)  {fmt_mem(t)}"
        )
        peak = t.get("peak", {}).get("fp32_gmac_per_s")
        if peak:
            print(f"                    (matmul peak right after: fp32 {peak:.0f} GMAC/s)")


def _err(m: dict) -> str:
    return f"  failed: {m['error']}" if "error" in m else ""


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

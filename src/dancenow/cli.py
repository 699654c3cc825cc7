"""``dancenow`` command line: thin wrappers that parse arguments and call library functions.

Exit status: 0 success, 2 bad input (one line naming the file and the problem), 1 internal
error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import errno
import os
import platform
import sys
from pathlib import Path

from dancenow import __version__
from dancenow.data import (
    APPEARANCE_MODES,
    DEFAULT_SIZE,
    DEFAULT_VAL_FRACTION,
    MAX_VAL_FRACTION,
    SIZE_MULTIPLE,
    size_problem,
)
from dancenow.errors import InputError
from dancenow.runfolder.config import DEFAULT_PRESET, PRESETS, STAGES
from dancenow.utils.outputs import check_outputs
from dancenow.utils.threads import choose_wait_policy

PROG = "dancenow"
_USER_ERRNOS = {
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
    errno.ELOOP,
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


# What --workers is capped at (dancenow.utils.machine.cap_workers), for --help
WORKERS_CAP = "at most one per CPU, and ~0.6 GB of available memory each"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 1-65535, got {value}")
    return value


def _frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected positive WIDTHxHEIGHT, got {text!r}")
    return w, h


# --- pose ------------------------------------------------------------------------------------
POSE_EXAMPLES = """examples:
  dancenow pose dance.mp4 -o dance_poses.npz --preview dance_poses.mp4
  dancenow pose long_video.mp4 -o poses.npz --workers 2
  dancenow pose dance.mp4 -o poses.npz --backend openpose-json --json-dir openpose_out/
  dancenow pose openpose_out/ -o poses.npz --backend openpose-json --frame-size 1920x1080 --fps 30
  dancenow pose dance.mp4 -o poses.npz --export-openpose openpose_json/
"""


def _add_pose(sub) -> None:
    p = sub.add_parser(
        "pose",
        help="detect openpose137 keypoints on every frame of a video",
        description="Detect body, face and hand keypoints (OpenPose BODY_25 + face 70 + hands 21 layout) on\n"
        "every frame of VIDEO, fill short dropouts, smooth, and write them to a .npz pose file.",
        epilog=POSE_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("video", type=Path, help="input video (or, with --backend openpose-json, a JSON folder)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output pose file (.npz)")
    p.add_argument(
        "--backend",
        choices=["mediapipe", "openpose-json"],
        default="mediapipe",
        help="pose detector (default: mediapipe, runs offline)",
    )
    p.add_argument("--json-dir", type=Path, help="folder of OpenPose JSON files (openpose-json backend)")
    p.add_argument(
        "--frame-size",
        type=_frame_size,
        metavar="WxH",
        help="frame size for OpenPose JSON when VIDEO is the JSON folder",
    )
    p.add_argument("--fps", type=float, default=30.0, help="frame rate for OpenPose JSON without a video")
    p.add_argument(
        "--preview",
        type=Path,
        metavar="OUT.mp4",
        help="also write the video with the stick figure drawn over it",
    )
    p.add_argument(
        "--export-openpose", type=Path, metavar="DIR", help="also write OpenPose JSON, one file per frame"
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help=f"parallel processes over contiguous chunks (default 1; {WORKERS_CAP})",
    )
    p.add_argument(
        "--no-cleanup", action="store_true", help="keep raw detections (no gap filling or smoothing)"
    )
    p.set_defaults(func=cmd_pose)


def cmd_pose(args) -> None:
    from dancenow.pose.posefile import save_poses

    if args.output.suffix.lower() != ".npz":
        raise InputError(args.output, "the pose file must have the .npz extension")
    if args.preview is not None and args.preview.suffix.lower() != ".mp4":
        raise InputError(args.preview, "the preview must be an .mp4 file")
    check_outputs(
        [args.video, args.json_dir], files=[args.output, args.preview], folders=[args.export_openpose]
    )
    if args.backend == "mediapipe":
        from dancenow.pose.extract import detect_video
        from dancenow.pose.posefile import pose_file_bytes
        from dancenow.utils.disk import check_free_space
        from dancenow.video import estimate_mp4_bytes, probe

        info = probe(args.video)
        check_free_space(args.output, pose_file_bytes(info.num_frames), "the pose file")
        if args.preview is not None:
            planned = estimate_mp4_bytes(info.num_frames, info.width, info.height, info.fps, info.has_audio)
            check_free_space(args.preview, planned, "the preview")
        poses = detect_video(args.video, workers=args.workers, cleanup=not args.no_cleanup)
    else:
        poses = _read_openpose(args)
    save_poses(args.output, poses)
    found = poses.detected().mean()
    print(
        f"wrote {args.output}: {len(poses)} frames, {poses.width}x{poses.height} @ {poses.fps:.3f} fps, "
        f"body found in {100 * found:.1f}% of frames"
    )
    if args.export_openpose is not None:
        from dancenow.pose.openpose_json import write_openpose_folder

        write_openpose_folder(poses, args.export_openpose)
        print(f"wrote {args.export_openpose}/ ({len(poses)} OpenPose JSON files)")
    if args.preview is not None:
        from dancenow.pose.preview import write_preview

        write_preview(args.video, poses, args.preview)
        print(f"wrote {args.preview}")


def _read_openpose(args):
    from dancenow.pose.cleanup import clean
    from dancenow.pose.openpose_json import read_openpose_folder

    json_dir = args.json_dir
    if json_dir is None:
        if not args.video.is_dir():
            raise InputError(
                args.video, "--backend openpose-json needs --json-dir DIR or a JSON folder as input"
            )
        json_dir = args.video
        if args.frame_size is None:
            raise InputError(
                json_dir, "OpenPose JSON has no frame size: give --frame-size WxH (or the video)"
            )
        width, height = args.frame_size
        poses = read_openpose_folder(json_dir, width=width, height=height, fps=args.fps)
    else:
        from dancenow.video import frame_times, probe

        info = probe(args.video)
        times = frame_times(args.video)
        poses = read_openpose_folder(json_dir, width=info.width, height=info.height, fps=info.fps)
        if len(times) != len(poses):
            raise InputError(
                json_dir, f"has {len(poses)} frames of JSON but {args.video} has {len(times)} frames"
            )
        poses.times = times
    if not poses.detected().any():
        raise InputError(json_dir, "no person in any frame")
    return poses if args.no_cleanup else clean(poses)


# --- prepare ---------------------------------------------------------------------------------
def _size(text: str) -> tuple[int, int]:
    """``256`` (square) or ``WIDTHxHEIGHT``."""
    if "x" in text.lower():
        w, h = _frame_size(text)
    else:
        try:
            w = h = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected PIXELS or WIDTHxHEIGHT, got {text!r}") from None
    problem = size_problem(w, h)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return w, h


def _val_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= MAX_VAL_FRACTION:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_VAL_FRACTION}], got {value}")
    return value


def _add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="turn a target video into a training dataset",
        description="Detect (or load) the target's poses, give each frame a portrait window that follows\n"
        "the person (one scale per video, smoothed), store frames and person masks at training size,\n"
        "compute face boxes, make a clean background plate without the person, and split off the\n"
        "last frames for validation.",
        epilog="examples:\n  dancenow prepare target.mp4 -o target_ds\n"
        "  dancenow prepare target.mp4 -o target_ds --poses target_poses.npz --size 384x512\n"
        "  dancenow prepare target.mp4 -o target_ds --full-frame --val-fraction 0.1",
        formatter_class=_formatter,
    )
    p.add_argument("video", type=Path, help="video of the target person (a few minutes is best)")
    p.add_argument("-o", "--output", type=Path, required=True, help="dataset folder to write")
    p.add_argument("--poses", type=Path, help="pose file from `dancenow pose` (default: detect now)")
    p.add_argument(
        "--size",
        type=_size,
        default=DEFAULT_SIZE,
        metavar="PIXELS",
        help=f"training frame size: PIXELS (square) or WIDTHxHEIGHT, multiples of {SIZE_MULTIPLE} "
        f"(default {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}, portrait; 384x512 for the paper preset)",
    )
    p.add_argument(
        "--val-fraction",
        type=_val_fraction,
        default=DEFAULT_VAL_FRACTION,
        help=f"last fraction held out, at most {MAX_VAL_FRACTION} (default {DEFAULT_VAL_FRACTION})",
    )
    p.add_argument(
        "--full-frame", action="store_true", help="keep the whole frame instead of cropping to the person"
    )
    p.add_argument(
        "--workers", type=_positive_int, default=1, help=f"pose worker processes (default 1; {WORKERS_CAP})"
    )
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args) -> None:
    from dancenow.data.prepare import prepare_dataset

    check_outputs([args.video, args.poses], replaced_folders=[args.output])
    out = prepare_dataset(
        args.video,
        args.output,
        poses=args.poses,
        size=args.size,
        val_fraction=args.val_fraction,
        full_frame=args.full_frame,
        workers=args.workers,
    )
    from dancenow.data.dataset import load_dataset_info

    info = load_dataset_info(out)
    (t0, t1), (v0, v1) = info.splits["train"], info.splits["val"]
    print(
        f"wrote {out}: {info.num_frames} frames at {info.width}x{info.height} "
        f"(train {t1 - t0}, val {v1 - v0}), "
        f"body found in {100 * info.body_detected_fraction:.1f}% of frames"
    )
    from dancenow.data.coverage import dataset_warnings

    for warning in dataset_warnings(out):
        print(f"{PROG}: warning: {out}: {warning}", file=sys.stderr)


# --- train -----------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the pose-to-image GAN on a dataset",
        description="Train pix2pixHD with EDN's temporal smoothing, stage by stage (global, local, face).\n"
        "Presets: tiny (tests), cpu (a useful model on a laptop CPU), paper (512x256 global,\n"
        "1024x512 local). Several GPUs: the same command under `torchrun --nproc_per_node N -m dancenow`.",
        epilog="examples:\n  dancenow train target_ds -o runs/target --preset cpu --minutes 30\n"
        "  dancenow train target_ds -o runs/target --resume\n"
        "  dancenow train target_ds -o runs/target --preset paper --stage global\n"
        "  torchrun --nproc_per_node 4 -m dancenow train target_ds -o runs/target --preset paper",
        formatter_class=_formatter,
    )
    p.add_argument("dataset", type=Path, help="dataset folder from `dancenow prepare`")
    p.add_argument("-o", "--output", type=Path, required=True, help="run folder to write")
    p.add_argument(
        "--preset",
        choices=PRESETS,
        default=DEFAULT_PRESET,
        help=f"model/schedule preset (default {DEFAULT_PRESET})",
    )
    p.add_argument("--stage", choices=[*STAGES, "all"], default="all", help="stage(s) to train")
    p.add_argument(
        "--max-steps", type=_positive_int, help="steps per stage (the learning rate decays over them)"
    )
    p.add_argument(
        "--minutes", type=float, help="wall-clock budget, shared by the stages in proportion to the schedule"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in -o from its last checkpoint")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], help="autocast precision (default from preset: auto)"
    )
    p.add_argument(
        "--perceptual", choices=["auto", "vgg19", "effnet-lite0", "none"], help="perceptual-loss network"
    )
    p.add_argument("--vgg-weights", type=Path, help="torchvision vgg19-dcbb9e9d.pth for --perceptual vgg19")
    p.add_argument("--batch-size", type=_positive_int, help="frame pairs per step per process")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument(
        "--reference",
        action="store_true",
        help="the plain fp32 eager implementation (separate D and G steps, PyTorch instance norm), "
        "for comparison and debugging",
    )
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument(
        "--appearance",
        choices=list(APPEARANCE_MODES),
        help="give G a training frame retrieved by pose, as it is or warped into the pose "
        "(default from preset: none)",
    )
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> None:
    from dancenow.training.run import train_run

    if args.minutes is not None and not 0 < args.minutes <= 100_000:
        raise InputError(None, f"--minutes must be positive, got {args.minutes}")
    check_outputs([args.dataset, args.vgg_weights], folders=[args.output])
    overrides: dict = {}
    if args.precision:
        overrides["precision"] = args.precision
    if args.perceptual or args.vgg_weights:
        overrides["loss"] = {
            k: v
            for k, v in (
                ("perceptual", args.perceptual),
                ("vgg_weights", str(args.vgg_weights) if args.vgg_weights else None),
            )
            if v is not None
        }
    if args.batch_size:
        overrides["optim"] = {"batch_size": args.batch_size}
    if args.compile:
        overrides["compile"] = True
    if args.channels_last:
        overrides["channels_last"] = True
    if args.reference:
        from dancenow.runfolder.config import REFERENCE_OVERRIDES

        overrides |= REFERENCE_OVERRIDES
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.appearance:
        overrides["model"] = {"appearance": args.appearance}
    if args.resume and overrides:
        raise InputError(
            args.output, "--resume continues with the run's saved config; drop the other model options"
        )
    from dancenow.training.loss import NonFiniteLoss
    from dancenow.training.trainer import TrainingInterrupted

    try:
        done = train_run(
            args.dataset,
            args.output,
            preset=args.preset,
            stage=args.stage,
            max_steps=args.max_steps,
            minutes=args.minutes,
            resume=args.resume,
            device=args.device,
            overrides=overrides,
        )
    except TrainingInterrupted as e:
        print(
            f"dancenow: {e}; continue with: dancenow train {args.dataset} -o {args.output} --resume",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except NonFiniteLoss as e:
        print(f"dancenow: error: {e}; the last checkpoint in {args.output} is intact", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"trained {', '.join(done) or 'nothing new'} -> {args.output}")


# --- transfer --------------------------------------------------------------------------------
def _add_transfer(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="make the trained target dance like a source video",
        description="Detect the source dancer's poses, normalize them to the target (paper §3.2), render\n"
        "stick figures in the target's frame and generate the target frame by frame (each output fed\n"
        "into the next), with the face GAN; writes an H.264 MP4 at the source's frame rate with its audio.",
        epilog="examples:\n  dancenow transfer --model runs/target --source dance.mp4 -o out.mp4\n"
        "  dancenow transfer --model runs/target --source dance.mp4 -o out.mp4 --side-by-side\n"
        "  dancenow transfer --model runs/target --source dance.mp4 --source-poses dance.npz -o out.mp4 \\\n"
        "      --no-audio",
        formatter_class=_formatter,
    )
    p.add_argument("--model", type=Path, required=True, help="run folder from `dancenow train`")
    p.add_argument("--source", type=Path, required=True, help="video of the source dancer")
    p.add_argument("-o", "--output", type=Path, required=True, help="output video (.mp4)")
    p.add_argument("--source-poses", type=Path, help="the source's pose file (default: detect now)")
    p.add_argument(
        "--normalize", choices=["paper", "none"], default="paper", help="global pose normalization"
    )
    p.add_argument(
        "--side-by-side",
        nargs="?",
        const=True,
        default=None,
        metavar="PATH",
        help="also write source | normalized pose | result (default PATH: OUT_side_by_side.mp4)",
    )
    p.add_argument("--no-audio", action="store_true", help="do not copy the source's audio")
    p.add_argument(
        "--no-enhance", action="store_true", help="skip the run's full-size enhancer (the plain enlargement)"
    )
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument(
        "--workers", type=_positive_int, default=1, help=f"pose worker processes (default 1; {WORKERS_CAP})"
    )
    p.set_defaults(func=cmd_transfer)


def cmd_transfer(args) -> None:
    from dancenow.inference.transfer import transfer

    sbs = args.side_by_side
    if sbs is True:
        sbs = args.output.with_name(f"{args.output.stem}_side_by_side.mp4")
    companions = [args.output.with_suffix(s) for s in (".poses.npz", ".normalization.json")]
    check_outputs([args.model, args.source, args.source_poses], files=[args.output, sbs, *companions])
    result = transfer(
        args.model,
        args.source,
        args.output,
        source_poses=args.source_poses,
        normalize_mode=args.normalize,
        side_by_side_path=sbs,
        audio=not args.no_audio,
        device=args.device,
        workers=args.workers,
        enhance=not args.no_enhance,
    )
    fps = result.frames / max(result.seconds_generating, 1e-9)
    print(
        f"wrote {result.output}: {result.frames} frames at {result.fps:.3f} fps "
        f"(generated at {fps:.1f} frames/s)"
        + (f"; side by side: {result.side_by_side}" if result.side_by_side else "")
        + f"; normalization: {result.normalization}"
    )


# --- evaluate --------------------------------------------------------------------------------
def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a model on held-out frames (paper Sec. 5), optionally against a baseline",
        description="Generate every held-out frame from its own pose (temporal feedback on) and compare it\n"
        "with the real frame: SSIM/PSNR on the body and face boxes, the body box's L1, a shift-tolerant\n"
        "perceptual distance (stlpips_alex; not the published LPIPS), pose distance between keypoints\n"
        "re-detected on generated and real frames (per part and per joint group, with PCK), missed\n"
        "detections and flicker. Frames stream through: memory does not grow with their number.",
        epilog="examples:\n  dancenow evaluate --model runs/target --data target_ds --json eval.json\n"
        "  dancenow evaluate --model runs/target --data target_ds --baseline nearest-pose --out eval/",
        formatter_class=_formatter,
    )
    p.add_argument("--model", type=Path, help="run folder (omit to score only the baseline)")
    p.add_argument("--data", type=Path, help="dataset folder from `dancenow prepare`")
    p.add_argument(
        "--transfer",
        type=Path,
        metavar="OUT.mp4",
        help="score a transfer instead: pose distance (per part, and per joint group with PCK and\n"
        "raised wrists kept) between OUT.poses.npz (the normalized source pose) and poses\n"
        "re-detected on OUT.mp4, and flicker",
    )
    p.add_argument("--split", choices=["val", "train", "all"], default="val")
    p.add_argument(
        "--baseline", choices=["nearest-pose"], help="also score the nearest-pose retrieval baseline"
    )
    p.add_argument("--json", type=Path, help="write the summary JSON here")
    p.add_argument("--out", type=Path, help="folder for evaluation.json, frames.csv, evaluation.md and plots")
    p.add_argument("--no-redetect", action="store_true", help="skip the pose-distance re-detection (faster)")
    p.add_argument(
        "--no-perceptual", action="store_true", help="skip the perceptual distance (stlpips_alex; faster)"
    )
    p.add_argument("--no-enhance", action="store_true", help="score without the run's full-size enhancer")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> None:
    import json

    from dancenow.evaluation.evaluate import evaluate, markdown_table
    from dancenow.utils.atomic import write_json

    if args.transfer is not None:
        from dancenow.evaluation.evaluate import transfer_fidelity
        from dancenow.pose.posefile import load_poses
        from dancenow.video import probe

        check_outputs([args.transfer, args.transfer.with_suffix(".poses.npz")], files=[args.json])
        probe(args.transfer)  # a bad video is named before its companion pose file
        poses = load_poses(args.transfer.with_suffix(".poses.npz"))
        result = transfer_fidelity(args.transfer, poses.keypoints)
        if args.json:
            write_json(args.json, result)
        print(json.dumps(result, indent=2))
        return
    if args.data is None:
        raise InputError(None, "--data DATASET is required (or --transfer OUT.mp4)")
    if args.model is None and args.baseline is None:
        raise InputError(None, "nothing to evaluate: give --model RUN and/or --baseline nearest-pose")
    check_outputs([args.model, args.data], files=[args.json], folders=[args.out])
    results = evaluate(
        args.model,
        args.data,
        split=args.split,
        baseline=args.baseline,
        out_dir=args.out,
        redetect=not args.no_redetect,
        perceptual=not args.no_perceptual,
        device=args.device,
        enhance=not args.no_enhance,
    )
    if args.json:
        write_json(args.json, results, default=str)
    print(markdown_table(results), end="")


# --- demo ------------------------------------------------------------------------------------
def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on generated dancers (no footage needed)",
        description="Generate a target and a source dancer, detect their poses, prepare and train on the\n"
        "target, transfer the source's dance onto it, and evaluate on held-out frames. Everything\n"
        "lands in DIR: transfer.mp4, side_by_side.mp4, run/, evaluation/, summary.json.",
        epilog="examples:\n  dancenow demo\n  dancenow demo -o /tmp/demo --minutes 10",
        formatter_class=_formatter,
    )
    p.add_argument("-o", "--output", type=Path, default=Path("dancenow_demo"), help="output folder")
    p.add_argument("--minutes", type=float, default=5.0, help="training budget in minutes (default 5)")
    p.add_argument(
        "--workers", type=_positive_int, default=1, help=f"pose worker processes (default 1; {WORKERS_CAP})"
    )
    p.add_argument("--max-steps", type=_positive_int, help=argparse.SUPPRESS)  # tests: a fixed tiny budget
    p.add_argument("--target-seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    p.add_argument("--source-seconds", type=float, default=8.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> None:
    from dancenow.demo import run_demo

    if not 0 < args.minutes <= 600:
        raise InputError(None, f"--minutes must be in (0, 600], got {args.minutes}")
    check_outputs(folders=[args.output])
    s = run_demo(
        args.output,
        minutes=args.minutes,
        workers=args.workers,
        max_steps=args.max_steps,
        target_seconds=args.target_seconds,
        source_seconds=args.source_seconds,
    )
    d = s["detector"]["target"]
    m, b = s["held_out"]["model"], s["held_out"]["nearest-pose"]
    print(f"\ndone in {s['seconds'] / 60:.1f} min ({args.output}/)")
    print(
        f"  detector on the generated target: body found in {100 * d['body_found']:.0f}% of frames, "
        f"median error {100 * d['body_median_error_over_height']:.1f}% of body height"
    )
    print(
        f"  held-out body SSIM: model {m.get('body_ssim', float('nan')):.3f}, "
        f"nearest-pose baseline {b.get('body_ssim', float('nan')):.3f}"
    )
    print(f"  watch {args.output / 'side_by_side.mp4'} and {args.output / 'transfer.mp4'}")


# --- env -------------------------------------------------------------------------------------
def _add_env(sub) -> None:
    p = sub.add_parser(
        "env",
        help="print versions and hardware facts (for bug reports)",
        description="Print the versions of dancenow and its dependencies and what hardware is visible.",
    )
    p.set_defaults(func=cmd_env)


def cmd_env(args) -> None:
    import importlib.metadata as md

    print(f"dancenow {__version__}")
    print(f"python {platform.python_version()} ({platform.machine()}, {platform.system()})")
    from dancenow.utils.machine import cpu_model

    print(f"cpus {os.cpu_count()} ({cpu_model()})")
    for name in ("numpy", "av", "mediapipe", "opencv-contrib-python", "torch", "safetensors"):
        try:
            print(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            print(f"{name} not installed")
    try:
        import torch

        print(f"torch cuda available: {torch.cuda.is_available()}")
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                print(f"  cuda:{i} {torch.cuda.get_device_name(i)}")
    except ImportError:
        pass


# --- ui --------------------------------------------------------------------------------------
def _add_ui(sub) -> None:
    p = sub.add_parser(
        "ui",
        help="the web interface: train and transfer from a browser",
        description="Start a local web page (Gradio) for the whole pipeline: upload a target video and see\n"
        "its stick figures, train with live losses and samples (stop/resume), transfer a source video\n"
        "and download the result. Targets, runs and results persist in --workspace.\n"
        "Needs the 'ui' extra: pip install 'dancenow[ui]'.",
        epilog="examples:\n  dancenow ui\n  dancenow ui --workspace ~/dance --port 8080\n"
        "  dancenow ui --host 0.0.0.0          # reachable from other machines: only on a trusted network",
        formatter_class=_formatter,
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=_port, default=7860, help="port, 1-65535 (default 7860)")
    p.add_argument(
        "--workspace",
        type=Path,
        default=Path("dancenow_workspace"),
        help="folder for uploads, datasets, runs and results (default ./dancenow_workspace)",
    )
    p.add_argument("--max-upload-mb", type=float, default=500.0, help="largest accepted upload (default 500)")
    p.add_argument(
        "--share", action="store_true", help="also open a public gradio.live link (off by default)"
    )
    p.set_defaults(func=cmd_ui)


def cmd_ui(args) -> None:
    import importlib.util
    import signal

    if not 0 < args.max_upload_mb <= 1_000_000:
        raise InputError(None, f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if args.workspace.exists() and not args.workspace.is_dir():
        raise InputError(args.workspace, "is not a folder")
    check_outputs(folders=[args.workspace])
    if importlib.util.find_spec("gradio") is None:
        raise InputError(None, "the web interface needs gradio: pip install 'dancenow[ui]'")
    from dancenow.ui.app import launch

    def terminate(signum, frame):
        raise KeyboardInterrupt  # the server closes and a running training job checkpoints

    signal.signal(signal.SIGTERM, terminate)
    launch(
        args.workspace,
        host=args.host,
        port=args.port,
        share=args.share,
        max_upload_mb=args.max_upload_mb,
    )


# --- entry point -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="dancenow: make anyone dance (Everybody Dance Now, Chan et al. 2018).",
        epilog="Run 'dancenow COMMAND --help' for the options and examples of each command.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"dancenow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_pose(sub)
    _add_prepare(sub)
    _add_train(sub)
    _add_transfer(sub)
    _add_evaluate(sub)
    _add_demo(sub)
    _add_env(sub)
    _add_ui(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if "torch" not in sys.modules:
        # Before the command imports torch: spinning OpenMP waiters when the machine is idle (1.2x
        # faster), sleeping ones when other processes keep a core busy (spinning then costs 2x
        # or more). An OMP_WAIT_POLICY set by the user wins. Once torch is loaded (a caller that
        # imported it, the web UI's server) the policy is fixed, so nothing is sampled.
        choose_wait_policy()
    try:
        args.func(args)
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # the file system refused (read-only, permissions, full disk) after the checks up front
        # passed: the user's to fix, so one line naming the file, not a traceback
        if e.errno not in _USER_ERRNOS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"{PROG}: error: {where}{e.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

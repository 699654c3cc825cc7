"""``dancenow`` command line: thin wrappers that parse arguments and call library functions.

Exit status: 0 success, 2 bad input (one line naming the file and the problem), 1 internal
error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from dancenow import __version__
from dancenow.errors import InputError

PROG = "dancenow"


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
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
        help="parallel processes over contiguous chunks (default 1)",
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
    if args.backend == "mediapipe":
        from dancenow.pose.extract import detect_video

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


# --- demo ------------------------------------------------------------------------------------
def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the pipeline on a generated dancer (no footage needed)",
        description="Generate a dancer video with known keypoints, detect its poses, write a preview and\n"
        "score the detector against the exact keypoints. Everything lands in DIR.",
        epilog="examples:\n  dancenow demo\n  dancenow demo -o /tmp/demo --seconds 20",
        formatter_class=_formatter,
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("dancenow_demo"),
        help="output folder (default ./dancenow_demo)",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip (default 10)")
    p.add_argument("--workers", type=_positive_int, default=1, help="pose worker processes (default 1)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> None:
    from dancenow.demo import run_demo

    if not 1.0 <= args.seconds <= 600:
        raise InputError(None, f"--seconds must be between 1 and 600, got {args.seconds}")
    s = run_demo(args.output, seconds=args.seconds, workers=args.workers)
    print(
        f"done in {s['seconds']:.0f} s: {s['frames']} frames; body found in {100 * s['body_found']:.0f}% "
        f"(median error {100 * s['body_median_error_over_height']:.1f}% of body height), face "
        f"{100 * s['face_found']:.0f}%, hands {100 * s['left_hand_found']:.0f}%"
        f"/{100 * s['right_hand_found']:.0f}%"
    )
    print(f"look at {args.output / 'target_preview.mp4'}; summary in {args.output / 'summary.json'}")


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
    import os

    print(f"dancenow {__version__}")
    print(f"python {platform.python_version()} ({platform.machine()}, {platform.system()})")
    print(f"cpus {os.cpu_count()}")
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
    _add_demo(sub)
    _add_env(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

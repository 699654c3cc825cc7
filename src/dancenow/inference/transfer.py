"""``dancenow transfer``: make the target (a trained run) dance like the source video.

source video ──pose──▶ source poses ──normalize (paper §3.2) to the target's statistics──▶
target-video pixels ──a window per frame around the pose, at the target's scale──▶ model pixels
──render──▶ labels ──G: foreground + alpha over the plate (previous frame fed back) + face
residual──▶ generated crops ──(the full-size enhancer, when the run has one)──composited into
the full-resolution plate with the enlarged alpha──▶ H.264 MP4 at the source's frame rate, with
the source's audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from dancenow.data.crop import (
    ScaledCropper,
    face_boxes,
    full_frame_window,
    person_windows,
    transform_keypoints,
    valid_region,
)
from dancenow.data.dataset import image_to_tensor, label_from_keypoints, tensor_to_image
from dancenow.data.fullsize import FullSizeInputs
from dancenow.errors import InputError
from dancenow.inference.model import TrainedModel, load_model
from dancenow.models.blocks import set_norm_kernel
from dancenow.models.composite import next_frame
from dancenow.models.enhancer import refine
from dancenow.pose.layout import BODY
from dancenow.pose.normalize import compute_stats, fit_frame, normalize
from dancenow.pose.posefile import PoseSequence, load_poses_of, pose_file_bytes, save_poses
from dancenow.pose.render import render_pose
from dancenow.runfolder.folder import read_background, read_pose_stats
from dancenow.utils.atomic import write_json
from dancenow.utils.disk import check_free_space
from dancenow.utils.precision import default_device, resolve_precision
from dancenow.utils.progress import progress as progress_bar
from dancenow.video import VideoWriter, estimate_mp4_bytes, iter_frames, probe

log = logging.getLogger(__name__)


@dataclass
class TransferResult:
    output: Path
    frames: int
    fps: float
    normalization: Path  # the JSON of normalization parameters written next to the output
    poses: Path  # the normalized source poses in the output's pixels (pose file), for fidelity checks
    side_by_side: Path | None
    seconds_generating: float  # wall time spent in the generator (for frames/s)


def fill_missing(keypoints: np.ndarray) -> tuple[np.ndarray, int]:
    """Frames without a body reuse the last valid pose (the first valid one before any);
    returns the filled ``(T, 137, 3)`` and how many frames were filled."""
    found = (keypoints[:, BODY, 2] > 0).any(axis=1)
    if not found.any():
        return keypoints, 0
    out = keypoints.copy()
    last = int(np.flatnonzero(found)[0])
    for t in range(len(out)):
        if found[t]:
            last = t
        else:
            out[t] = keypoints[last]
    return out, int((~found).sum())


def target_windows(model: TrainedModel, keypoints: np.ndarray, fps: float) -> np.ndarray:
    """``(T, 4)`` crop windows (target-video pixels) for poses in target-video pixels: the
    target's own window rule and size (one scale, following the person, smoothed), or the
    letterboxed whole frame for a ``full_frame`` run."""
    facts = model.data
    if facts.full_frame:
        w, h = facts.size
        window = full_frame_window(facts.source_size, w / h)
        return np.tile(np.asarray(window, np.int64), (len(keypoints), 1))
    return person_windows(keypoints, facts.window_size, fps)


class Compositor:
    """Lay a generated crop over the target's full-resolution background plate with its alpha.

    The crop (already composited over the plate at model size) and its alpha are enlarged to the
    window; the frame is ``A * crop + (1 - A) * plate``, so where alpha is 0 the plate stays,
    sharp at full resolution. The part of the window beyond the frame is dropped.
    """

    def __init__(self, background: np.ndarray):
        self.background = background

    def __call__(self, crop: np.ndarray, alpha: np.ndarray, window) -> np.ndarray:
        h, w = self.background.shape[:2]
        x0, y0, x1, y1 = (int(v) for v in window)
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        out = self.background.copy()
        if fx1 <= fx0 or fy1 <= fy0:
            return out
        size = (x1 - x0, y1 - y0)
        big = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        a = cv2.resize(alpha.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        a = np.ascontiguousarray(np.clip(a[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0], 0.0, 1.0))
        region = out[fy0:fy1, fx0:fx1]
        # a·crop + (1 - a)·plate, rounded: OpenCV's blend is 16x faster than the same float32
        # NumPy expression on a 1080-px window
        region[:] = cv2.blendLinear(big, region, a, 1.0 - a)
        return out


class FullSizeEnhancer:
    """The run's full-size enhancer (:mod:`dancenow.models.enhancer`) on each generated crop:
    ``(crop, alpha, keypoints, window) -> (rgb (H, W, 3) uint8, alpha (H, W) float32)`` at the
    output's size, for the :class:`Compositor` to lay over the plate as it lays a plain crop."""

    def __init__(
        self,
        model: TrainedModel,
        background: np.ndarray,
        device: torch.device,
        amp_dtype: torch.dtype | None = None,
        *,
        fast: bool = True,
    ):
        facts = model.data
        self.inputs = FullSizeInputs(background, facts.source_size, facts.window_size, model.size)
        self.net, self.device, self.amp_dtype = model.enhancer, device, amp_dtype
        self.format = torch.channels_last if fast else torch.contiguous_format
        self.net.to(memory_format=self.format)

    @torch.inference_mode()
    def __call__(self, crop: np.ndarray, alpha: np.ndarray, keypoints: np.ndarray, window):
        x = {
            k: v[None].to(self.device)
            for k, v in self.inputs(crop, alpha, keypoints, window).tensors().items()
        }
        x = {k: v.contiguous(memory_format=self.format) for k, v in x.items()}
        amp = self.amp_dtype
        with torch.autocast(self.device.type, dtype=amp) if amp is not None else nullcontext():
            rgb, a = refine(self.net, x["composite"], x["alpha"], x["label"], x["plate"])
        return tensor_to_image(rgb[0].float()), a[0, 0].float().cpu().numpy()


def prepare_for_inference(model: TrainedModel, *, fast: bool = True) -> None:
    """Set the generators' execution format in place. ``fast`` (default): channels-last tensors
    and instance norm on the group-norm kernel, 1.2-1.65x faster on this project's CPU (see
    docs/BENCHMARKS.md); else the reference: contiguous tensors, PyTorch's instance norm."""
    fmt = torch.channels_last if fast else torch.contiguous_format
    for net in (model.generator, model.face_generator):
        if net is not None:
            set_norm_kernel(net.to(memory_format=fmt), "group" if fast else "instance")


@torch.inference_mode()
def generate(
    model: TrainedModel,
    keypoints: np.ndarray,
    windows: np.ndarray,
    background: np.ndarray,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    fast: bool = True,
    progress: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(frame (h, w, 3) uint8, alpha (h, w) float32, label (h, w, 3) uint8)`` per frame.

    Args:
        keypoints: ``(T, 137, 3)`` in model pixels (each frame in its own window).
        windows: ``(T, 4)`` the frames' windows in target-video pixels.
        background: the target's plate at the video's full size, ``(H, W, 3)`` uint8 RGB.

    Each frame is the generated foreground composited over the plate in its window (black beyond
    the video), with the face residual; it is fed back as the next frame's previous frame (EDN
    temporal smoothing). A model with appearance conditioning also sees, per frame, the target's
    training frame nearest to the pose (all frames retrieved in one pass), as it is or warped
    into the pose (:class:`~dancenow.data.appearance.AppearanceBank`). ``fast``: see
    :func:`prepare_for_inference`. (Drawing the next label on a second thread while the generator
    runs was measured slower on 2 cores: it competes with torch's own threads.)
    """
    w, h = model.size
    facts = model.data
    boxes = face_boxes(keypoints, h, w, model.face_size) if model.face_generator is not None else None
    plates = ScaledCropper(background, facts.source_size, facts.window_size, (w, h))
    prepare_for_inference(model, fast=fast)
    fmt = torch.channels_last if fast else torch.contiguous_format
    prev = None
    bank, mode = model.appearance, model.config.model.appearance
    nearest = bank.retrieve(keypoints)[:, 0] if bank is not None else None
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    bar = progress_bar(len(keypoints), "transfer", "frame", enabled=progress)
    for t, kp in enumerate(keypoints):
        label = label_from_keypoints(kp, h, w)[None].to(device).contiguous(memory_format=fmt)
        look = None
        if bank is not None:
            rgb, seen = bank.condition(int(nearest[t]), kp, mode)
            look = torch.cat([image_to_tensor(rgb), torch.from_numpy(seen)[None]])[None]
            look = look.to(device).contiguous(memory_format=fmt)
        plate = image_to_tensor(plates(windows[t]))[None].to(device)
        valid = torch.from_numpy(valid_region(windows[t], facts.source_size, (w, h)))[None, None].float()
        with autocast:
            fake, alpha = next_frame(
                model.generator,
                model.face_generator,
                label,
                prev,
                plate,
                valid.to(device),
                torch.from_numpy(boxes[t : t + 1]) if boxes is not None else None,
                temporal=model.config.model.temporal,
                appearance=look,
            )
        fake = fake.float().clamp(-1, 1)
        prev = fake
        bar.update(1)
        yield (
            tensor_to_image(fake[0].cpu()),
            alpha[0, 0].float().cpu().numpy(),
            tensor_to_image(label[0].cpu()),
        )
    bar.close()


def _label_text(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    scale = max(0.5, image.shape[0] / 720)
    thickness = max(1, round(2 * scale))
    org = (int(12 * scale), int(34 * scale))
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def side_by_side(source: np.ndarray, stick: np.ndarray, result: np.ndarray, height: int) -> np.ndarray:
    """``source | normalized stick figure | result``, each scaled to ``height`` and labelled."""
    panels = []
    for image, name in ((source, "source"), (stick, "normalized pose"), (result, "result")):
        h, w = image.shape[:2]
        scaled = cv2.resize(image, (max(2, round(w * height / h)), height), interpolation=cv2.INTER_AREA)
        panels.append(_label_text(scaled, name))
    return np.concatenate(panels, axis=1)


def _check_disk(output: Path, sbs: Path | None, model: TrainedModel, info, audio: bool) -> None:
    """Refuse to start when the planned videos (and the small JSON/pose files) cannot fit."""
    w, h = (max(a, b) for a, b in zip(model.data.source_size, model.size, strict=True))
    audio = audio and info.has_audio
    planned = estimate_mp4_bytes(info.num_frames, w, h, info.fps, audio) + pose_file_bytes(info.num_frames)
    if sbs is not None:  # three panels, each at most 720 px high
        sh = min(720, h)
        sw = 3 * max(round(w * sh / h), round(info.width * sh / max(info.height, 1)))
        planned += estimate_mp4_bytes(info.num_frames, sw, sh, info.fps, audio)  # usually the same disk
    check_free_space(output, planned, "the transfer")


def transfer(
    run: str | Path,
    source: str | Path,
    output: str | Path,
    *,
    source_poses: str | Path | None = None,
    normalize_mode: str = "paper",
    side_by_side_path: str | Path | None = None,
    audio: bool = True,
    device: str | None = None,
    workers: int = 1,
    progress: bool = True,
    enhance: bool = True,
) -> TransferResult:
    """Generate ``output``: the target of ``run`` performing the moves of the ``source`` video.

    ``enhance``: use the run's full-size enhancer when it has one (False: the plain enlargement)."""
    started = time.perf_counter()
    run, source, output = Path(run), Path(source), Path(output)
    sbs = Path(side_by_side_path) if side_by_side_path is not None else None
    dev = default_device(device)

    # 1. check inputs: every option and input file, before any long work
    _check_options(normalize_mode, output)
    info = probe(source)
    poses = load_poses_of(source_poses, source, (info.width, info.height)) if source_poses else None

    # 2. load the run: networks, the target's background and pose statistics
    model = load_model(run, dev)
    compositor = Compositor(read_background(run, model.run))
    target_stats = read_pose_stats(run) if normalize_mode == "paper" else None
    _check_disk(output, sbs, model, info, audio)

    # 3. the source's poses, frames without a body filled from the last one with a body
    if poses is None:
        from dancenow.pose.extract import detect_video

        poses = detect_video(source, workers=workers, progress=progress)
    keypoints, filled = fill_missing(poses.keypoints)

    # 4. normalize: source pixels -> target-video pixels (paper §3.2) -> model pixels
    if target_stats is not None:
        try:
            result = normalize(keypoints, compute_stats(keypoints), target_stats)
        except InputError as e:  # about the source's poses: name where they came from
            raise InputError(e.path or source_poses or source, e.problem) from None
    else:
        result = fit_frame(keypoints, (poses.width, poses.height), model.data.source_size)
    target_px = result.keypoints
    windows = target_windows(model, target_px, info.fps)
    model_px = transform_keypoints(target_px, windows, model.data.size)
    params = result.params | {
        "frames_without_pose_reused_last": filled,
        "source": str(source),
        "run": str(run),
        "framing": "target video (generated person composited into its background plate)",
    }

    # 5. generate frame by frame and write the video(s)
    if not enhance:
        model.enhancer = None
    frames, generating = _write_videos(
        model, model_px, windows, target_px, compositor, source, output, sbs, info.fps, audio, dev, progress
    )

    # 6. write what was done: the normalization parameters and the normalized poses
    norm_path = output.with_suffix(".normalization.json")
    write_json(norm_path, params)
    poses_path = output.with_suffix(".poses.npz")
    height, width = compositor.background.shape[:2]
    detector = f"normalized:{poses.detector}"
    save_poses(
        poses_path, PoseSequence(target_px, fps=info.fps, width=width, height=height, detector=detector)
    )
    log.info("transfer took %.1f s", time.perf_counter() - started)
    return TransferResult(output, frames, info.fps, norm_path, poses_path, sbs, generating)


def _check_options(normalize_mode: str, output: Path) -> None:
    if normalize_mode not in ("paper", "none"):
        raise InputError(None, f"--normalize must be paper or none, got {normalize_mode!r}")
    if output.suffix.lower() != ".mp4":
        raise InputError(output, "the output must be an .mp4 file")


def _write_videos(
    model: TrainedModel,
    model_px: np.ndarray,
    windows: np.ndarray,
    target_px: np.ndarray,
    compositor: Compositor,
    source: Path,
    output: Path,
    sbs: Path | None,
    fps: float,
    audio: bool,
    device: torch.device,
    progress: bool,
) -> tuple[int, float]:
    """Generate every frame into ``output`` (and ``sbs``): (frames written, seconds generating).

    Both videos are written to temporary files and renamed only when everything succeeded.
    """
    audio_from = source if audio else None
    generating, n = 0.0, 0
    with ExitStack() as stack:
        writer = stack.enter_context(VideoWriter(output, fps, audio_from=audio_from))
        sbs_writer = stack.enter_context(VideoWriter(sbs, fps, audio_from=audio_from)) if sbs else None
        frames = iter_frames(source) if sbs_writer is not None else None
        # bf16 autocast where the hardware runs it natively (GPUs, recent CPUs), else fp32
        amp = resolve_precision("auto", device)
        gen = generate(
            model, model_px, windows, compositor.background, device=device, amp_dtype=amp, progress=progress
        )
        enhancer = (
            FullSizeEnhancer(model, compositor.background, device, amp)
            if model.enhancer is not None
            else None
        )
        while True:
            t0 = time.perf_counter()
            item = next(gen, None)
            if item is not None and enhancer is not None:
                item = (*enhancer(item[0], item[1], model_px[n], windows[n]), item[2])
            generating += time.perf_counter() - t0
            if item is None:
                break
            frame_out = compositor(item[0], item[1], windows[n])
            writer.write(frame_out)
            if sbs_writer is not None:
                stick = render_pose(target_px[n], *frame_out.shape[:2])
                sbs_writer.write(
                    side_by_side(next(frames).image, stick, frame_out, min(720, frame_out.shape[0]))
                )
            n += 1
    return n, generating

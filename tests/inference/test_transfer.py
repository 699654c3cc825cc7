"""``dancenow transfer`` end to end on a tiny run and a generated source dancer, and its bad input."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch
from runs import rigged_run
from safetensors.torch import save_file

from dancenow.inference.transfer import Compositor, fill_missing
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.synthetic.performer import SOURCE
from dancenow.synthetic.video import make_clip
from dancenow.video import probe

pytestmark = pytest.mark.usefixtures("one_thread")


def _add_audio(video, out, seconds: float) -> None:
    """Remux ``video`` with a 440 Hz AAC tone into ``out``."""
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream("aac", rate=44100)
        aout.layout = "mono"
        for packet in src.demux(vin):
            if packet.dts is not None:
                packet.stream = vout
                dst.mux(packet)
        t = np.arange(int(seconds * 44100)) / 44100
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for i in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, i : i + 1024], format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = i
            frame.time_base = Fraction(1, 44100)
            dst.mux(aout.encode(frame))
        dst.mux(aout.encode(None))


@pytest.fixture(scope="module")
def source_clip(tmp_path_factory):
    """A 1.5 s portrait source dancer (different performer) with audio, and its exact poses."""
    root = tmp_path_factory.mktemp("source")
    kp = make_clip(root / "silent.mp4", seconds=1.5, fps=12, size=(96, 128), appearance=SOURCE, seed=7)
    _add_audio(root / "silent.mp4", root / "source.mp4", 1.5)
    save_poses(root / "source.npz", PoseSequence(kp, fps=12, width=96, height=128, detector="synthetic"))
    return root / "source.mp4", root / "source.npz"


def test_transfer_writes_video_with_source_timing_audio_and_side_by_side(
    tiny_run, source_clip, tmp_path, cli
):
    video, poses = source_clip
    out = tmp_path / "out.mp4"
    result = cli(
        "transfer",
        "--model",
        tiny_run,
        "--source",
        video,
        "--source-poses",
        poses,
        "-o",
        out,
        "--side-by-side",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    src, dst = probe(video), probe(out)
    assert dst.num_frames == src.num_frames == 18
    assert dst.fps == pytest.approx(src.fps)
    assert src.has_audio and dst.has_audio
    # the target's framing: the output has the target video's size (128x128), not the model's 64x64
    assert (dst.width, dst.height) == (128, 128)
    sbs = probe(tmp_path / "out_side_by_side.mp4")
    assert sbs.num_frames == 18 and sbs.width > 2 * sbs.height
    params = json.loads((tmp_path / "out.normalization.json").read_text())
    assert params["anchor"] == "ankle" and len(params["scale"]) == 18
    # the normalized source pose is saved for fidelity checks, and `evaluate --transfer` scores it
    assert (tmp_path / "out.poses.npz").is_file()
    fidelity = cli("evaluate", "--transfer", out, "--json", tmp_path / "fidelity.json")
    assert fidelity.returncode == 0, fidelity.stderr
    scores = json.loads((tmp_path / "fidelity.json").read_text())
    assert scores["frames"] == 18 and 0 <= scores["missed_body_rate"] <= 1 and scores["flicker"] > 0


def test_no_audio_flag_and_no_normalization(tiny_run, source_clip, tmp_path, cli):
    video, poses = source_clip
    out = tmp_path / "plain.mp4"
    result = cli(
        "transfer",
        "--model",
        tiny_run,
        "--source",
        video,
        "--source-poses",
        poses,
        "-o",
        out,
        "--no-audio",
        "--normalize",
        "none",
    )
    assert result.returncode == 0, result.stderr
    assert not probe(out).has_audio and probe(out).num_frames == 18


def test_bad_runs_exit_2_and_leave_nothing(tiny_run, source_clip, tmp_path, cli):
    video, poses = source_clip
    out = tmp_path / "o.mp4"
    args = ("--source", video, "--source-poses", poses, "-o", out)
    cli.error(cli("transfer", "--model", tmp_path / "nope", *args), "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{")
    cli.error(cli("transfer", "--model", broken, *args), "config.json")
    # weights that do not match config.json
    import shutil

    mismatched = tmp_path / "mismatched"
    shutil.copytree(tiny_run, mismatched)
    save_file({"weight": torch.zeros(3)}, str(mismatched / "global_generator.safetensors"))
    cli.error(cli("transfer", "--model", mismatched, *args), "global_generator.safetensors", "do not match")
    assert not out.exists() and not list(tmp_path.glob("*.mp4"))


def test_source_without_a_person_exits_2(tiny_run, tmp_path, cli):
    from dancenow.video import write_video

    video = tmp_path / "empty_room.mp4"
    write_video(video, (np.full((96, 128, 3), 90, np.uint8) for _ in range(8)), fps=8)
    cli.error(
        cli("transfer", "--model", tiny_run, "--source", video, "-o", tmp_path / "o.mp4"),
        "empty_room.mp4",
        "no person",
    )
    assert not (tmp_path / "o.mp4").exists()


def test_fill_missing_reuses_last_valid_pose():
    kp = np.zeros((5, 137, 3), np.float32)
    kp[1, :25] = (10, 20, 1)
    kp[3, :25] = (30, 40, 1)
    filled, n = fill_missing(kp)
    assert n == 3
    assert (
        np.array_equal(filled[0], kp[1])
        and np.array_equal(filled[2], kp[1])
        and np.array_equal(filled[4], kp[3])
    )


def test_compositor_pastes_inside_the_window_only():
    background = np.zeros((100, 200, 3), np.uint8)
    comp = Compositor(background)
    window = (50, -20, 150, 80)  # partly above the frame
    out = comp(np.full((64, 64, 3), 255, np.uint8), np.ones((64, 64), np.float32), window)
    assert out.shape == background.shape and not background.any()  # the plate is not touched
    assert out[:, :50].max() == 0 and out[:, 150:].max() == 0 and out[80:].max() == 0
    assert out[:80, 50:150].min() == 255
    # a window wholly beyond the frame leaves the plate as it is
    assert not comp(
        np.full((64, 64, 3), 255, np.uint8), np.ones((64, 64), np.float32), (-300, 0, -200, 100)
    ).any()


def test_compositor_keeps_the_sharp_plate_where_alpha_is_zero():
    """``A·crop + (1 - A)·plate`` with the alpha enlarged to the window: where alpha is 0 the
    output is the full-resolution plate exactly (its finest detail included), where 1 the crop."""
    rng = np.random.default_rng(0)
    plate = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # detail at the finest scale
    comp = Compositor(plate)
    crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alpha = np.zeros((64, 64), np.float32)
    alpha[:, 32:] = 1.0  # the right half is the person
    window = (-10, 20, 118, 148)  # 2x: beyond the left and bottom edges
    out = comp(crop, alpha, window)
    big = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_CUBIC)
    # outside the window, and inside it where alpha is 0 (away from the alpha edge): the plate
    assert np.array_equal(out[:20], plate[:20]) and np.array_equal(out[:, 118:], plate[:, 118:])
    assert np.array_equal(out[20:, :50], plate[20:, :50])  # window columns < 60 - 1 have alpha 0
    # where alpha is 1: the enlarged crop
    assert np.array_equal(out[20:, 56:118], big[:100, 66:128])
    # in between, the alpha formula, rounded
    a = cv2.resize(alpha, (128, 128), interpolation=cv2.INTER_LINEAR)[:100, 10:128, None]
    expected = (a * big[:100, 10:128] + (1 - a) * plate[20:, :118].astype(np.float32)).round()
    diff = np.abs(out[20:, :118].astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.02  # a value ending in .5 may round either way
    assert 0 < a[0, 53, 0] < 1 and 0 < a[0, 54, 0] < 1  # the alpha edge is blended, not cut
    assert not np.array_equal(out[20:, 53:55], plate[20:, 53:55])


def test_transfer_output_is_the_plate_outside_alpha(tiny_run, source_clip, tmp_path):
    """End to end, decoded: where alpha is 0 the written frames are the run's full-resolution
    plate (to within H.264 noise); where alpha is 1, the generated crop, inside each frame's window."""
    from dancenow.data.crop import person_windows
    from dancenow.inference.transfer import transfer
    from dancenow.pose.posefile import load_poses
    from dancenow.runfolder.folder import read_background, read_config
    from dancenow.video import iter_frames

    video, poses = source_clip
    config = read_config(tiny_run)
    plate = read_background(tiny_run, config).astype(int)
    out = tmp_path / "clear.mp4"
    transfer(
        rigged_run(tiny_run, tmp_path / "clear", alpha=0, rgb=0.5),
        video,
        out,
        source_poses=poses,
        audio=False,
        progress=False,
    )
    frames = [f.image.astype(int) for f in iter_frames(out)]
    assert len(frames) == 18
    for frame in frames:
        assert frame.shape == plate.shape
        diff = np.abs(frame - plate)
        # measured: mean 1.5, 99th percentile 5 levels; pasting the model-size crop over the
        # plate instead gives a 99th percentile of 42-100
        assert diff.mean() < 2.5 and np.percentile(diff, 99) < 10

    # alpha 1: a flat 0.5 grey (level 191) in each frame's window, the plate elsewhere
    out = tmp_path / "solid.mp4"
    transfer(
        rigged_run(tiny_run, tmp_path / "solid", alpha=1, rgb=0.5),
        video,
        out,
        source_poses=poses,
        audio=False,
        progress=False,
    )
    target = load_poses(out.with_suffix(".poses.npz"))
    windows = person_windows(target.keypoints, config.data.window_size, target.fps)
    h, w = plate.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    m = 4  # H.264 and the enlarged crop's edge (black beyond the video) blur a few pixels
    checked = 0
    for frame, (x0, y0, x1, y1) in zip(iter_frames(out), windows, strict=True):
        image = frame.image.astype(int)
        inside = (
            (xx >= max(x0, 0) + m) & (xx < min(x1, w) - m) & (yy >= max(y0, 0) + m) & (yy < min(y1, h) - m)
        )
        outside = (xx < x0 - m) | (xx >= x1 + m) | (yy < y0 - m) | (yy >= y1 + m)
        assert inside.mean() > 0.1
        assert np.abs(image[inside] - 191).mean() < 3
        if outside.any():
            assert np.abs(image[outside] - plate[outside]).mean() < 3
            checked += 1
    assert checked > 0

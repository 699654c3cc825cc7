"""``dancenow transfer`` end to end on a tiny run and a generated source dancer, and its bad input."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch
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
    comp = Compositor(background, (50, -20, 150, 80))  # partly above the frame
    out = comp(np.full((64, 64, 3), 255, np.uint8))
    assert out.shape == background.shape
    assert out[:, :45].max() == 0 and out[:, 155:].max() == 0
    assert out[10:70, 60:140].min() == 255


def test_compositor_feathers_the_border_with_the_alpha_formula():
    """The pasted window is ``alpha·crop + (1 - alpha)·background``, rounded, with alpha ramping
    from 0 at the window's edges inside the frame to 1 in its middle; outside it, the background."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    comp = Compositor(background, (-10, 20, 90, 130))  # beyond the left and bottom edges
    crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = comp(crop)
    big = cv2.resize(crop, (100, 110), interpolation=cv2.INTER_CUBIC)[0:100, 10:100].astype(np.float32)
    alpha = comp.alpha[..., None]
    expected = (alpha * big + (1 - alpha) * background[20:120, 0:90].astype(np.float32)).round()
    diff = np.abs(out[20:120, 0:90].astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.02  # a value ending in .5 may round either way
    assert np.array_equal(out[:20], background[:20]) and np.array_equal(out[:, 90:], background[:, 90:])
    assert (
        comp.alpha[0].max() == 0 and comp.alpha[50, 0] == 1 and comp.alpha[50, -1] == 0
    )  # feathered edges only

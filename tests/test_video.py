"""Tests for dancenow.video: every video is generated here, small, in tmp_path."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import encode_raw, make_audio

from dancenow import video
from dancenow.errors import InputError
from dancenow.video import (
    Frame,
    VideoInfo,
    VideoWriter,
    _apply_rotation,
    frame_times,
    iter_frames,
    probe,
    write_video,
)

H, W = 48, 64


def colour(i: int) -> np.ndarray:
    """A distinct, mid-range (no clipping) RGB colour for frame ``i``."""
    return np.array([40 + (i * 37) % 170, 40 + (i * 71) % 170, 40 + (i * 113) % 170], np.uint8)


def solid(i: int, h: int = H, w: int = W) -> np.ndarray:
    return np.broadcast_to(colour(i), (h, w, 3)).copy()


def textured(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Moving texture: makes real P/B-frames, so seeking has something to get wrong."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 4 + i * 3) % 256
    g = (y * 5 + i * 7) % 256
    b = ((x + y) * 3 + i * 11) % 256
    return np.stack([r, g, b], -1).astype(np.uint8)


def audio_duration(path: Path) -> float | None:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory) -> Path:
    """60 textured frames at 30 fps, keyframe every 8 frames, B-frames: the seeking workout."""
    path = tmp_path_factory.mktemp("gop") / "gop.mp4"
    return encode_raw(path, [textured(i) for i in range(60)], options={"g": "8", "bf": "2"})


# mkv: timestamps in ms; avi: decode order only (no presentation timestamps);
# h264: a raw stream with no timestamps at all (seeking must fall back to decoding from the start).
@pytest.fixture(scope="module", params=["mp4", "mkv", "avi", "h264"])
def gop_any(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gop") / f"gop.{request.param}"
    return encode_raw(path, [textured(i) for i in range(60)], options={"g": "8", "bf": "2"})


# --------------------------------------------------------------------------- round trips


def test_round_trip(tmp_path):
    path = tmp_path / "out.mp4"
    write_video(path, (solid(i) for i in range(24)), 24, preset="ultrafast")

    info = probe(path)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.rotation, info.codec) == (W, H, 0, "h264")
    assert info.fps == pytest.approx(24)
    assert info.num_frames == 24
    assert info.duration == pytest.approx(1.0, abs=1e-6)
    assert not info.has_audio

    frames = list(iter_frames(path))
    assert len(frames) == 24
    for i, frame in enumerate(frames):
        assert isinstance(frame, Frame)
        assert frame.index == i
        assert frame.time == pytest.approx(i / 24, abs=1e-9)
        assert frame.image.shape == (H, W, 3) and frame.image.dtype == np.uint8
        # Solid colours survive H.264 + BT.709 round trip to within a few levels.
        assert np.abs(frame.image.astype(int) - colour(i)).max() <= 4


def test_frame_times_match_iter_frames_exactly(gop_any):
    # Chunking relies on this: a time from frame_times() must select exactly that frame.
    times = frame_times(gop_any)
    assert times.dtype == np.float64 and times.shape == (60,)
    assert np.all(np.diff(times) > 0)
    assert times.tolist() == [f.time for f in iter_frames(gop_any)]
    chunk = list(iter_frames(gop_any, times[17], times[41]))
    assert [f.time for f in chunk] == times[17:41].tolist()
    assert [f.index for f in chunk] == list(range(24))


def test_odd_size_is_padded_by_edge_replication(tmp_path):
    path = tmp_path / "odd.mp4"
    images = [textured(i, 33, 45) for i in range(5)]
    write_video(path, images, 10, preset="ultrafast", crf=0)
    info = probe(path)
    assert (info.width, info.height) == (46, 34)
    frame = next(iter_frames(path))
    assert frame.image.shape == (34, 46, 3)
    # Near-lossless (crf 0, only the RGB->YUV420 round trip): the padding repeats the last row/column.
    img = frame.image.astype(int)
    assert np.abs(img[:33, :45] - images[0]).mean() < 6
    assert np.abs(img[33, :45] - img[32, :45]).mean() < 6
    assert np.abs(img[:33, 45] - img[:33, 44]).mean() < 6


def test_reader_handles_odd_size_input(tmp_path):
    # 4:4:4 lets x264 store odd sizes, as some cameras and editors do.
    path = encode_raw(tmp_path / "odd444.mp4", [solid(i, 33, 45) for i in range(3)], pix_fmt="yuv444p")
    info = probe(path)
    assert (info.width, info.height) == (45, 33)
    frames = list(iter_frames(path))
    assert [f.image.shape for f in frames] == [(33, 45, 3)] * 3
    assert np.abs(frames[2].image.astype(int) - colour(2)).max() <= 4


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), 30000 / 1001])
def test_fractional_fps(tmp_path, fps):
    path = tmp_path / "ntsc.mp4"
    write_video(path, (solid(i) for i in range(10)), fps, preset="ultrafast")
    info = probe(path)
    assert info.fps == pytest.approx(30000 / 1001, rel=1e-9)
    times = frame_times(path)
    np.testing.assert_allclose(times, np.arange(10) * 1001 / 30000, atol=1e-9)
    # Container time base keeps NTSC frame times exact; after 10 frames no drift accumulates.
    assert info.duration == pytest.approx(10 * 1001 / 30000, abs=1e-9)


def test_variable_frame_rate_uses_timestamps(tmp_path):
    times_ms = [0, 33, 100, 110, 250, 500, 510, 520, 900, 1000]
    path = encode_raw(
        tmp_path / "vfr.mp4",
        [solid(i) for i in range(len(times_ms))],
        pts=times_ms,
        time_base=Fraction(1, 1000),
    )
    expected = np.array(times_ms) / 1000
    np.testing.assert_allclose(frame_times(path), expected, atol=1e-9)
    frames = list(iter_frames(path))
    np.testing.assert_allclose([f.time for f in frames], expected, atol=1e-9)
    for i, frame in enumerate(frames):  # the right picture at each timestamp
        assert np.abs(frame.image.astype(int) - colour(i)).max() <= 4
    window = list(iter_frames(path, 0.1, 0.52))
    np.testing.assert_allclose([f.time for f in window], [0.1, 0.11, 0.25, 0.5, 0.51], atol=1e-9)
    assert [f.index for f in window] == [0, 1, 2, 3, 4]
    assert probe(path).num_frames == len(times_ms)


# --------------------------------------------------------------------------- trimming and seeking


def test_trim_by_start_and_end(gop_video):
    frames = list(iter_frames(gop_video, 0.5, 1.0))  # 30 fps: frames 15 .. 29
    assert [round(f.time * 30) for f in frames] == list(range(15, 30))
    assert all(0.5 <= f.time < 1.0 for f in frames)
    between = list(iter_frames(gop_video, 0.51, 0.6))  # start between frames 15 and 16
    assert [round(f.time * 30) for f in between] == [16, 17]
    assert list(iter_frames(gop_video, 1.0, 1.0)) == []
    assert list(iter_frames(gop_video, 5.0)) == []  # past the end: nothing, and no error
    assert len(list(iter_frames(gop_video, end=0.2))) == 6


def test_seek_returns_same_frames_as_full_decode(gop_any):
    full = list(iter_frames(gop_any))
    assert len(full) == 60
    for i in (0, 9, 30):  # display order, whatever the container's timestamps: frame i looks like i
        errors = [np.abs(full[i].image.astype(int) - textured(j)).mean() for j in (i, i + 1, i + 2)]
        assert errors[0] < min(errors[1:])
    for k in [1, 7, 8, 9, 20, 33, 59]:  # around keyframes (every 8th) and inside GOPs
        got = list(iter_frames(gop_any, full[k].time))
        assert len(got) == len(full) - k
        for a, b in zip(got, full[k:], strict=True):
            assert a.time == b.time
            np.testing.assert_array_equal(a.image, b.image)


def test_seek_that_overshoots_is_retried_further_back(gop_video, monkeypatch):
    """Some demuxers land on a keyframe *after* the target; the reader must notice and back off."""
    full = list(iter_frames(gop_video))
    original = video._Reader.seek
    calls = []

    def overshooting_seek(self, t):
        calls.append(t)
        return original(self, t + 0.4)  # 12 frames late: past the next keyframe

    monkeypatch.setattr(video._Reader, "seek", overshooting_seek)
    got = list(iter_frames(gop_video, full[40].time))
    assert len(calls) >= 2  # the first landing was rejected
    assert [f.time for f in got] == [f.time for f in full[40:]]
    for a, b in zip(got, full[40:], strict=True):
        np.testing.assert_array_equal(a.image, b.image)


def test_decoder_threads_option(gop_video):
    one = list(iter_frames(gop_video, 0.3, 0.7, threads=1))
    auto = list(iter_frames(gop_video, 0.3, 0.7, threads=0))
    assert [f.time for f in one] == [f.time for f in auto]
    for a, b in zip(one, auto, strict=True):
        np.testing.assert_array_equal(a.image, b.image)


# --------------------------------------------------------------------------- rotation


def test_apply_rotation_is_clockwise():
    image = np.arange(6).reshape(2, 3, 1)  # [[0 1 2], [3 4 5]]
    np.testing.assert_array_equal(_apply_rotation(image, 0), image)
    np.testing.assert_array_equal(_apply_rotation(image, 90)[..., 0], [[3, 0], [4, 1], [5, 2]])
    np.testing.assert_array_equal(_apply_rotation(image, 180)[..., 0], [[5, 4, 3], [2, 1, 0]])
    np.testing.assert_array_equal(_apply_rotation(image, 270)[..., 0], [[2, 5], [1, 4], [0, 3]])
    assert _apply_rotation(image, 90).flags.c_contiguous


@pytest.mark.parametrize(
    ("ccw", "rotation", "corner"),
    [
        # PyAV 18 writes a real display matrix (set_display_rotation, counter-clockwise degrees)
        # and reads it back per frame, so this is the same path a phone video takes.
        (90, 270, "bottom-left"),  # turned counter-clockwise: top-left goes to bottom-left
        (-90, 90, "top-right"),  # the usual portrait phone clip: turned clockwise
        (180, 180, "bottom-right"),
    ],
)
def test_rotation_metadata_is_applied(tmp_path, ccw, rotation, corner):
    image = np.zeros((32, 64, 3), np.uint8)
    image[:16, :32] = 255  # white top-left quarter of a landscape 64x32 frame
    path = encode_raw(tmp_path / "rot.mp4", [image] * 3, rotation=ccw)

    info = probe(path)
    assert info.rotation == rotation
    expected_shape = (32, 64) if rotation == 180 else (64, 32)
    assert (info.height, info.width) == expected_shape

    shown = next(iter_frames(path)).image
    assert shown.shape[:2] == expected_shape
    h, w = expected_shape
    rows = slice(0, h // 2) if corner.startswith("top") else slice(h // 2, h)
    cols = slice(0, w // 2) if corner.endswith("left") else slice(w // 2, w)
    assert shown[rows, cols].mean() > 240
    assert shown.mean() == pytest.approx(255 / 4, abs=8)
    # Seeking keeps the rotation too.
    assert next(iter_frames(path, 0.05)).image.shape[:2] == expected_shape


# --------------------------------------------------------------------------- bad inputs


def _not_faststart(tmp_path: Path) -> bytes:
    """Bytes of a small MP4 whose index (moov) is at the end, as cameras write them."""
    path = encode_raw(tmp_path / "cam.mp4", [textured(i) for i in range(20)])
    return path.read_bytes()


def _bad_input(kind: str, tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / f"{kind}.mp4"
    if kind == "missing":
        return path, "no such file"
    if kind == "directory":
        path.mkdir()
        return path, "directory"
    if kind == "empty":
        path.touch()
        return path, "empty file"
    if kind == "text":
        path.write_text("this is a text file, not a video\n" * 20)
        return path, "not a video file"
    if kind == "audio_only":
        path = make_audio(tmp_path / "audio_only.m4a", "aac", 0.5)
        return path, "no video stream"
    if kind == "truncated_index":
        data = _not_faststart(tmp_path)
        path.write_bytes(data[: len(data) // 2])  # the moov atom at the end is lost
        return path, "damaged or incomplete video file"
    if kind == "garbage_frames":
        source = tmp_path / "source.mp4"
        write_video(source, (textured(i) for i in range(10)), 10, preset="ultrafast")  # index first
        data = bytearray(source.read_bytes())
        mdat = data.index(b"mdat") + 4
        data[mdat:] = np.random.default_rng(0).integers(0, 256, len(data) - mdat, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        return path, "no decodable video frames"
    raise AssertionError(kind)


BAD_KINDS = ["missing", "directory", "empty", "text", "audio_only", "truncated_index", "garbage_frames"]


# frame_times reads packet timestamps only, and garbage payloads still have them: not checked there.
BAD_CASES = [
    (kind, reader)
    for kind in BAD_KINDS
    for reader in ("probe", "iter_frames", "frame_times")
    if (kind, reader) != ("garbage_frames", "frame_times")
]


@pytest.mark.parametrize("kind,reader", BAD_CASES)
def test_bad_input_raises_input_error(tmp_path, kind, reader):
    path, problem = _bad_input(kind, tmp_path)
    call = {"probe": probe, "iter_frames": lambda p: list(iter_frames(p)), "frame_times": frame_times}[reader]
    with pytest.raises(InputError) as excinfo:
        call(path)
    message = str(excinfo.value)
    assert str(path) in message and problem in message
    assert "\n" not in message
    assert excinfo.value.path == path


def test_corrupt_packet_mid_stream_is_skipped(tmp_path, gop_video):
    """A damaged packet costs a few frames (until the next keyframe), never the rest of the video."""
    data = bytearray(gop_video.read_bytes())
    with av.open(str(gop_video)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, size = packets[len(packets) // 2]
    data[pos : pos + size] = bytes(size)  # zero out one whole packet in the middle
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))

    frames = list(iter_frames(path))
    assert 60 - 8 <= len(frames) <= 60
    assert frames[-1].time == pytest.approx(59 / 30)
    np.testing.assert_array_equal(frames[-1].image, list(iter_frames(gop_video))[-1].image)
    assert len(frame_times(path)) == 60


# --------------------------------------------------------------------------- writer


def test_writer_is_atomic_on_exception(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, 10, preset="ultrafast") as writer:
        for i in range(5):
            writer.write(solid(i))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary


def test_writer_keeps_existing_file_on_failure(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(ValueError, match="is 32x32"), VideoWriter(path, 10, preset="ultrafast") as writer:
        writer.write(solid(0))
        writer.write(solid(1, 32, 32))  # a different size
    assert path.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_writer_rejects_bad_frames_and_empty_video(tmp_path):
    path = tmp_path / "out.mp4"
    writer = VideoWriter(path, 10)
    with pytest.raises(ValueError, match="uint8"):
        writer.write(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="no frames"):
        writer.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(path, 0)


def test_audio_is_copied_and_trimmed(tmp_path):
    audio = make_audio(tmp_path / "voice.m4a", "aac", seconds=2.0)
    path = tmp_path / "out.mp4"
    write_video(path, (solid(i) for i in range(15)), 10, audio_from=audio, preset="ultrafast")
    info = probe(path)
    assert info.has_audio and info.num_frames == 15
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.codec.canonical_name == "aac"
    # Copied AAC packets are 1024 samples (23 ms); the last one may run past the video.
    assert 1.5 - 0.03 <= audio_duration(path) <= 1.5 + 0.03


def test_audio_is_transcoded_when_mp4_cannot_hold_it(tmp_path):
    audio = make_audio(tmp_path / "voice.wav", "pcm_s16le", seconds=2.0, rate=22050, layout="mono")
    path = tmp_path / "out.mp4"
    write_video(path, (solid(i) for i in range(15)), 10, audio_from=audio, preset="ultrafast")
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.codec.canonical_name == "aac"
    assert audio_duration(path) == pytest.approx(1.5, abs=0.03)


def test_audio_from_a_file_without_audio_is_silently_skipped(tmp_path, gop_video):
    path = tmp_path / "out.mp4"
    write_video(path, (solid(i) for i in range(3)), 10, audio_from=gop_video, preset="ultrafast")
    assert not probe(path).has_audio


def test_audio_from_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        VideoWriter(tmp_path / "out.mp4", 10, audio_from=tmp_path / "nope.mp4")


# --------------------------------------------------------------------------- real footage


def test_shared_videos(shared_data):
    """Real footage from ../shared/data (repo root's sibling); skipped by the fixture when absent."""
    aerobics = probe(shared_data / "videos" / "aerobics_studio.mp4")
    assert (aerobics.width, aerobics.height, aerobics.num_frames) == (1920, 1080, 300)
    assert aerobics.fps == pytest.approx(30000 / 1001)
    frames = list(iter_frames(aerobics.path, 5.0, 5.2))
    assert len(frames) == 6
    assert all(f.image.shape == (1080, 1920, 3) for f in frames)
    assert 5.0 <= frames[0].time < 5.0 + 1 / 29.97

    portrait = probe(shared_data / "videos" / "dance_keyed_portrait.mp4")
    assert (portrait.width, portrait.height, portrait.num_frames) == (1080, 1920, 288)
    assert portrait.fps == pytest.approx(24)
    # The portrait clip stores its frames upright (no rotation matrix) and carries AAC audio.
    assert portrait.rotation == 0 and portrait.has_audio
    frame = next(iter_frames(portrait.path, 6.0))
    assert frame.image.shape == (1920, 1080, 3) and frame.time == pytest.approx(6.0)

"""Video I/O on PyAV: probe a file, stream its frames, list its timestamps, write H.264 MP4.

Conventions used throughout:

- An image is a ``(H, W, 3)`` uint8 RGB array in *displayed* orientation: rotation metadata
  (a phone's portrait flag) is already applied, so ``H``/``W`` are what a player shows.
- A time is float seconds from the start of the video stream, ``(pts - start_time) * time_base``,
  exactly as the container stores it. Nothing assumes ``t = i / fps``, so variable-frame-rate
  (VFR) phone video keeps its true timing. :func:`frame_times` and :func:`iter_frames` compute
  times with the same exact arithmetic, so a time taken from one can be used as a bound in the other.
  AVI stores no presentation timestamps; there frames get the sorted decode timestamps instead.
- Any problem with an input file raises :class:`~dancenow.errors.InputError` with a one-line
  problem; PyAV exceptions never escape :func:`probe`, :func:`iter_frames` or :func:`frame_times`.

Damaged files. A packet the decoder rejects is skipped (logged) and decoding goes on with the
next one: H.264 recovers at the next keyframe and a few glitchy frames are better than losing
the rest of a long video. If the demuxer itself fails (a truncated file), iteration ends there
after flushing the frames already in the decoder. Only a file where *no* frame decodes is an
error ("no decodable video frames"); an MP4 cut short before its index was written cannot be
opened at all ("damaged or incomplete video file").

Rotation. FFmpeg's libraries (unlike the ``ffmpeg`` command) never rotate frames themselves.
The rotation is stored as a display matrix in the stream's side data (legacy files: a ``rotate``
metadata tag); PyAV 18 exposes it only per decoded frame, as ``VideoFrame.rotation``
(counter-clockwise degrees in [-180, 180]), so :func:`probe` decodes one frame to learn it.
Rotation is rounded to a multiple of 90 degrees; mirroring in the matrix is ignored.
"""

from __future__ import annotations

import errno
import heapq
import logging
import math
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dancenow.errors import InputError
from dancenow.utils.atomic import atomic_path
from dancenow.utils.outputs import describe_mode

__all__ = [
    "Frame",
    "VideoInfo",
    "VideoWriter",
    "estimate_mp4_bytes",
    "frame_times",
    "iter_frames",
    "probe",
    "write_video",
]

log = logging.getLogger(__name__)

# Audio codecs whose packets are stored in MP4 as they are in these source containers.
# ADTS (.aac files) and MPEG-TS carry AAC with per-packet headers that MP4 does not accept,
# so audio from anything else is transcoded to AAC instead of copied.
_COPY_AUDIO_CODECS = {"aac", "mp3"}
_COPY_AUDIO_FORMATS = ("mov", "mp4", "matroska", "mp3")
# Containers that store only decode order (no presentation timestamps): FFmpeg's packet "pts"
# for them is a guess that is wrong as soon as there are B-frames; see _Reader._open().
_DECODE_ORDER_FORMATS = {"avi"}
_AAC_RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video without decoding more than one frame."""

    path: Path
    width: int  # displayed width, i.e. after applying rotation metadata
    height: int  # displayed height
    fps: float  # average frame rate
    num_frames: int  # container frame count when known, else round(duration * fps)
    duration: float  # seconds
    rotation: int  # clockwise degrees applied on decode: 0, 90, 180 or 270
    has_audio: bool
    codec: str


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    index: int  # ordinal within this iteration (0, 1, 2, ...)
    time: float  # presentation time in seconds from the start of the video stream
    image: np.ndarray  # (H, W, 3) uint8 RGB, rotation applied


# --------------------------------------------------------------------------- reading


def _check_file(path: str | Path) -> Path:
    """Catch the common problems before FFmpeg turns them into obscure messages (or, for a FIFO,
    waits forever for a writer)."""
    path = Path(path)
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(path, "no such file") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InputError(path, "symlink loop (the link points back to itself)") from None
        raise InputError(path, f"cannot read ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, "is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, f"not a regular file ({describe_mode(st.st_mode)}): give a video file")
    if st.st_size == 0:
        raise InputError(path, "empty file")
    return path


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except av.error.InvalidDataError as err:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":  # an MP4/MOV whose index is missing: a recording cut short
            raise InputError(path, f"damaged or incomplete video file ({err.strerror})") from err
        raise InputError(path, f"not a video file ({err.strerror})") from err
    except av.error.PermissionError as err:
        raise InputError(path, "cannot read (permission denied)") from err
    except av.FFmpegError as err:
        raise InputError(path, f"cannot open ({err.strerror})") from err


def _rotation_cw(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> int:
    """Clockwise degrees (0, 90, 180, 270) that turn decoded ``frame`` into displayed orientation."""
    # frame.rotation is av_display_rotation_get(): counter-clockwise degrees, 0 without a matrix.
    # An iPhone portrait clip reads -90 here: its stored landscape frames must turn 90 degrees clockwise.
    ccw = frame.rotation
    if ccw:
        return (-round(ccw / 90) * 90) % 360
    # Legacy tag (clockwise degrees), which older FFmpeg builds exported instead of side data.
    tag = stream.metadata.get("rotate")
    if tag:
        try:
            return (round(float(tag) / 90) * 90) % 360
        except ValueError:
            log.warning("ignoring unreadable rotate tag %r", tag)
    return 0


def _apply_rotation(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn ``(H, W, C)`` ``image`` ``rotation`` degrees clockwise; 90/270 give ``(W, H, C)``.

    Returns a C-contiguous array (OpenCV and MediaPipe reject the negative strides of a bare
    ``np.rot90`` view).
    """
    if rotation % 360 == 0:
        return image
    # np.rot90 turns counter-clockwise for positive k.
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))


class _Reader:
    """An open input file and its video stream; the one place PyAV errors become :class:`InputError`.

    Frames come out as ``(time, av.VideoFrame)`` pairs in presentation order.
    """

    def __init__(self, path: str | Path, threads: int = 0):
        self.path = _check_file(path)
        self.threads = threads
        self.skipped_packets = 0
        self._open()

    def _open(self) -> None:
        self.container = _open_container(self.path)
        try:
            streams = [
                s
                for s in self.container.streams.video
                # Cover art in an audio file shows up as a one-picture "video" stream.
                if not s.disposition & av.stream.Disposition.attached_pic
            ]
            if not streams:
                raise InputError(self.path, "no video stream")
            self.stream = streams[0]
            if self.stream.codec_context is None:
                raise InputError(self.path, f"no decoder for its video codec ({self.stream.codec.name})")
        except BaseException:
            self.container.close()
            raise
        cc = self.stream.codec_context
        cc.thread_type = "AUTO"  # frame + slice threads: several times faster than the default
        cc.thread_count = self.threads
        self.time_base = self.stream.time_base or Fraction(1, av.time_base)
        self.start_pts = self.stream.start_time or 0
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.frame_step = float(1 / rate) if rate else 1 / 30  # only for frames without any timestamp
        # FFmpeg may reset its reorder estimate on a seek and then drop B-frames; restored in seek().
        self._reorder_depth = cc.reorder_depth
        # With B-frames in such a container, the k-th frame out of the decoder is displayed at the
        # k-th smallest decode timestamp fed so far (one frame per packet, output in display order).
        self.decode_order = self._reorder_depth > 0 and self.container.format.name in _DECODE_ORDER_FORMATS
        self._stamps: list[int] = []  # decode timestamps fed but not yet given to a frame (min-heap)
        self.synthesized = False  # last frame had no timestamp at all (raw elementary stream)

    def reopen(self) -> None:
        self.container.close()
        self._open()

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stamp(self, packet: av.Packet) -> int | None:
        """The packet timestamp that orders frames in display: pts, or dts for decode-order containers."""
        return packet.dts if self.decode_order else packet.pts

    def seconds(self, pts: int) -> float:
        """Stream timestamp -> seconds from the stream start (exact rational arithmetic, then float)."""
        return float((pts - self.start_pts) * self.time_base)

    def packets(self) -> Iterator[av.Packet]:
        """Demuxed video packets, including PyAV's empty end-of-stream packet; stops at a demux error."""
        demux = self.container.demux(self.stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except av.FFmpegError as err:
                log.warning("%s: stopped reading at a damaged part of the file (%s)", self.path, err.strerror)
                return
            yield packet

    def decoded(self) -> Iterator[av.VideoFrame]:
        """Decoded frames in presentation order; packets the decoder rejects are skipped."""
        skipped = 0
        self._stamps = []
        try:
            for packet in self.packets():
                if packet.is_corrupt:  # a truncated file's last packet (and frame_times() skips it too)
                    skipped += 1
                    continue
                try:
                    frames = packet.decode()
                except av.FFmpegError as err:
                    skipped += 1
                    log.debug("%s: skipped a damaged packet (%s)", self.path, err.strerror)
                    continue
                if self.decode_order and packet.size and packet.dts is not None:
                    heapq.heappush(self._stamps, packet.dts)
                yield from frames
            # Drain frames still inside the decoder; a no-op when the empty end packet already did.
            try:
                yield from self.stream.decode(None)
            except av.FFmpegError:
                return
        finally:
            self.skipped_packets += skipped
            if skipped:
                log.warning("%s: skipped %d damaged video packet(s)", self.path, skipped)

    def timed_frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        last = None
        for frame in self.decoded():
            if self.decode_order and self._stamps:
                pts = heapq.heappop(self._stamps)
            else:
                pts = frame.pts if frame.pts is not None else frame.dts
            self.synthesized = pts is None
            if pts is not None:
                t = self.seconds(pts)
            else:  # raw streams without timestamps: assume the nominal rate
                t = 0.0 if last is None else last + self.frame_step
            last = t
            yield t, frame

    def seek(self, t: float) -> bool:
        """Position the demuxer at the keyframe at or before ``t`` seconds; False when it cannot."""
        offset = self.start_pts + math.floor(t / self.time_base)
        try:
            self.container.seek(offset, stream=self.stream, backward=True, any_frame=False)
        except av.FFmpegError as err:
            log.debug("%s: seek to %.3f s failed (%s)", self.path, t, err.strerror)
            return False
        cc = self.stream.codec_context
        if cc.reorder_depth < self._reorder_depth:
            cc.reorder_depth = self._reorder_depth
        return True

    def timed_frames_from(self, start: float) -> Iterator[tuple[float, av.VideoFrame]]:
        """Like :meth:`timed_frames`, but skipping ahead to about ``start`` seconds by seeking.

        The first frame yielded is at or before ``start`` (earlier frames are the caller's to drop).
        A seek is only trusted when it lands at or before ``start``: some demuxers seek by decode
        timestamp, or to a keyframe after the target, so on a miss we retry further back and
        finally decode from the beginning.
        """
        if start <= 0:
            yield from self.timed_frames()
            return
        back = 0.0
        while True:
            target = start - back
            if target <= 0 or not self.seek(target):
                self.reopen()  # a fresh demuxer is the surest way back to the very beginning
                yield from self.timed_frames()
                return
            frames = self.timed_frames()
            first = next(frames, None)
            if first is not None and self.synthesized:  # no timestamps: position unknown after a seek
                frames.close()
                back = start  # next round decodes from the beginning
                continue
            if first is not None and first[0] <= start:
                yield first
                yield from frames
                return
            frames.close()
            back = max(1.0, 2 * back)


def probe(path: str | Path) -> VideoInfo:
    """Describe the video at ``path``; decodes only its first frame (for rotation and to prove it decodes).

    Raises:
        InputError: the file is missing, empty, not a video, has no video stream, or none of it decodes.
    """
    with _Reader(path) as reader:
        frames = reader.timed_frames()
        first = next(frames, None)
        frames.close()
        if first is None:
            raise InputError(reader.path, "no decodable video frames")
        frame = first[1]
        stream = reader.stream
        rotation = _rotation_cw(frame, stream)
        width, height = (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if stream.duration:
            duration = float(stream.duration * reader.time_base)
        elif reader.container.duration:
            duration = reader.container.duration / av.time_base
        elif stream.frames and fps:
            duration = stream.frames / fps
        else:
            duration = 0.0
        num_frames = stream.frames if stream.frames > 0 else round(duration * fps)
        if not fps and num_frames and duration:
            fps = num_frames / duration
        return VideoInfo(
            path=reader.path,
            width=width,
            height=height,
            fps=fps,
            num_frames=int(num_frames),
            duration=duration,
            rotation=rotation,
            has_audio=len(reader.container.streams.audio) > 0,
            codec=stream.codec_context.name,
        )


def iter_frames(
    path: str | Path, start: float = 0.0, end: float | None = None, *, threads: int = 0
) -> Iterator[Frame]:
    """Stream the frames with ``start <= time < end`` (seconds; ``end=None``: to the end of the video).

    Holds one frame at a time. For ``start > 0`` it seeks to the keyframe before ``start`` and
    decodes and discards the frames in between, so the result equals slicing a full decode.

    Args:
        threads: decoder threads; 0 lets FFmpeg choose (one per core). Use 1 when several
            processes already share the cores.

    Yields:
        :class:`Frame` with ``image`` ``(H, W, 3)`` uint8 RGB in displayed orientation.

    Raises:
        InputError: bad file (see :func:`probe`); checked when iteration starts.
    """
    with _Reader(path, threads=threads) as reader:
        if end is not None and end <= start:
            return
        decoded = 0
        index = 0
        rotation = 0
        for t, frame in reader.timed_frames_from(start):
            decoded += 1
            if decoded == 1:
                rotation = _rotation_cw(frame, reader.stream)
            if t < start:
                continue
            if end is not None and t >= end:
                break
            image = _apply_rotation(frame.to_ndarray(format="rgb24"), rotation)
            yield Frame(index=index, time=t, image=image)
            index += 1
        if decoded == 0:
            raise InputError(reader.path, "no decodable video frames")


def frame_times(path: str | Path) -> np.ndarray:
    """``(T,)`` float64 presentation times (seconds, ascending) of all frames of the video.

    Read from packet timestamps without decoding (demuxing only: tens of thousands of packets/s,
    versus ~300 frames/s to decode 1080p); falls back to a decode for raw streams whose packets
    carry no timestamps. Times match :attr:`Frame.time` exactly, so they can be used as
    ``start``/``end`` of :func:`iter_frames` to split a (possibly variable-frame-rate) video
    into chunks.
    """
    with _Reader(path, threads=0) as reader:
        pts: list[int] | None = []
        for packet in reader.packets():
            if packet.size == 0 or packet.is_discard:  # end-of-stream marker; edit-list pre-roll
                continue
            if packet.is_corrupt:  # cut off by a truncation: decoded() skips it too, so the counts agree
                continue
            stamp = reader.stamp(packet)
            if stamp is None:
                pts = None
                break
            pts.append(stamp)
        if pts:
            times = [reader.seconds(p) for p in pts]
        else:
            reader.reopen()
            times = [t for t, _ in reader.timed_frames()]
        if not times:
            raise InputError(reader.path, "no decodable video frames")
        return np.sort(np.asarray(times, dtype=np.float64))


# --------------------------------------------------------------------------- writing


def _as_rate(fps: float | Fraction) -> Fraction:
    """Frame rate as a Fraction; floats snap to the nearest ratio with denominator <= 1001.

    That recovers NTSC rates from their float form: ``float(Fraction(30000, 1001))`` -> 30000/1001.
    """
    if isinstance(fps, Fraction):
        rate = fps
    else:
        fps = float(fps)
        if not math.isfinite(fps):
            raise ValueError(f"fps must be finite, got {fps}")
        rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return rate


def _pad_even(image: np.ndarray) -> np.ndarray:
    """Pad ``(H, W, 3)`` to even H and W by repeating the last row/column (yuv420p needs even sizes)."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class _AudioTrack:
    """The audio of another file, written into a writer's output up to a given time.

    Packets are copied unchanged when MP4 can hold them, keeping their timestamps so that a
    clip made from a source video stays in sync with the source's sound; anything else is
    decoded and re-encoded to AAC. Audio is written in small steps alongside the video so the
    two are interleaved in the file.
    """

    def __init__(self, path: Path, container: av.container.InputContainer, source: av.audio.AudioStream):
        self.path = path
        self.container = container
        self.source = source
        self.output: av.audio.AudioStream | None = None
        self.transcode = False
        self._items: Iterator[av.Packet] | Iterator[av.AudioFrame] = iter(())
        self._pending: av.Packet | av.AudioFrame | None = None  # read but not yet written

    @classmethod
    def open(cls, path: str | Path) -> _AudioTrack | None:
        """The first audio stream of ``path``; None when it has none. Raises InputError for bad files."""
        path = _check_file(path)
        container = _open_container(path)
        if not container.streams.audio:
            container.close()
            return None
        return cls(path, container, container.streams.audio[0])

    def add_to(self, out: av.container.OutputContainer) -> None:
        """Add the output audio stream (before anything is muxed)."""
        src = self.source.codec_context
        fmt = self.container.format.name
        # canonical_name: the codec, not the decoder ("mp3", where the decoder is "mp3float").
        if src.codec.canonical_name in _COPY_AUDIO_CODECS and any(f in fmt for f in _COPY_AUDIO_FORMATS):
            try:
                self.output = out.add_stream_from_template(self.source)
                self._items = self._packets()
                return
            except ValueError as err:  # the muxer refused the codec after all
                log.info("%s: transcoding audio (%s)", self.path, err)
        self.transcode = True
        rate = src.sample_rate if src.sample_rate in _AAC_RATES else 48000
        stereo = src.channels >= 2
        self.output = out.add_stream("aac", rate=rate)
        self.output.codec_context.layout = "stereo" if stereo else "mono"
        self.output.codec_context.bit_rate = 192_000 if stereo else 96_000
        self._items = self._frames()

    def _packets(self) -> Iterator[av.Packet]:
        try:
            for packet in self.container.demux(self.source):
                if packet.size and packet.pts is not None:
                    yield packet
        except av.FFmpegError as err:
            log.warning("%s: audio ends early at a damaged part (%s)", self.path, err.strerror)

    def _frames(self) -> Iterator[av.AudioFrame]:
        for packet in self._packets():
            try:
                frames = packet.decode()
            except av.FFmpegError as err:
                log.warning("%s: skipped a damaged audio packet (%s)", self.path, err.strerror)
                continue
            yield from (f for f in frames if f.pts is not None)
        try:  # the decoder may still hold the last frame
            yield from (f for f in self.source.decode(None) if f.pts is not None)
        except av.FFmpegError:
            return

    def write_until(self, out: av.container.OutputContainer, limit: float, *, final: bool = False) -> None:
        """Write the audio that ends by ``limit`` seconds (the video written so far).

        ``final``: ``limit`` is the end of the video: also write what starts before it, cutting
        a decoded frame there, and flush the encoder. Copied packets cannot be cut, so copied
        audio may run up to one packet (about 20 ms) past the video.
        """
        while True:
            if self._pending is None:
                self._pending = next(self._items, None)
                if self._pending is None:
                    break
            item = self._pending
            t = float(item.pts * item.time_base)
            if isinstance(item, av.AudioFrame):
                t_end = t + item.samples / item.sample_rate
            else:
                t_end = t + float((item.duration or 0) * item.time_base)
            if t >= limit or (t_end > limit and not final):
                break
            self._pending = None
            if self.transcode:
                if final:
                    item = _cut_audio(item, limit - t)
                out.mux(self.output.encode(item))
            else:
                item.stream = self.output
                out.mux(item)
        if final and self.transcode:
            out.mux(self.output.encode(None))

    def close(self) -> None:
        self.container.close()


def _cut_audio(frame: av.AudioFrame, seconds: float) -> av.AudioFrame:
    """The first ``seconds`` of ``frame`` (the frame itself when it is not longer)."""
    keep = max(1, round(seconds * frame.sample_rate))
    if keep >= frame.samples:
        return frame
    data = frame.to_ndarray()  # planar: (channels, samples); packed: (1, samples * channels)
    per_sample = 1 if frame.format.is_planar else frame.layout.nb_channels
    cut = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(data[:, : keep * per_sample]), format=frame.format.name, layout=frame.layout.name
    )
    cut.sample_rate = frame.sample_rate
    cut.pts = frame.pts
    cut.time_base = frame.time_base
    return cut


class VideoWriter:
    """Write ``(H, W, 3)`` uint8 RGB frames to an H.264 (libx264, yuv420p, BT.709) MP4, atomically.

    Frames go to a temporary file next to ``path``, renamed onto ``path`` only when
    :meth:`close` succeeds; an exception inside ``with VideoWriter(...)`` leaves nothing at ``path``.

    The size is fixed by the first frame. Odd widths/heights are padded to even by repeating
    the last column/row, so such an output is one pixel larger than its input.

    Args:
        path: output file (``.mp4``; ``.mov``/``.mkv`` pick those containers).
        fps: constant frame rate; a Fraction such as ``Fraction(30000, 1001)`` is kept exactly,
            a float is snapped to the nearest ratio with denominator <= 1001.
        crf: x264 quality, 0 (lossless) .. 51; 18 is visually near-lossless.
        audio_from: a media file whose first audio stream is copied in (re-encoded to AAC when
            MP4 cannot hold it as is), trimmed to the video's length; no audio when it has none.
        preset: x264 speed/size trade-off ("ultrafast" .. "veryslow"). The default "veryfast"
            encodes 1080p 2.3x faster than x264's own "medium" for about 5 % more bytes at the
            same CRF (``benchmarks/encode.py``, docs/BENCHMARKS.md).

    Example::

        with VideoWriter("out.mp4", info.fps, audio_from=source) as writer:
            for image in images:
                writer.write(image)
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        *,
        crf: int = 18,
        audio_from: str | Path | None = None,
        preset: str = "veryfast",
    ):
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf}")
        self.path = Path(path)
        self.fps = _as_rate(fps)
        self.crf = int(crf)
        self.preset = preset
        # Opened now so that a bad audio file fails before any video work is done.
        self._audio = _AudioTrack.open(audio_from) if audio_from is not None else None
        self._atomic = None  # atomic_path context, entered with the first frame
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._shape: tuple[int, int] | None = None  # (H, W) of the frames given to write()
        self._count = 0
        self._closed = False

    @property
    def frames_written(self) -> int:
        return self._count

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self._abort(exc)

    def _start(self, height: int, width: int) -> None:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            suffix = self.path.suffix.lower()
            fmt = "mp4" if suffix in ("", ".mp4", ".m4v") else None  # else FFmpeg picks from the suffix
            # faststart moves the index to the front so players can start before the download ends.
            options = {"movflags": "+faststart"} if fmt == "mp4" or suffix == ".mov" else {}
            self._container = av.open(str(tmp), mode="w", format=fmt, options=options)
            stream = self._container.add_stream(
                "libx264", rate=self.fps, options={"crf": str(self.crf), "preset": self.preset}
            )
            stream.width = width + width % 2
            stream.height = height + height % 2
            stream.pix_fmt = "yuv420p"
            cc = stream.codec_context
            cc.time_base = 1 / self.fps
            # Tag what we encode (BT.709, limited range) so players do not have to guess.
            cc.colorspace = 1  # AVCOL_SPC_BT709
            cc.color_primaries = 1  # AVCOL_PRI_BT709
            cc.color_trc = 1  # AVCOL_TRC_BT709
            cc.color_range = 1  # AVCOL_RANGE_MPEG
            self._stream = stream
            if self._audio is not None:
                self._audio.add_to(self._container)
        except BaseException as err:
            self._abort(err)
            raise
        self._shape = (height, width)

    def write(self, image: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame; every frame must have the first frame's size."""
        if self._closed:
            raise ValueError(f"{self.path}: write() after close()")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        if self._container is None:
            self._start(*image.shape[:2])
        elif image.shape[:2] != self._shape:
            raise ValueError(
                f"frame {self._count} is {image.shape[1]}x{image.shape[0]}, "
                f"but the video is {self._shape[1]}x{self._shape[0]}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(_pad_even(image)), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts = self._count
        frame.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(frame))
        self._count += 1
        if self._audio is not None:
            self._audio.write_until(self._container, float(self._count / self.fps))

    def close(self) -> None:
        """Flush the encoder, finish the audio, and move the file into place.

        Raises:
            ValueError: no frame was written (nothing is created at ``path``).
        """
        if self._closed:
            return
        if self._container is None:
            self._closed = True
            if self._audio is not None:
                self._audio.close()
            raise ValueError(f"{self.path}: no frames were written")
        try:
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.write_until(self._container, float(self._count / self.fps), final=True)
                self._audio.close()
            self._container.close()
        except BaseException as err:
            self._abort(err)
            raise
        self._closed = True
        self._atomic.__exit__(None, None, None)  # rename onto self.path

    def _abort(self, exc: BaseException) -> None:
        """Drop everything written so far: close the files and delete the temporary."""
        if self._closed:
            return
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, OSError) as err:  # the file is being thrown away anyway
                log.debug("closing an aborted output: %s", err)
        if self._audio is not None:
            self._audio.close()
        if self._atomic is not None:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)


# An upper estimate of what VideoWriter's H.264 (crf 18) takes per pixel of each frame; small or
# noisy frames (generated ones) compress worst: 128x128 synthetic frames measured ~0.3, 1080p ~0.05.
MP4_BYTES_PER_PIXEL = 0.3
MP4_AUDIO_BYTES_PER_SECOND = 24_000  # AAC stereo at 192 kbit/s


def estimate_mp4_bytes(num_frames: int, width: int, height: int, fps: float, audio: bool = False) -> int:
    """About the largest size :class:`VideoWriter` output of these frames takes (for disk checks)."""
    seconds = num_frames / fps if fps > 0 else 0.0
    return int(
        num_frames * width * height * MP4_BYTES_PER_PIXEL + audio * seconds * MP4_AUDIO_BYTES_PER_SECOND
    )


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float | Fraction, **kw) -> None:
    """Write ``(H, W, 3)`` uint8 RGB ``frames`` to ``path``; ``kw`` as for :class:`VideoWriter`."""
    with VideoWriter(path, fps, **kw) as writer:
        for image in frames:
            writer.write(image)

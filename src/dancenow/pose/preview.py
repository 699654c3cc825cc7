"""Preview video: the source frames with the detected stick figure drawn over them."""

from __future__ import annotations

from pathlib import Path

from dancenow.pose.posefile import PoseSequence
from dancenow.pose.render import render_pose
from dancenow.utils.progress import progress as progress_bar
from dancenow.video import VideoWriter, iter_frames


def write_preview(
    video: str | Path, poses: PoseSequence, output: str | Path, *, progress: bool = True
) -> None:
    """Write ``output`` (H.264 MP4: the video's size, rate and audio) with ``poses`` drawn over ``video``.

    Frames and poses are matched by order; the pose file was made from the same decode.
    """
    bar = progress_bar(len(poses), f"preview {Path(output).name}", "frame", enabled=progress)
    # A preview is for looking at, not archiving: a fast x264 preset keeps it cheaper than detection.
    with VideoWriter(output, poses.fps, audio_from=video, crf=23) as writer:
        for frame, keypoints in zip(iter_frames(video), poses.keypoints, strict=False):
            h, w = frame.image.shape[:2]
            writer.write(render_pose(keypoints, h, w, canvas=frame.image))
            bar.update()
    bar.close()

"""Self-made test footage: a procedural performer that dances, drawn well enough for real detectors.

- :mod:`~dancenow.synthetic.skeleton`: the dance, as exact ``openpose137`` keypoints.
- :mod:`~dancenow.synthetic.performer`: a person drawn from keypoints (:class:`Appearance`).
- :mod:`~dancenow.synthetic.video`: both rendered to an MP4 (:func:`make_clip`).
"""

from dancenow.synthetic.performer import SOURCE, TARGET, Appearance, make_background, render_performer
from dancenow.synthetic.skeleton import STYLES, DanceStyle, dance_keypoints, dance_pose3d, project_to_image
from dancenow.synthetic.video import clip_keypoints, make_clip

__all__ = [
    "SOURCE",
    "STYLES",
    "TARGET",
    "Appearance",
    "DanceStyle",
    "clip_keypoints",
    "dance_keypoints",
    "dance_pose3d",
    "make_background",
    "make_clip",
    "project_to_image",
    "render_performer",
]

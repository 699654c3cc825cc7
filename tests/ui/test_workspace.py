"""Upload validation, the workspace's listings and the page's actions, without a browser."""

from __future__ import annotations

import json
import shutil

import pytest

from dancenow.errors import InputError
from dancenow.ui.app import Controller, loss_chart, loss_rows
from dancenow.ui.jobs import Busy, JobManager, TrainJob
from dancenow.ui.workspace import Workspace, check_upload, slug, unique_name


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from dancenow.synthetic import make_clip

    path = tmp_path_factory.mktemp("clip") / "dancer.mp4"
    make_clip(path, seconds=0.4, fps=10, size=(96, 96), seed=5)
    return path


def test_check_upload_accepts_a_video(clip):
    assert check_upload(clip) == clip


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("notes.txt", b"hello", "unsupported file type .txt"),
        ("noext", b"hello", "unsupported file type (no extension)"),
        ("broken.mp4", b"\x00" * 4096, "not a video file"),
        ("empty.mov", b"", "empty file"),
    ],
)
def test_check_upload_rejects_with_one_clear_line(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        check_upload(path)
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert message.startswith(f"{name}:")  # the user's file name, not the server's temporary path
    assert str(tmp_path) not in message


def test_check_upload_size_limit_and_missing(clip):
    with pytest.raises(InputError, match=r"over the 0.001 MB upload limit"):
        check_upload(clip, max_mb=0.001)
    with pytest.raises(InputError, match="no target video uploaded"):
        check_upload(None, what="target video")
    with pytest.raises(InputError, match="did not arrive"):
        check_upload(clip.with_name("gone.mp4"))


def test_names_are_safe_and_unique(tmp_path):
    assert slug("../../etc/passwd") == "etc_passwd"
    assert slug("  ") == "video"
    assert slug("my dance (take 2)") == "my_dance_take_2"
    (tmp_path / "a").mkdir()
    (tmp_path / "a-2").mkdir()
    assert unique_name(tmp_path, "a") == "a-3"
    assert unique_name(tmp_path, "b", ".mp4") == "b"


def test_workspace_listings_come_from_the_files(tmp_path, tiny_dataset):
    ws = Workspace(tmp_path / "ws")
    assert ws.datasets() == [] and ws.run_infos() == [] and ws.source_videos() == []
    shutil.copytree(tiny_dataset, ws.targets / "dancer" / "dataset")
    (ws.sources / "src.mp4").write_bytes(b"x")
    (ws.sources / "notes.txt").write_bytes(b"x")
    (ws.runs / "stray").mkdir()
    again = Workspace(ws.root)  # a restart finds the same things
    assert again.datasets() == ["dancer"]
    assert again.source_videos() == ["src.mp4"]
    info = again.run_info("stray")
    assert info.dataset is None and not info.resumable and not info.usable


def test_controller_refuses_bad_requests_with_messages(tmp_path, tiny_dataset, clip):
    ws = Workspace(tmp_path / "ws")
    c = Controller(ws, JobManager())
    with pytest.raises(InputError, match="upload a target video in step 1"):
        c.start_training(None, "r", "tiny")
    with pytest.raises(InputError, match="no prepared dataset"):
        c.start_training("nope", "r", "tiny")
    shutil.copytree(tiny_dataset, ws.targets / "dancer" / "dataset")
    with pytest.raises(InputError, match="unknown preset"):
        c.start_training("dancer", "r", "huge")
    with pytest.raises(InputError, match="steps per stage must be at least 1"):
        c.start_training("dancer", "r", "tiny", steps=-3)
    with pytest.raises(InputError, match="no checkpoint to resume"):
        c.resume_training("r")
    with pytest.raises(InputError, match="no trained generator"):
        c.transfer("r", "src.mp4")
    with pytest.raises(InputError, match="unknown training size"):
        c.add_target(clip, "999")
    with pytest.raises(InputError, match="unsupported file type"):
        c.add_source(clip.with_suffix(".gif"))
    assert c.add_source(clip) == "dancer.mp4" and c.add_source(clip) == "dancer-2.mp4"
    assert ws.source_videos() == ["dancer-2.mp4", "dancer.mp4"]
    assert c.stop_training() == "Nothing is training."


def test_transfer_is_refused_while_training_waits(tmp_path, tiny_dataset):
    ws = Workspace(tmp_path / "ws")
    jobs = JobManager()
    c = Controller(ws, jobs)
    run = ws.run_path("r")
    run.mkdir()
    config = {
        "data": {"dataset": str(tiny_dataset)},
        "train": {"preset": "tiny"},
        "completed_stages": ["global"],
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "global_generator.safetensors").write_bytes(b"")
    (ws.sources / "s.mp4").write_bytes(b"x")
    with jobs.transfer_slot():  # keeps the submitted job waiting in the queue
        jobs.submit(TrainJob(run=ws.run_path("other"), dataset=tiny_dataset, preset="tiny"))
        with pytest.raises(Busy, match="queued"):
            c.transfer("r", "s.mp4")
        assert "Queued:** other" in c.training_view("r")[0]
        assert "Removed **other** from the queue" in c.stop_training("other")


def test_loss_rows_run_across_stages():
    rows = [
        {"stage": "global", "step": 1, "g_total": 3.0, "d_total": 1.0},
        {"stage": "global", "step": 2, "g_total": 2.0, "d_total": 0.9},
        {"stage": "face", "step": 1, "face_total": 5.0, "face_d": 0.5, "lr": 1e-4},
    ]
    out = loss_rows(rows)
    assert [(r["step"], r["loss"]) for r in out] == [
        (1, "g_total"),
        (1, "d_total"),
        (2, "g_total"),
        (2, "d_total"),
        (3, "face_total"),
        (3, "face_d"),
    ]


def test_loss_chart_draws_every_stage(tmp_path):
    import cv2

    rows = loss_rows(
        [{"stage": "global", "step": i, "g_total": 3.0 - 0.1 * i, "d_total": 1.0} for i in range(1, 4)]
        + [{"stage": "face", "step": i, "face_total": 5.0, "face_d": 0.5} for i in range(1, 4)]
    )
    path = loss_chart(rows, tmp_path / "losses.png")
    image = cv2.imread(str(path))
    assert image.shape == (320, 640, 3)
    red = (image[..., 2] > 180) & (image[..., 1] < 80) & (image[..., 0] < 80)  # face_total's line
    assert red.sum() > 50
    assert loss_chart([], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()

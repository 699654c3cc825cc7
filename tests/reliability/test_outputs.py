"""Outputs checked before any work (issue #18): never overwrite an input, never fail late.

Every command that writes a file refuses, with exit 2 and one line naming the output, an output
that is one of its inputs (the same path, a symlink to it, a hard link to it) or another of its
outputs, and an output it could not write. The inputs are left byte for byte as they were.
Most cases run ``dancenow.cli.main`` in-process: the check comes before any heavy import, so the
inputs need not even be valid (which also shows that nothing else ran first).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys

import pytest
from cli_helpers import assert_one_line_error, run_dancenow
from test_bad_input import assert_main_error, cli_main

from dancenow import cli


def _snapshot(*paths) -> dict:
    """Bytes and mtime of every file under ``paths`` (to show inputs were not touched)."""
    files = []
    for p in paths:
        files += [p] if p.is_file() else [f for f in sorted(p.rglob("*")) if f.is_file()]
    return {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}


@pytest.fixture
def inputs(tmp_path):
    """A source video, a pose file, a dataset folder and a run folder (contents irrelevant here)."""
    (tmp_path / "a.mp4").write_bytes(b"user's only copy of the video")
    (tmp_path / "a.npz").write_bytes(b"user's poses")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset.json").write_text("{}")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "f_000000000000_keypoints.json").write_text("{}")
    os.symlink("a.mp4", tmp_path / "link.mp4")
    os.link(tmp_path / "a.mp4", tmp_path / "hard.mp4")
    os.link(tmp_path / "a.mp4", tmp_path / "hard.npz")
    return tmp_path


# (name, argument list with {d} for the folder, the output named in the error, what the line says)
SAME = "is the same file as the input"
OTHER = "is also the path of the output"
CASES = [
    ("pose -o hard link to the video", "pose {d}/a.mp4 -o {d}/hard.npz", "hard.npz", SAME),
    ("pose --preview = video", "pose {d}/a.mp4 -o {d}/p.npz --preview {d}/a.mp4", "a.mp4", SAME),
    ("pose --preview symlink", "pose {d}/a.mp4 -o {d}/p.npz --preview {d}/link.mp4", "link.mp4", SAME),
    ("pose --preview hard link", "pose {d}/a.mp4 -o {d}/p.npz --preview {d}/hard.mp4", "hard.mp4", SAME),
    (
        "pose --export-openpose = json input",
        "pose {d}/json -o {d}/p.npz --backend openpose-json --frame-size 64x64 --export-openpose {d}/json",
        "json",
        SAME,
    ),
    ("prepare -o = its video", "prepare {d}/a.mp4 -o {d}/a.mp4", "a.mp4", "not a folder"),
    ("prepare -o holds the video", "prepare {d}/a.mp4 -o {d}", "", "contains the input"),
    ("prepare -o holds --poses", "prepare {d}/a.mp4 -o {d}/ds --poses {d}/ds/dataset.json", "ds", "contains"),
    ("train DS -o DS", "train {d}/ds -o {d}/ds", "ds", SAME),
    ("train -o a symlink to DS", "train {d}/ds -o {d}/dslink", "dslink", SAME),
    ("transfer -o = source", "transfer --model {d}/run --source {d}/a.mp4 -o {d}/a.mp4", "a.mp4", SAME),
    (
        "transfer -o hard link to source",
        "transfer --model {d}/run --source {d}/a.mp4 -o {d}/hard.mp4",
        "hard.mp4",
        SAME,
    ),
    (
        "transfer --side-by-side = source",
        "transfer --model {d}/run --source {d}/a.mp4 -o {d}/b.mp4 --side-by-side {d}/a.mp4",
        "a.mp4",
        SAME,
    ),
    (
        "transfer --side-by-side = -o",
        "transfer --model {d}/run --source {d}/a.mp4 -o {d}/b.mp4 --side-by-side {d}/b.mp4",
        "b.mp4",
        OTHER,
    ),
    (
        "transfer OUT.poses.npz = --source-poses",
        "transfer --model {d}/run --source {d}/a.mp4 --source-poses {d}/b.poses.npz -o {d}/b.mp4",
        "b.poses.npz",
        SAME,
    ),
    (
        "evaluate --json = the scored video",
        "evaluate --transfer {d}/a.mp4 --json {d}/link.mp4",
        "link.mp4",
        SAME,
    ),
    ("evaluate --out = dataset", "evaluate --model {d}/run --data {d}/ds --out {d}/ds", "ds", SAME),
    (
        "evaluate --json = run",
        "evaluate --model {d}/run --data {d}/ds --json {d}/run",
        "run",
        "is a directory",
    ),
]


@pytest.mark.parametrize("args, named, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_output_that_is_an_input_or_another_output_is_refused(args, named, needle, inputs, capsys):
    (inputs / "b.poses.npz").write_bytes(b"user's source poses")
    os.symlink("ds", inputs / "dslink")
    before = _snapshot(inputs)
    argv = args.format(d=inputs).split()
    assert_main_error(*cli_main(capsys, *argv), f"{inputs / named}: ".replace("/: ", ": "), needle)
    assert _snapshot(inputs) == before  # every input intact, nothing written (not even in ds/)
    assert sorted(p.name for p in inputs.iterdir()) == sorted(
        ["a.mp4", "a.npz", "ds", "run", "json", "link.mp4", "hard.mp4", "hard.npz", "b.poses.npz", "dslink"]
    )


def test_the_real_commands_refuse_in_a_fresh_process(inputs):
    """The issue's three reproductions, as a user runs them."""
    before = _snapshot(inputs)
    d = inputs
    for args in (
        ["transfer", "--model", d / "run", "--source", d / "a.mp4", "-o", d / "a.mp4"],
        [
            "transfer",
            "--model",
            d / "run",
            "--source",
            d / "a.mp4",
            "-o",
            d / "b.mp4",
            "--side-by-side",
            d / "a.mp4",
        ],
        ["pose", d / "a.mp4", "-o", d / "p.npz", "--preview", d / "a.mp4"],
    ):
        assert_one_line_error(run_dancenow(*args), str(d / "a.mp4"), SAME)
    assert _snapshot(inputs) == before


# --- outputs that cannot be written: refused before the work ------------------------------------
@pytest.mark.parametrize(
    "args, named, needle",
    [
        # -o naming an existing directory: refused before detection or generation starts
        ("pose {d}/a.mp4 -o {d}/ds.npz", "ds.npz", "is a directory"),
        ("transfer --model {d}/missing_run --source {d}/a.mp4 -o {d}/ds.mp4", "ds.mp4", "is a directory"),
        ("demo -o {d}/a.mp4", "a.mp4", "not a folder"),
        ("train {d}/ds -o {d}/a.mp4", "a.mp4", "not a folder"),
        # a special file as an output: the rename would replace it
        (
            "evaluate --transfer {d}/a.mp4 --json /dev/null",
            "/dev/null",
            "not a regular file (a character device)",
        ),
        # /proc and /sys take no new files (root included): named, and not as a disk-space problem
        ("pose {d}/a.mp4 -o /proc/x.npz", "/proc/x.npz", "cannot write there"),
        ("train {d}/ds -o /proc/run", "/proc/run", "cannot write there"),
        ("prepare {d}/a.mp4 -o /sys/ds", "/sys/ds", "cannot write there"),
        ("transfer --model {d}/run --source {d}/a.mp4 -o /proc/o.mp4", "/proc/o.mp4", "cannot write there"),
        ("evaluate --model {d}/run --data {d}/ds --json /sys/e.json", "/sys/e.json", "cannot write there"),
        ("demo -o /proc/demo", "/proc/demo", "cannot write there"),
        ("ui --workspace /proc/ws", "/proc/ws", "cannot write there"),
        # a symlink loop as an output
        ("pose {d}/a.mp4 -o {d}/loop.npz", "loop.npz", "symlink loop"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_first(args, named, needle, inputs, capsys):
    (inputs / "ds.npz").mkdir()
    (inputs / "ds.mp4").mkdir()
    os.symlink("loop.npz", inputs / "loop.npz")
    if not os.path.exists("/proc/self") or not os.path.isdir("/sys"):
        pytest.skip("needs Linux /proc and /sys")
    before = _snapshot(inputs)
    argv = args.format(d=inputs).split()
    shown = named if named.startswith("/") else str(inputs / named)
    code, err = cli_main(capsys, *argv)
    assert_main_error(code, err, f"{shown}: ", needle)
    assert "free" not in err  # pose -o /proc/x used to blame the disk space
    assert _snapshot(inputs) == before


def test_ui_port_out_of_range_is_one_line(cli):
    cli.error(cli("ui", "--port", "99999"), "--port", "1-65535")
    cli.error(cli("ui", "--port", "0"), "--port")


def _read_only_mount_works(folder) -> bool:
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o ro none "$0" && ! touch "$0/x"', str(folder)],
        capture_output=True,
    )
    return probe.returncode == 0


READ_ONLY = [
    "pose {v} -o {ro}/p.npz",
    "prepare {v} -o {ro}/ds",
    "train {ds} -o {ro}/run",
    "transfer --model {run} --source {v} -o {ro}/o.mp4",
    "evaluate --model {run} --data {ds} --json {ro}/e.json",
    "evaluate --model {run} --data {ds} --out {ro}/eval",
]


@pytest.mark.parametrize("args", READ_ONLY, ids=[a.split()[0] + "_" + a.split()[-2] for a in READ_ONLY])
def test_output_into_a_read_only_file_system_is_one_line(args, inputs, tmp_path):
    """A real read-only file system (errno 30, which root cannot write either): a read-only tmpfs
    mounted in a private mount namespace (``unshare -m``) for the command alone."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if shutil.which("unshare") is None or not _read_only_mount_works(ro):
        pytest.skip("cannot mount a read-only tmpfs here (needs unshare -m and mount rights)")
    argv = args.format(v=inputs / "a.mp4", ds=inputs / "ds", run=inputs / "run", ro=ro).split()
    script = 'mount -t tmpfs -o ro none "$0" && shift && exec "$@"'
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(ro), "-", sys.executable, "-m", "dancenow", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_one_line_error(result, str(ro), "read-only file system")
    assert list(ro.iterdir()) == []


def test_a_file_system_error_after_the_checks_is_one_line(monkeypatch, capsys):
    """The net under the checks: an OSError the user can act on (read-only, full disk...) that
    happens mid-command is one line naming the file, exit 2."""

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.mp4")

    monkeypatch.setattr(cli, "cmd_env", full_disk)
    code, err = cli_main(capsys, "env")
    assert_main_error(code, err, "/data/out.mp4: No space left on device")

    def bug(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(cli, "cmd_env", bug)
    with pytest.raises(OSError):  # not the user's to fix: an internal error, with its traceback
        cli.main(["env"])

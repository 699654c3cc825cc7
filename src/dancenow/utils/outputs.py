"""Check a command's output paths before any work: never overwrite an input, never fail late.

Every command that writes calls :func:`check_outputs` first, with all of its inputs and outputs.
It refuses (``InputError``, exit 2, one line naming the output):

- an output that is the same file as an input, or as another output: the same path, a symlink
  to it, or a hard link (same device and inode). Writing it would destroy the input (or one of
  the two outputs) after the work;
- a folder replaced as a whole (``prepare -o``) that contains an input: the swap would delete it;
- an output file that names an existing directory or a non-regular file (``/dev/null``, a FIFO);
  an output folder that names an existing file; a symlink loop;
- an output whose folder cannot be written (read-only file system, no permission, ``/proc``):
  found by creating and removing a probe file in the nearest existing folder, which is the one
  test that tells the truth for every reason (root ignores permission bits, not ``EROFS``).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dancenow.errors import InputError


def check_outputs(
    inputs: Iterable[str | Path | None] = (),
    *,
    files: Iterable[str | Path | None] = (),
    folders: Iterable[str | Path | None] = (),
    replaced_folders: Iterable[str | Path | None] = (),
) -> None:
    """Raise :class:`InputError` unless every output can be written without touching an input.

    Args:
        inputs: files and folders the command reads (``None`` entries are skipped).
        files: output files (written to a temporary and renamed onto the path).
        folders: output folders written into (created when missing).
        replaced_folders: output folders replaced as a whole when they exist.
    """
    ins = [Path(p) for p in inputs if p is not None]
    outs = [(Path(p), "file") for p in files if p is not None]
    outs += [(Path(p), "folder") for p in folders if p is not None]
    outs += [(Path(p), "replaced") for p in replaced_folders if p is not None]
    for path, kind in outs:
        _check_kind(path, kind)
    for path, kind in outs:
        for source in ins:
            if _same(path, source):
                raise InputError(path, f"is the same file as the input {source}: refusing to overwrite it")
            if kind == "replaced" and _inside(source, path):
                raise InputError(
                    path, f"contains the input {source}: writing the output here would delete it"
                )
    for i, (path, _) in enumerate(outs):
        for other, _ in outs[:i]:
            if _same(path, other):
                raise InputError(path, f"is also the path of the output {other}: give each output its own")
    probed: set[Path] = set()
    for path, kind in outs:
        folder = _nearest_existing_folder(path if kind != "file" else path.parent, path)
        if folder not in probed:
            check_writable(folder, path)
            probed.add(folder)


def check_writable(folder: Path, named: Path | None = None) -> None:
    """Raise :class:`InputError` (naming ``named``, default ``folder``) unless a file can be created
    in the existing folder ``folder``."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".dancenow-write-test.", dir=folder)
    except OSError as e:
        reasons = {errno.EROFS: "a read-only file system", errno.ENOENT: "it takes no new files"}
        reason = reasons.get(e.errno, e.strerror)
        problem = f"cannot write there: creating a file in {folder} fails ({reason})"
        raise InputError(named or folder, problem) from None
    os.close(fd)
    os.unlink(probe)


def _check_kind(path: Path, kind: str) -> None:
    st = _stat(path)
    if st is None:
        return
    if kind == "file":
        if stat.S_ISDIR(st.st_mode):
            raise InputError(path, "is a directory: give the output a file name")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(path, f"exists and is not a regular file ({describe_mode(st.st_mode)})")
    elif not stat.S_ISDIR(st.st_mode):
        raise InputError(path, "exists and is not a folder")


def _stat(path: Path) -> os.stat_result | None:
    """``os.stat`` (following symlinks); None when nothing is there; a symlink loop is refused."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(path, "symlink loop (the link points back to itself)") from None
        if e.errno == errno.ENOTDIR:
            return None  # a parent is a file: reported by the writability probe
        raise InputError(path, f"cannot check the output ({e.strerror})") from None


def _same(a: Path, b: Path) -> bool:
    sa, sb = _stat(a), _stat(b)
    if sa is not None and sb is not None:
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)  # symlinks and hard links too
    return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _nearest_existing_folder(folder: Path, named: Path) -> Path:
    folder = folder.absolute()
    while not os.path.lexists(folder):
        folder = folder.parent
    st = _stat(folder)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise InputError(named, f"cannot write there: {folder} is not a folder")
    return folder


def describe_mode(mode: int) -> str:
    """What kind of file ``st_mode`` is, in words (for messages about non-regular files)."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "a special file"

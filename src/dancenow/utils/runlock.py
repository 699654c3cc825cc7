"""The run folder's lock: one training process per run; readers never mix two saves.

``RUN/.lock`` is an empty file (created once, never removed) that carries two POSIX record
locks (``fcntl``), which the kernel drops when the process ends in any way, ``kill -9``
included:

- byte 0, exclusive, held by the process that trains into ``RUN`` for as long as it trains.
  A second ``dancenow train -o RUN`` finds it taken and is told who holds it (``F_GETLK``
  reports the holder's pid).
- byte 1, exclusive while the trainer replaces the inference files (``config.json`` and the
  generator weights, one atomic rename each), shared while ``transfer`` or ``evaluate`` loads
  them: a reader gets all of one save, never the config of one step and weights of another.

POSIX locks belong to a process, and closing *any* descriptor of the file drops all of them,
so the process keeps one descriptor per run (``_held``) and every lock on that run goes
through it. Forked children (DataLoader workers) do not inherit the locks, so a killed trainer
frees its run at once even while its workers wind down.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

from dancenow.errors import InputError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL}  # file systems without record locks
_TRAINING, _FILES = 0, 1  # the byte each lock covers
_held: dict[Path, list] = {}  # resolved run folder -> [descriptor, number of users]


@contextlib.contextmanager
def training_lock(run: str | Path) -> Iterator[None]:
    """Hold ``RUN``'s training lock (``RUN`` must exist) until the block ends.

    Raises :class:`InputError` ``RUN: in use by another training process (pid N)`` at once
    when another process holds it. Re-entrant within one process.
    """
    run = Path(run)
    with _descriptor(run, write=True) as fd:
        try:
            _lock(fd, fcntl.F_WRLCK, _TRAINING, wait=False)
        except BlockingIOError:
            pid = _holder(fd, _TRAINING)
            shown = f"pid {pid}" if pid else "pid unknown"
            raise InputError(run, f"in use by another training process ({shown})") from None
        except OSError as e:
            if e.errno not in _NO_LOCKS:
                raise
            log.warning("%s: this file system has no locks (%s): nothing stops a second trainer", run, e)
        yield


@contextlib.contextmanager
def writing(run: str | Path) -> Iterator[None]:
    """Exclusive hold on ``RUN``'s inference files while a save replaces them (waits for readers)."""
    with _descriptor(Path(run), write=True) as fd:
        _lock(fd, fcntl.F_WRLCK, _FILES, wait=True)
        try:
            yield
        finally:
            _lock(fd, fcntl.F_UNLCK, _FILES, wait=False)


@contextlib.contextmanager
def reading(run: str | Path) -> Iterator[None]:
    """Shared hold on ``RUN``'s inference files while they are loaded (waits for a save to end).

    A run without a lock file (or one this process may not open) is read without locking:
    no trainer of this version is writing it.
    """
    run = Path(run)
    stack = contextlib.ExitStack()
    try:
        fd = stack.enter_context(_descriptor(run, write=False))
    except OSError:
        yield
        return
    with stack:
        _lock(fd, fcntl.F_RDLCK, _FILES, wait=True)
        try:
            yield
        finally:
            _lock(fd, fcntl.F_UNLCK, _FILES, wait=False)


@contextlib.contextmanager
def _descriptor(run: Path, *, write: bool) -> Iterator[int]:
    """The process's one descriptor of ``RUN/.lock`` (opened on first use, closed after the last)."""
    key = run.resolve()
    entry = _held.get(key)
    if entry is None:
        flags = os.O_RDWR | os.O_CREAT if write else os.O_RDONLY
        entry = _held[key] = [os.open(key / LOCK_NAME, flags, 0o666), 0]
    entry[1] += 1
    try:
        yield entry[0]
    finally:
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            os.close(entry[0])  # drops every lock this process holds on the run


# struct flock as the C library lays it out (native alignment): Linux puts the type first, the BSDs last
_FLOCK = "qqihh" if sys.platform == "darwin" else "hhqqi4x"


def _flock_struct(kind: int, start: int) -> bytes:
    if sys.platform == "darwin":
        return struct.pack(_FLOCK, start, 1, 0, kind, os.SEEK_SET)
    return struct.pack(_FLOCK, kind, os.SEEK_SET, start, 1, 0)


def _lock(fd: int, kind: int, start: int, *, wait: bool) -> None:
    try:
        fcntl.lockf(fd, _lockf_op(kind, wait), 1, start, os.SEEK_SET)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EAGAIN):
            raise BlockingIOError(e.errno, e.strerror) from None
        if e.errno in _NO_LOCKS and (wait or kind == fcntl.F_UNLCK):
            return  # readers and saves go unlocked where the file system has no locks
        raise


def _lockf_op(kind: int, wait: bool) -> int:
    op = {fcntl.F_WRLCK: fcntl.LOCK_EX, fcntl.F_RDLCK: fcntl.LOCK_SH, fcntl.F_UNLCK: fcntl.LOCK_UN}[kind]
    return op if wait or kind == fcntl.F_UNLCK else op | fcntl.LOCK_NB


def _holder(fd: int, start: int) -> int | None:
    """The pid holding a lock that conflicts with an exclusive lock of byte ``start`` (None: gone)."""
    try:
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, _flock_struct(fcntl.F_WRLCK, start))
    except OSError:
        return None
    fields = struct.unpack(_FLOCK, answer)
    kind, pid = (fields[3], fields[2]) if sys.platform == "darwin" else (fields[0], fields[4])
    return pid if kind != fcntl.F_UNLCK and pid > 0 else None

"""Disk space: refuse to start work whose output cannot fit.

A long job that dies at the end with ``No space left on device`` wastes the whole run (and the
atomic writers then delete the partial output anyway), so each command estimates what it will
write and checks the free space of the output's file system before it starts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dancenow.errors import InputError

MARGIN_BYTES = 16 * 2**20  # room for temporaries, metadata and the estimate being a little low


def free_bytes(path: str | Path) -> int:
    """Free bytes on the file system that ``path`` (or its first existing parent) would live on."""
    folder = Path(path).absolute()
    while not folder.exists():  # outputs may create missing parents: measure the first that exists
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_free_space(output: str | Path, planned_bytes: int, what: str = "the output") -> None:
    """Raise :class:`InputError` naming ``output`` unless ``planned_bytes`` (plus a margin) fit.

    Args:
        output: the file or folder about to be written.
        planned_bytes: the estimated size of everything written there.
        what: what the bytes are, for the message (e.g. "the frames").
    """
    free = free_bytes(output)
    if planned_bytes + MARGIN_BYTES > free:
        raise InputError(output, f"{what} needs ~{_mb(planned_bytes)}, only {_mb(free)} free on its disk")


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e9 else f"{max(nbytes / 1e6, 0.1):.1f} MB"

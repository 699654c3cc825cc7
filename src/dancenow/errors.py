"""Errors a user can act on.

``InputError`` is bad input (missing file, not a video, no person, unsupported option):
the CLI prints one line naming the file and the problem and exits with status 2.
Anything else escaping a command is an internal error (status 1).
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input. ``str(err)`` is the one-line message shown to the user."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)

    def __reduce__(self):
        # Rebuild from (path, problem) so the error survives pickling across worker processes.
        return (self.__class__, (self.path, self.problem))

"""Progress bars: tqdm, redrawn often on a terminal and rarely in logs (CI, nohup)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(
    total: int | None = None, desc: str = "", unit: str = "it", *, enabled: bool = True, **kw
) -> tqdm:
    """A tqdm bar on stderr; in a non-interactive log it updates every 10 s instead of every 0.1 s."""
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.1 if interactive else 10.0,
        file=sys.stderr,
        **kw,
    )

"""How torch's OpenMP threads wait between operations, chosen by what the machine is doing.

Spinning waiters (libgomp's default) make a training step and generation about 1.2x faster on
an idle 2-core machine. But when another process keeps a core busy they slow both down by 2x
or more. Sleeping waiters (``OMP_WAIT_POLICY=PASSIVE``) are the safe choice there. This must be
decided before torch is imported; docs/BENCHMARKS.md has the measurements.
"""

from __future__ import annotations

import os
import time

BUSY_CORES = 0.25  # other processes using more than this many cores on average count as "busy"


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def other_load(sample_seconds: float = 0.1) -> float | None:
    """Cores kept busy by other processes over ``sample_seconds`` (this process sleeps meanwhile)."""
    a = _cpu_times()
    if a is None:
        return None
    time.sleep(sample_seconds)
    b = _cpu_times()
    if b is None or b[1] <= a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1]) * (os.cpu_count() or 1)


def choose_wait_policy(environ=os.environ, load: float | None = None) -> str:
    """Set ``OMP_WAIT_POLICY`` in ``environ`` unless the user did; returns the policy in effect.

    ``PASSIVE`` when other processes keep more than :data:`BUSY_CORES` cores busy (or the load
    cannot be read), else libgomp's default (spin briefly, then sleep), reported as ``default``.
    """
    if environ.get("OMP_WAIT_POLICY"):
        return environ["OMP_WAIT_POLICY"]
    if load is None:
        load = other_load()
    if load is None or load > BUSY_CORES:
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE"
    return "default"

"""What machine a figure was measured on, in one line (benchmarks, ``dancenow env``)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: str = "cpu") -> str:
    """``CPU model, N cores[, GPU name], Python x.y.z, torch x.y.z`` for ``device`` (cpu | cuda)."""
    import torch

    parts = [f"{cpu_model()}, {os.cpu_count()} cores"]
    if device.startswith("cuda") and torch.cuda.is_available():
        parts.append(torch.cuda.get_device_name(0))
    parts += [f"Python {platform.python_version()}", f"torch {torch.__version__}"]
    return ", ".join(parts)


# Peak RSS of one MediaPipe Holistic pose worker: 0.40-0.43 GB measured on generated 256-1024 px
# clips, 0.43-0.47 GB at 1080p (docs/BENCHMARKS.md); planned at 0.6 GB for 4K frames and headroom.
POSE_WORKER_BYTES = 600 * 2**20


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory available to new processes (``MemAvailable``), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cap_workers(
    requested: int,
    per_worker_bytes: int = POSE_WORKER_BYTES,
    *,
    cpus: int | None = None,
    memory: int | None = None,
) -> tuple[int, str | None]:
    """``(workers, why)``: ``requested`` capped at the CPU count and at what available memory holds
    (``per_worker_bytes`` each); ``why`` says what capped it (None when nothing did)."""
    cpus = usable_cpus() if cpus is None else cpus
    memory = available_memory() if memory is None else memory
    by_memory = max(1, memory // per_worker_bytes) if memory is not None else requested
    workers = max(1, min(requested, cpus, by_memory))
    if workers == requested:
        return workers, None
    mem = f"{memory / 2**30:.1f} GB memory available" if memory is not None else "memory unknown"
    return workers, (
        f"{requested} workers asked, using {workers}: {cpus} CPUs, {mem}, "
        f"~{per_worker_bytes / 2**30:.1f} GB per worker"
    )

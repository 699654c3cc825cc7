"""Mixed precision: which autocast dtype a device runs fast."""

from __future__ import annotations

import os

import torch

CPU_BF16_ENV = "DANCENOW_CPU_BF16"
"""``1`` makes ``auto`` act as if the CPU ran bf16 natively, ``0`` as if it did not (unset: ask the
CPU). Lets the test suite exercise both precision paths on either kind of machine."""


def default_device(name: str | None = None) -> torch.device:
    """``name`` (``cpu``, ``cuda``, ``cuda:N``), or when None the GPU if there is one, else the CPU."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def cpu_has_native_bf16() -> bool:
    """True where the CPU runs bf16 natively (AVX512-BF16/AMX), unless ``DANCENOW_CPU_BF16`` says."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ValueError(f"{CPU_BF16_ENV} must be 0 or 1, got {forced!r}")
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (fp32 | bf16 | auto) on ``device``; None means fp32.

    ``auto`` picks bf16 only where the hardware runs it natively: CUDA GPUs that support it, and
    CPUs with AVX512-BF16/AMX. Elsewhere autocast emulates bf16 and is slower than fp32.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_native_bf16() else None

"""Mixed precision: which autocast dtype a device runs fast."""

from __future__ import annotations

import torch


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
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None

"""The precision check honours DANCENOW_CPU_BF16, so both autocast paths run on any CPU."""

from __future__ import annotations

import pytest
import torch

from dancenow.utils.precision import CPU_BF16_ENV, cpu_has_native_bf16, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize(("forced", "expected"), [("1", torch.bfloat16), ("0", None)])
def test_auto_follows_the_forced_cpu_kind(monkeypatch, forced, expected):
    monkeypatch.setenv(CPU_BF16_ENV, forced)
    assert resolve_precision("auto", CPU) is expected
    # explicit choices ignore the CPU kind
    assert resolve_precision("fp32", CPU) is None and resolve_precision("bf16", CPU) is torch.bfloat16


def test_unset_asks_the_cpu(monkeypatch):
    monkeypatch.delenv(CPU_BF16_ENV, raising=False)
    assert cpu_has_native_bf16() == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_a_bad_value_is_refused(monkeypatch):
    monkeypatch.setenv(CPU_BF16_ENV, "yes")
    with pytest.raises(ValueError, match=CPU_BF16_ENV):
        resolve_precision("auto", CPU)

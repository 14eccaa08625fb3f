"""bfloat16 only where it is fast: CUDA, or a CPU with native bf16 instructions."""

import pytest
import torch

from backend.core import config


@pytest.mark.parametrize(
    ("flags", "fast"), [(set(), False), ({"avx2", "avx512f"}, False), ({"avx512_bf16"}, True), ({"amx_bf16"}, True)]
)
def test_bf16_is_used_on_a_cpu_only_with_native_instructions(
    monkeypatch: pytest.MonkeyPatch, flags: set[str], fast: bool
) -> None:
    monkeypatch.setattr(config, "_cpu_flags", lambda: frozenset(flags))
    cpu = torch.device("cpu")
    assert config.fast_bf16(cpu) is fast
    assert config.candidate_dtype(cpu) == (torch.bfloat16 if fast else torch.float32)
    assert config.fast_bf16(torch.device("cuda"))

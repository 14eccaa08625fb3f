"""Process-wide settings: where data lives and which device computes."""

import functools
import os
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout: `app.py`, `backend/`, `assets/` live here."""
ASSETS = PROJECT_ROOT / "assets"
DATA_DIR_ENV = "ATLAS_DATA_DIR"
"""Environment variable that overrides the data directory."""


def data_dir() -> Path:
    """The one directory holding built releases, converted models and indexes."""
    override = os.environ.get(DATA_DIR_ENV)
    root = Path(override) if override else Path.home() / ".cache" / "sae-atlas"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def free_memory(device: torch.device) -> int | None:
    """Bytes `device` can still hand out (what torch's caching allocator holds unused counts as free: it gives that
    back when asked for more); None on the CPU, whose memory the operating system shares out."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    return frozenset(word for line in text.splitlines() if line.startswith("flags") for word in line.split()[2:])


def fast_bf16(device: torch.device) -> bool:
    """Whether bfloat16 compute is faster than float32 on `device`: CUDA, or a CPU with native bf16
    instructions (avx512_bf16 or AMX). Without them torch emulates bf16 on the CPU, about 5x slower than
    float32 (measured on a 2-core AMD EPYC without AVX-512: 300 against 1,615 tokens/s to block 8)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


def candidate_dtype(device: torch.device) -> torch.dtype:
    """The dtype of products that only pick candidates (exact values are recomputed in float32):
    bfloat16 where it is fast (`fast_bf16`), float32 elsewhere."""
    return torch.bfloat16 if fast_bf16(device) else torch.float32


READ_ONLY_ENV = "ATLAS_READ_ONLY"
"""Set to 1 on a shared deployment: the app then only reads what is built, and hides every action that
trains, computes an analysis, imports from the internet or parses an upload (SECURITY.md)."""


def read_only() -> bool:
    return os.environ.get(READ_ONLY_ENV, "").strip().lower() in ("1", "true", "yes")


ALLOWED_ROOTS_ENV = "ATLAS_ALLOWED_ROOTS"
"""Folders (os.pathsep-separated) whose SAEs and corpora a visitor may pick in the app's add form; the data
directory (which holds uploads) when unset. The command line is the operator's and reads any path."""


def allowed_roots() -> tuple[Path, ...]:
    named = [Path(p).expanduser() for p in os.environ.get(ALLOWED_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return tuple(dict.fromkeys(p.resolve() for p in named or [data_dir()]))

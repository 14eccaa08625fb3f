"""Reading an SAE's files without loading its tensors: the safetensors header (each tensor's dtype, shape and byte
range), whether the weights file is whole, the decoder rows mapped from the file, and an SAE's outline (its config
and densities). What the app needs of the paper's eight sizes where loading them would read 1.2 GB."""

import json
import mmap
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from backend.core.errors import SAEFormatError, first_line
from backend.models.formats import (
    PAPER_WEIGHTS,
    SAELENS_CFG,
    SAELENS_WEIGHTS,
    check_tensors,
    parse_saelens_config,
    read_config_json,
    stored_density,
)
from backend.models.sae import SAEConfig


def weights_complete(folder: Path) -> bool:
    """Whether the folder's weights file (either layout) is whole, without reading its tensors: a safetensors file
    as long as its header says, or a `torch.save` archive whose central directory (at its end) reads. A deleted or
    truncated file is not."""
    try:
        if (folder / SAELENS_CFG).exists():
            start, header = safetensors_header(folder / SAELENS_WEIGHTS)
            ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
            return (folder / SAELENS_WEIGHTS).stat().st_size == start + max(ends, default=0)
        with zipfile.ZipFile(folder / PAPER_WEIGHTS) as archive:
            return len(archive.namelist()) > 0
    except (OSError, ValueError, KeyError, TypeError, IndexError, RecursionError, zipfile.BadZipFile):
        return False


def safetensors_header(path: Path) -> tuple[int, dict[str, Any]]:
    """Where a safetensors file's data begins, and its header: each tensor's dtype, shape and byte range from there
    (the format: an 8-byte little-endian header length, then the header as JSON)."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if size > min(MAX_HEADER_BYTES, path.stat().st_size):  # not a safetensors file: its first bytes are text
            raise ValueError(f"a header of {size:,} bytes")
        return 8 + size, json.loads(handle.read(size))


MAX_HEADER_BYTES = 100_000_000
"""The longest header the safetensors format allows."""
MAPPED_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
HEADER_DTYPES = {
    **MAPPED_DTYPES,
    "F64": torch.float64,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
"""The safetensors format's dtype names, as torch reads them."""


def mapped_decoder(folder: Path) -> Tensor:
    """The decoder rows `[d_sae, d_in]` of a SAELens-layout SAE, mapped from its weights file rather than read: the
    pages the operating system keeps are shared by every process and dropped under memory pressure, so serving the
    paper's eight sizes holds none of their decoders on the heap (a read copy of all eight is 600 MB). The mapping
    is private (copy-on-write): nothing written to the tensor reaches the file."""
    path = folder / SAELENS_WEIGHTS
    try:
        start, header = safetensors_header(path)
        entry = header["W_dec"]
        dtype = MAPPED_DTYPES[entry["dtype"]]
        rows, width = entry["shape"]
        begin, end = entry["data_offsets"]
        with open(path, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
        raise SAEFormatError(f"{path}: no readable W_dec to map ({first_line(err)}).") from err
    count = rows * width
    ends = [item["data_offsets"][1] for name, item in header.items() if name != "__metadata__"]
    if end - begin != count * dtype.itemsize or start + max(ends) != len(mapped):
        raise SAEFormatError(f"{path} is not as long as its header says, or W_dec's bytes do not fit its shape "
                             f"{[rows, width]}: the file may be truncated. Download or build it again.")  # fmt: skip
    return torch.frombuffer(mapped, dtype=dtype, count=count, offset=start + begin).view(rows, width)


class SAEOutline(NamedTuple):
    """An SAE's config and stored densities, its weights unread: what a table of a family's sizes needs."""

    cfg: SAEConfig
    log10_density: Tensor | None
    """`[d_sae]` from `sparsity.safetensors` when the release ships one."""


def outline_saelens(path: Path) -> SAEOutline:
    """The outline of the SAE in SAELens layout at `path`: its config read against the weights file's header, with
    the checks loading makes of the tensors' names, types and shapes but not of their values, and the weights whole
    (`weights_complete`). Reads kilobytes where loading reads the weights (1.2 GB for the paper's eight sizes)."""
    raw = read_config_json(path / SAELENS_CFG)
    weights = path / SAELENS_WEIGHTS
    if not weights_complete(path):
        raise SAEFormatError(f"{weights} is missing or shorter than its header says; download or build it again.")
    try:
        _, header = safetensors_header(weights)
        tensors = {
            name: torch.empty([int(n) for n in entry["shape"]], dtype=HEADER_DTYPES[entry["dtype"]], device="meta")
            for name, entry in header.items()
            if name != "__metadata__"
        }
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
        raise SAEFormatError(f"{weights} is not a readable safetensors file ({first_line(err)}).") from err
    cfg = parse_saelens_config(raw, tensors)
    check_tensors(cfg, tensors, weights, values=False)
    return SAEOutline(cfg, stored_density(path, cfg.d_sae))

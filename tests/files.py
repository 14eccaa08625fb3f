"""Changing a file of the session's shared build in a test."""

import os
from pathlib import Path


def replace_bytes(path: Path, data: bytes) -> None:
    """`path` now holds `data`, as a new file renamed over the old one. Writing in place would pull the pages from
    under anything this test process holds memory-mapped from the old file (cached SAE weights, matchings, token
    arrays), and the next test reading them would die of SIGBUS instead of seeing a changed file."""
    tmp = path.with_name(path.name + ".replacing")
    tmp.write_bytes(data)
    os.replace(tmp, path)

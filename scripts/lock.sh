#!/usr/bin/env bash
# The exact locks, made from pyproject.toml's ranges by uv: requirements.txt (the app and its build) and
# requirements-dev.txt (plus the test tools and Ray). Run after changing a dependency in pyproject.toml;
# tests/test_lock.py fails while a lock and pyproject.toml disagree. Versions already locked are kept when they
# still fit (uv prefers the output file's pins).
set -euo pipefail
cd "$(dirname "$0")/.."
# torch is the CPU build: from this machine's wheel folder when it has one, else from PyTorch's CPU index. The lock
# names that index on its first line, so a deployment installing requirements.txt (Community Cloud) gets it too.
cpu_index="https://download.pytorch.org/whl/cpu"
if [ -d /opt/wheels ]; then source=(--find-links /opt/wheels); else source=(--extra-index-url "$cpu_index" --index-strategy unsafe-best-match); fi
lock() {
  local out=$1; shift
  # A kept torch pin without its +cpu label would resolve to PyPI's CUDA build and its gigabytes of nvidia wheels.
  [ -f "$out" ] && sed -i '/^torch==/d' "$out"
  .venv/bin/uv pip compile pyproject.toml "$@" "${source[@]}" --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --no-emit-find-links -q -o "$out"
  { echo "--extra-index-url $cpu_index"; grep -v '^--extra-index-url' "$out"; } > "$out.tmp" && mv "$out.tmp" "$out"
}
lock requirements.txt
lock requirements-dev.txt --extra dev --extra ray

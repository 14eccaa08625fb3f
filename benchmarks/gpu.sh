#!/usr/bin/env bash
# The GPU check (benchmarks/bench_gpu.py): one table of what the project's compute costs on this machine's
# accelerator, appended to BENCHMARKS.md with the device name. Under 5 minutes on a CUDA GPU.
#   bash benchmarks/gpu.sh           the real sizes (needs a CUDA build of torch and the embedded model)
#   bash benchmarks/gpu.sh --tiny    toy sizes, any machine: checks the script in about a minute
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
if [ "${1:-}" != "--tiny" ] && ! "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "No CUDA device visible to $python: run on a GPU machine with a CUDA build of torch, or pass --tiny." >&2
  exit 2
fi
PYTHONUNBUFFERED=1 exec "$python" benchmarks/bench_gpu.py "$@"

#!/usr/bin/env bash
# The GPU check (benchmarks/bench_gpu.py): one table of what the project's compute costs on this machine's
# accelerator, appended to BENCHMARKS.md with the device name. About 5 minutes on a CUDA GPU.
#   bash benchmarks/gpu.sh           the real sizes (needs a CUDA build of torch and the embedded model)
#   bash benchmarks/gpu.sh --tiny    toy sizes, any machine: checks the script in about a minute
# On a machine without the project's environment (a lent GPU machine: its own python3 with CUDA torch), carry the
# kit that benchmarks/gpu_kit.sh packs into .gpu-kit/ (benchmarks/gpu_env.sh installs it); the build then reads a
# randomly initialised model of the embedded model's config with its real tokenizer (the rows say so).
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
if [ "${1:-}" != "--tiny" ] && ! "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "No CUDA device visible to $python: run on a GPU machine with a CUDA build of torch, or pass --tiny." >&2
  exit 2
fi
PYTHONUNBUFFERED=1 exec "$python" benchmarks/bench_gpu.py "${gpu_kit_flags[@]}" "$@"

#!/usr/bin/env bash
# What `bash benchmarks/gpu.sh` needs on a lent GPU machine that its image lacks, packed into .gpu-kit/ (ignored by
# git, carried with the call: `carry: [".gpu-kit"]`, about 30 MB of the 64 MiB a call carries). Run it here, where
# PyPI and a built data directory are reachable, before the session's first device call:
#   wheels/   the pinned versions of what the image has older or lacks (transformers, huggingface-hub and its
#             HTTP stack, tokenizers, umap-learn, pynndescent), for its Python 3.12;
#   wordnet.tar.xz   WordNet 3.0's data files (Debian wordnet-base), the embedded corpus;
#   model/    the embedded model's config and tokenizer, without its weights (98 MB, over what a call carries):
#             the GPU build reads a randomly initialised model of that config, and its rows say so;
#   commit    the commit (and whether the tree had changes) the kit was packed at.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
kit=.gpu-kit
model=$("$python" -c 'from backend.core.config import data_dir; print(data_dir())')/models/smollm2-135m-instruct
if [ ! -f "$model/tokenizer.json" ]; then
  echo "No converted embedded model at $model: build once (python -m backend build --until usable) or set ATLAS_DATA_DIR." >&2
  exit 2
fi
rm -rf "$kit" && mkdir -p "$kit/wheels" "$kit/model"
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$kit/wheels" \
  $(grep -E '^(transformers|huggingface-hub|tokenizers|httpx2|httpcore2|truststore|hf-xet|umap-learn|pynndescent)==' requirements.txt)
tar -cJf "$kit/wordnet.tar.xz" -C /usr/share wordnet/data.noun wordnet/data.verb wordnet/data.adj wordnet/data.adv
cp "$model"/{config.json,generation_config.json,tokenizer.json,tokenizer_config.json} "$kit/model/"
cp "$model"/chat_template.jinja "$kit/model/" 2>/dev/null || true
git describe --always --dirty >"$kit/commit"
du -sh "$kit"

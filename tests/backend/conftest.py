"""Fixtures shared by the backend tests."""

import pytest

from backend.models.language import LanguageModel
from tests.backend.tiny_models import tiny_lm


@pytest.fixture(params=["gpt2", "llama"])
def lm(request: pytest.FixtureRequest) -> LanguageModel:
    """A tiny random GPT-2 and a tiny random Llama (each test runs on both)."""
    return tiny_lm(request.param)

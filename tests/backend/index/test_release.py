"""Indexing a catalog SAE on a fixed token file: the index agrees exactly with a brute-force recomputation
(counts, maxima, top examples with their contexts and positions) on a tiny random model."""

from pathlib import Path

import numpy as np
import pytest
import torch

from backend.core.errors import AtlasError
from backend.data.token_files import load_tokens
from backend.index.cards import CardReader
from backend.index.release import IndexSettings, index_release_sae
from backend.index.store import IndexReader
from backend.models.language import load_language_model
from backend.models.loading import load_sae
from backend.pipeline.add import AddRequest, add_release
from backend.sources.release import CorpusSpec
from tests.backend.tiny_models import HOOK, saelens_folder

POSITIONS = (2, -2)
TOP = 5


def test_an_index_on_fixed_tokens_equals_brute_force(tiny_world: dict[str, Path]) -> None:
    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    corpus = CorpusSpec("local", path=str(tiny_world["corpus"]))
    release = add_release(AddRequest("mine", (str(folder),), corpus, contexts=8))
    tokens = torch.randint(0, 50, (6, 12), generator=torch.Generator().manual_seed(3))
    np.save(tiny_world["root"] / "tokens.npy", tokens.numpy())
    settings = IndexSettings(tokens=tiny_world["root"] / "tokens.npy", positions=POSITIONS, top_k=TOP)
    index_release_sae(release, "32", settings)
    reader = CardReader(IndexReader.open(release.paths.index("32")))
    assert reader.index.meta["precision"] == "fp32" and reader.index.meta["positions"] == list(POSITIONS)

    lm = load_language_model(release.model)
    acts = load_sae(release, "32").sae.encode(lm.activations(tokens, HOOK, release.convention)).detach()
    acts[:, : POSITIONS[0]] = 0
    acts[:, POSITIONS[1] :] = 0
    for latent in range(32):
        column = acts[..., latent]
        card = reader.card(latent)
        assert card.count == int((column > 0).sum())
        assert card.max == pytest.approx(float(column.max()), abs=0) if card.count else card.max == 0
        values, flat = column.flatten().topk(TOP)
        expected = [(float(v), int(i) // 12, int(i) % 12) for v, i in zip(values, flat, strict=True) if v > 0]
        assert [(e.value, e.context, e.position) for e in card.top] == expected


def test_token_files_are_checked(tmp_path: Path) -> None:
    np.save(tmp_path / "float.npy", np.zeros((2, 4), dtype=np.float32))
    np.save(tmp_path / "wide.npy", np.full((2, 4), 99))
    np.save(tmp_path / "flat.npy", np.zeros(4, dtype=np.int64))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for name, message in (
        ("float.npy", "integer"),
        ("wide.npy", "vocabulary"),
        ("flat.npy", "2-D"),
        ("junk.pt", "readable"),
        ("none.npy", "No token file"),
    ):
        with pytest.raises(AtlasError, match=message):
            load_tokens(tmp_path / name, vocab_size=50)

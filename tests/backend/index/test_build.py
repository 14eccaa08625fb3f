import json
from pathlib import Path

import pytest
import torch

from backend.core.errors import StoreError
from backend.index.artifact import LatentIndex
from backend.index.build import build_index, fold_batch, run_pass
from backend.index.cards import CardReader
from backend.index.plan import IndexConfig, IndexPlan
from backend.index.state import IndexState
from backend.index.store import IndexReader
from tests.backend.models.test_formats import random_sae

TOKENS = torch.randint(2, 50, (12, 8), generator=torch.Generator().manual_seed(0))
TOKENS[:, 0] = 1
ACTS = torch.randn(12, 8, 6, generator=torch.Generator().manual_seed(1)) * 3
CFG = IndexConfig(batch_contexts=2, checkpoint_every=1, bos_id=1)
KEY = {"test": 1}


def activations(start: int, batch: torch.Tensor) -> torch.Tensor:
    return ACTS[start : start + len(batch)]


def test_kill_and_resume_equals_uninterrupted(tmp_path: Path) -> None:
    sae = random_sae("standard")
    whole = run_pass(sae, TOKENS, activations, CFG, tmp_path / "a", KEY)
    assert run_pass(sae, TOKENS, activations, CFG, tmp_path / "b", KEY, stop_after=2) is None
    resumed = run_pass(sae, TOKENS, activations, CFG, tmp_path / "b", KEY)
    assert whole is not None and resumed is not None
    for name, tensor in whole.tensors().items():
        assert torch.equal(tensor, getattr(resumed, name)), name


def test_a_finished_index_is_reused_and_a_stopped_one_resumed_with_a_tuple_in_its_key(tmp_path: Path) -> None:
    """Keys hold tuples (a corpus's file patterns) that come back from JSON as lists."""
    sae = random_sae("standard")
    key = {"corpus": {"patterns": ("*.parquet",)}}
    calls: list[int] = []

    def counted(start: int, batch: torch.Tensor) -> torch.Tensor:
        calls.append(start)
        return activations(start, batch)

    assert run_pass(sae, TOKENS, counted, CFG, tmp_path / "work", key, stop_after=2) is None
    run_pass(sae, TOKENS, counted, CFG, tmp_path / "work", key)
    assert calls == [0, 2, 4, 6, 8, 10]
    vocab = [f"<t{i}>" for i in range(50)]
    index = LatentIndex(
        tmp_path / "idx", "s", plan=lambda: IndexPlan(sae, TOKENS, counted, CFG, tmp_path / "idx", key, vocab, None)
    )
    index.get()
    calls.clear()
    assert index.is_current()
    index.get()
    assert calls == []


def test_bos_positions_are_excluded(tmp_path: Path) -> None:
    state = run_pass(random_sae("standard"), TOKENS, activations, CFG, tmp_path, KEY)
    assert state is not None and int(state.n_tokens) == 12 * 7


def test_built_index_reads_cards_and_refuses_foreign_stores(tmp_path: Path) -> None:
    sae = random_sae("standard")
    vocab = [f"<t{i}>" for i in range(50)]
    folder = build_index(IndexPlan(sae, TOKENS, activations, CFG, tmp_path / "idx", KEY, vocab, torch.randn(50, 6)))
    card = CardReader(IndexReader.open(folder)).card(3)
    assert card.top and card.top[0].value == pytest.approx(card.max)
    assert card.top[0].tokens[card.top[0].focus].startswith("<t")
    assert len(card.neighbours) == 9 and len(card.lens_pos) == 10
    with pytest.raises(StoreError, match="out of range"):
        CardReader(IndexReader.open(folder)).card(10)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "format": "something-else"}))
    with pytest.raises(StoreError, match="not an SAE Atlas index"):
        IndexReader.open(folder)
    (folder / "meta.json").write_text("{broken")
    with pytest.raises(StoreError, match="corrupt"):
        IndexReader.open(folder)


def test_top_example_tokens_are_the_vocabulary_ids_the_cards_show(tmp_path: Path) -> None:
    """The store keeps an example's flat position; the accessor returns the token id at it."""
    sae = random_sae("standard")
    vocab = [f"<t{i}>" for i in range(50)]
    folder = build_index(IndexPlan(sae, TOKENS, activations, CFG, tmp_path / "idx", KEY, vocab, None))
    reader = IndexReader.open(folder)
    top = reader.top_example_tokens(5)
    cards = CardReader(reader)
    for latent in range(sae.cfg.d_sae):
        card = cards.card(latent)
        shown = [example.tokens[example.focus] for example in card.top[:5]]
        assert [vocab[t] for t in top[top["latent"] == latent]["token"]] == shown


def test_the_model_runs_only_up_to_the_last_counted_position(tmp_path: Path) -> None:
    """A causal model's activations at a position do not depend on later tokens: with positions 2:-3 the model
    reads 5 of 8 tokens, and the state equals the one folded from the whole contexts' activations."""
    sae = random_sae("standard")
    cfg = IndexConfig(batch_contexts=2, checkpoint_every=1, bos_id=1, positions=(2, -3))
    asked: list[int] = []

    def causal(start: int, batch: torch.Tensor) -> torch.Tensor:
        asked.append(batch.shape[1])
        return ACTS[start : start + len(batch), : batch.shape[1]]

    state = run_pass(sae, TOKENS, causal, cfg, tmp_path / "short", KEY)
    expected = IndexState.empty(sae.cfg.d_sae, torch.device("cpu"))
    for start in range(0, len(TOKENS), cfg.batch_contexts):
        fold_batch(expected, sae, TOKENS[start : start + 2], ACTS[start : start + 2], start, cfg)
    assert set(asked) == {5}
    assert state is not None and int(state.n_tokens) == 12 * 3
    for name, tensor in expected.tensors().items():
        assert torch.equal(tensor, getattr(state, name)), name

"""A crafted index whose checksums are right (a published index is outside data) but whose values point outside
the arrays they index is a StoreError on the first card, never an IndexError or a silently different card."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import backend.index.store as store
from backend.core.errors import StoreError
from backend.index.build import build_index
from backend.index.cards import CardReader
from backend.index.plan import IndexPlan
from backend.index.state import N_BINS
from backend.index.store import EXAMPLES, LATENTS, META, TOKENS, IndexReader, manifest, write_grouped_parquet
from tests.backend.index.test_build import CFG, KEY
from tests.backend.index.test_build import TOKENS as CONTEXTS
from tests.backend.index.test_store_faults import VOCAB, activations
from tests.backend.models.test_formats import random_sae

Change = Callable[[Path], None]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("index") / "idx"
    unembed = np.random.default_rng(0).standard_normal((len(VOCAB), 6)).astype("float32")
    import torch

    build_index(
        IndexPlan(random_sae("standard"), CONTEXTS, activations, CFG, folder, KEY, VOCAB, torch.from_numpy(unembed))
    )
    return folder


def reseal(folder: Path) -> None:
    """Checksums and seal recomputed, as a publisher crafting the files would."""
    meta = json.loads((folder / META).read_text())
    meta.pop(store.SEAL)
    meta["manifest"] = manifest(folder)
    (folder / META).write_text(json.dumps({**meta, store.SEAL: store._seal(meta)}))


def parquet(name: str, change: Callable[[pd.DataFrame], None]) -> Change:
    def apply(folder: Path) -> None:
        frame = pd.read_parquet(folder / name)
        change(frame)
        meta = json.loads((folder / META).read_text())
        per_group = store.LATENTS_PER_GROUP if name == LATENTS else meta[store.GROUP_KEY]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        write_grouped_parquet(folder / name, table, int(meta["d_sae"]), per_group)

    return apply


def first(column: str, value: Callable[[object], object]) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        frame.at[0, column] = value(frame.at[0, column])

    return change


def tokens(folder: Path) -> None:
    ids = np.load(folder / TOKENS)
    ids[3, 2] = len(VOCAB)
    np.save(folder / TOKENS, ids)


def meta_field(name: str, value: object) -> Change:
    def apply(folder: Path) -> None:
        meta = json.loads((folder / META).read_text())
        meta[name] = value
        (folder / META).write_text(json.dumps(meta))

    return apply


CHANGES: dict[str, Change] = {
    "example position past the tokens": parquet(EXAMPLES, first("token", lambda _: CONTEXTS.numel() + 5)),
    "negative example position": parquet(EXAMPLES, first("token", lambda _: -1)),
    "example of an unknown latent": parquet(EXAMPLES, first("latent", lambda _: 10)),
    "examples out of latent order": parquet(EXAMPLES, first("latent", lambda _: 9)),
    "unknown example kind": parquet(EXAMPLES, first("kind", lambda _: "bogus")),
    "short activation window": parquet(EXAMPLES, first("window", lambda w: w[:3])),
    "token id past the vocabulary": tokens,
    "neighbour past d_sae": parquet(LATENTS, first("nn_latent", lambda ids: [*ids[:-1], 10])),
    "neighbour lists of two lengths": parquet(LATENTS, first("nn_cos", lambda c: c[:-1])),
    "histogram bin past the edges": parquet(LATENTS, first("hist_bins", lambda b: [*b[:-1], N_BINS])),
    "logit-lens id past the vocabulary": parquet(LATENTS, first("lens_pos_idx", lambda ids: [*ids[:-1], len(VOCAB)])),
    "latent ids renumbered": parquet(LATENTS, first("latent", lambda _: 7)),
    "context size changed": meta_field("context_size", 4),
    "context count changed": meta_field("n_contexts", 99),
    "examples' row groups misnamed": meta_field(store.GROUP_KEY, 3),
    "examples' row groups not a count": meta_field(store.GROUP_KEY, "32"),
    "examples' row groups zero": meta_field(store.GROUP_KEY, 0),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_crafted_but_sealed_index_is_a_store_error(original: Path, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "idx"
    shutil.copytree(original, folder)
    CHANGES[name](folder)
    reseal(folder)
    with pytest.raises(StoreError, match="rebuild"):
        reader = CardReader(IndexReader.open(folder))
        for latent in range(10):
            reader.card(latent)


def test_the_untouched_index_passes_the_checks(original: Path) -> None:
    reader = CardReader(IndexReader.open(original))
    assert [reader.card(i).latent for i in range(10)] == list(range(10))


def test_cards_are_the_same_whatever_the_examples_row_groups(
    original: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups of 3 latents (several groups at d_sae 10), and an index written before meta.json named the groups
    (one group per LATENTS_PER_GROUP latents), read the same cards as the original."""
    expected = [CardReader(IndexReader.open(original)).card(i) for i in range(10)]
    monkeypatch.setattr(store, "EXAMPLES_PER_GROUP", 3)
    small = tmp_path / "small"
    unembed = np.random.default_rng(0).standard_normal((len(VOCAB), 6)).astype("float32")
    import torch

    build_index(
        IndexPlan(random_sae("standard"), CONTEXTS, activations, CFG, small, KEY, VOCAB, torch.from_numpy(unembed))
    )
    assert json.loads((small / META).read_text())[store.GROUP_KEY] == 3
    assert pq.ParquetFile(small / EXAMPLES).num_row_groups == 4
    assert [CardReader(IndexReader.open(small)).card(i) for i in range(10)] == expected

    older = tmp_path / "older"
    shutil.copytree(original, older)
    meta = json.loads((older / META).read_text())
    del meta[store.GROUP_KEY]
    (older / META).write_text(json.dumps(meta))
    reseal(older)
    assert [CardReader(IndexReader.open(older)).card(i) for i in range(10)] == expected

"""Exports: a card's JSON reads back equal to the card, tables round-trip through CSV and Parquet, the
decomposition and stitching tables hold what the app shows, quick-list links carry the latents."""

import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from backend.core.errors import AtlasError
from backend.explore.exports import (
    MAX_QUICK_LIST,
    card_from_json,
    card_json,
    classification_table,
    decomposition_table,
    quick_list_link,
    table_bytes,
)
from backend.index.build import build_index
from backend.index.cards import CardReader
from backend.index.plan import IndexPlan
from backend.index.store import IndexReader
from backend.metasae.decompose import build_decompositions
from backend.stitching.matching import classify, match_saes
from tests.backend.index.test_build import CFG, KEY, TOKENS, activations
from tests.backend.models.test_formats import random_sae


def test_an_exported_card_reads_back_equal(tmp_path: Path) -> None:
    build_index(
        IndexPlan(random_sae("standard"), TOKENS, activations, CFG, tmp_path, KEY, [f"<t{i}>" for i in range(50)], None)
    )
    reader = CardReader(IndexReader.open(tmp_path))
    for latent in range(reader.index.d_sae):
        card = reader.card(latent)
        text = card_json(card, "rel", "10", families=[("rel-nested", "10", 3, 0.8)])
        assert card_from_json(text) == card
        assert json.loads(text)["nearest_in_families"] == [
            {"release": "rel-nested", "sae": "10", "latent": 3, "cosine": 0.8}
        ]
        assert json.loads(text)["card"]["top"][0]["position"] == card.top[0].position if card.top else True


def test_examples_give_the_tokens_position_in_its_context(tmp_path: Path) -> None:
    build_index(
        IndexPlan(random_sae("standard"), TOKENS, activations, CFG, tmp_path, KEY, [f"<t{i}>" for i in range(50)], None)
    )
    reader = CardReader(IndexReader.open(tmp_path))
    for example in reader.card(0).top:
        assert f"<t{int(TOKENS[example.context, example.position])}>" == example.tokens[example.focus]


def test_a_foreign_file_is_not_a_card() -> None:
    with pytest.raises(AtlasError, match="Not an SAE Atlas card"):
        card_from_json('{"format": "other"}')


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_round_trip(fmt: str) -> None:
    frame = pd.DataFrame({"latent": [0, 1], "label": ["a, b", 'q"uote'], "max": [1.5, 2.25]})
    data = table_bytes(frame, fmt)  # type: ignore[arg-type]
    back = pd.read_csv(io.BytesIO(data)) if fmt == "csv" else pd.read_parquet(io.BytesIO(data))
    pd.testing.assert_frame_equal(back, frame)


def test_decomposition_and_stitching_tables() -> None:
    sae, meta = random_sae("standard", d_in=6, d_sae=10), random_sae("jumprelu", d_in=6, d_sae=4)
    table = build_decompositions(meta, sae)
    frame = decomposition_table(table)
    for latent in range(10):
        rows = frame[frame["latent"] == latent]
        assert sorted(zip(rows["meta_latent"], rows["activation"], strict=True)) == sorted(
            (m, pytest.approx(v)) for m, v in table.of_latent(latent)
        )
    small, large = random_sae("standard", d_sae=4), random_sae("standard", d_sae=10)
    found = classify(match_saes(small, large), 0.7)
    stitched = classification_table(found, "4", "10")
    assert len(stitched) == 10 and set(stitched["status"]) <= {"novel", "reconstruction", "dead"}
    assert (stitched["status"] == "novel").sum() == len(found.novel)


def test_quick_list_links_carry_the_latents() -> None:
    link = quick_list_link("gpt2-small/8-res_fs49152-jb", list(range(150)), "Einstein & friends")
    query = parse_qs(urlsplit(link).query)
    features = json.loads(query["features"][0])
    assert query["name"] == ["Einstein & friends"] and len(features) == MAX_QUICK_LIST
    assert features[0] == {"modelId": "gpt2-small", "layer": "8-res_fs49152-jb", "index": "0"}
    with pytest.raises(AtlasError, match="model/source"):
        quick_list_link("no-slash", [1], "x")

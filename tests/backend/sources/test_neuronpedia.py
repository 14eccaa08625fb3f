import json
import urllib.error
from pathlib import Path

import pytest
import torch

from backend.core.errors import SourceUnavailable
from backend.index.build import build_index
from backend.index.cards import CardReader
from backend.index.plan import IndexConfig, IndexPlan
from backend.index.store import IndexReader
from backend.sources.neuronpedia import export_url, import_explanations, parse_export
from tests.backend.models.test_formats import random_sae

FIXTURE = Path(__file__).parents[2] / "fixtures" / "neuronpedia_export.json"


def test_export_url_splits_model_and_sae() -> None:
    assert export_url("gpt2-small/8-res_fs49152-jb").endswith("modelId=gpt2-small&saeId=8-res_fs49152-jb")
    with pytest.raises(SourceUnavailable):
        export_url("no-slash")


def test_parse_keeps_the_first_explanation_and_skips_malformed_rows() -> None:
    labels = parse_export(json.loads(FIXTURE.read_text()))
    assert labels == {
        11329: "references to Albert Einstein",
        3: "the word 'river' and bodies of water",
        7: "<img src=x onerror=alert(1)>",
    }


def small_index(tmp_path: Path) -> Path:
    tokens = torch.randint(2, 50, (6, 8), generator=torch.Generator().manual_seed(0))
    acts = torch.randn(6, 8, 6, generator=torch.Generator().manual_seed(1)) * 3
    return build_index(
        IndexPlan(
            random_sae("standard"), tokens, lambda s, b: acts[s : s + len(b)], IndexConfig(batch_contexts=2),
            tmp_path / "idx", {"k": 1}, [f"t{i}" for i in range(50)], None,
        )
    )  # fmt: skip


def test_imported_labels_replace_automatic_ones_in_cards_and_table(tmp_path: Path) -> None:
    folder = small_index(tmp_path)
    auto = IndexReader.open(folder).latent_row(3)["label"]
    count = import_explanations("gpt2-small/8-res_fs49152-jb", folder, fetch=lambda _url: FIXTURE.read_bytes())
    assert count == 3
    card = CardReader(IndexReader.open(folder)).card(3)
    assert card.label == "the word 'river' and bodies of water" and card.auto_label == auto
    table = IndexReader.open(folder).table()
    assert table.loc[table["latent"] == 3, "label"].item() == card.label
    assert table.loc[table["latent"] == 2, "label"].item() == IndexReader.open(folder).latent_row(2)["auto_label"]


def test_offline_import_is_a_clear_error_and_keeps_labels(tmp_path: Path) -> None:
    folder = small_index(tmp_path)

    def offline(_url: str) -> bytes:
        raise urllib.error.URLError("no network")

    with pytest.raises(SourceUnavailable, match="automatic labels stay"):
        import_explanations("gpt2-small/8-res_fs49152-jb", folder, fetch=offline)
    assert IndexReader.open(folder).explanations == {}

import pytest

from backend.core.errors import CatalogError
from backend.sources.catalog import SHIPPED_CATALOG, load_catalog, parse_release


def test_shipped_catalog_has_the_paper_family_and_the_embedded_default() -> None:
    catalog = load_catalog()
    gpt2 = catalog["gpt2-small-res-fs-l8"]
    assert gpt2.sae_ids == ["768", "1536", "3072", "6144", "12288", "24576", "49152", "98304"]
    assert gpt2.convention == "transformer_lens" and gpt2.hook == "blocks.8.hook_resid_pre"
    assert gpt2.meta("meta-2304").over == "49152" and gpt2.meta("meta-2304").threshold == 0.153
    assert gpt2.sae("49152").neuronpedia_id == "gpt2-small/8-res_fs49152-jb"
    assert catalog["smollm2-wordnet"].built
    assert SHIPPED_CATALOG.exists()


def test_meta_sae_over_an_unknown_sae_is_refused() -> None:
    with pytest.raises(CatalogError, match="no SAE"):
        parse_release("r", {"model": "m", "hook": "h", "saes": [{"id": "a"}], "meta_saes": [{"id": "m", "over": "b"}]})


def test_release_without_saes_is_refused() -> None:
    with pytest.raises(CatalogError, match="no SAEs"):
        parse_release("r", {"model": "m", "hook": "h"})

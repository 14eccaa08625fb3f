"""The paper's GPT-2 SAE-49152 and its meta-SAE through the catalog: the "Einstein" decomposition.

Needs the Hugging Face Hub: run with ATLAS_ONLINE_TESTS=1 (the suite is offline otherwise)."""

import os

import pytest

pytestmark = pytest.mark.online


@pytest.mark.skipif(
    os.environ.get("ATLAS_ONLINE_TESTS") != "1", reason="needs the Hugging Face Hub: set ATLAS_ONLINE_TESTS=1"
)
def test_einstein_latent_decomposes_into_the_published_meta_latents() -> None:
    from backend.metasae.decompose import build_decompositions
    from backend.models.loading import load_meta_sae, load_sae
    from backend.sources.catalog import load_catalog

    release = load_catalog()["gpt2-small-res-fs-l8"]
    sae = load_sae(release, "49152").sae
    table = build_decompositions(load_meta_sae(release, "meta-2304", sae), sae)
    strongest = [m for m, _ in table.of_latent(11329)][:8]
    assert {228, 34, 1199, 504} <= set(strongest)

"""From a catalog entry to its weights: the mapped decoder rows agree with the loaded SAE, prefixes included."""

import torch

from backend.models.loading import decoder_rows, load_sae
from backend.sources.catalog import get_release


def test_the_mapped_decoder_rows_are_the_loaded_ones_for_every_sae_and_prefix(tiny_release: str) -> None:
    for release in (get_release(tiny_release), get_release("tiny-matryoshka")):
        for sae_id in release.sae_ids:
            assert torch.equal(decoder_rows(release, sae_id), load_sae(release, sae_id).sae.W_dec), sae_id

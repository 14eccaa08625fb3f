"""From a catalog entry to its weights: the mapped decoder rows and the outline agree with the loaded SAE, prefixes
included; a server's warm-up hashes every local member's weights, so that a page keying its caches on them reads the
digest."""

import torch

from backend.models import loading
from backend.models.loading import decoder_rows, load_sae, sae_outline, source_key, warm_source_keys
from backend.sources.catalog import get_release


def test_the_mapped_decoder_rows_and_the_outline_are_the_loaded_ones_for_every_sae_and_prefix(
    tiny_release: str,
) -> None:
    for release in (get_release(tiny_release), get_release("tiny-matryoshka")):
        for sae_id in release.sae_ids:
            loaded, outline = load_sae(release, sae_id), sae_outline(release, sae_id)
            assert torch.equal(decoder_rows(release, sae_id), loaded.sae.W_dec), sae_id
            assert outline.cfg == loaded.sae.cfg, sae_id
            assert outline.log10_density is not None and loaded.log10_density is not None
            assert torch.equal(outline.log10_density, loaded.log10_density), sae_id


def test_the_warm_up_hashes_every_members_weights_once_for_the_pages(tiny_release: str) -> None:
    release = get_release(tiny_release)
    members = [*release.sae_ids, *(seed.id for seed in release.second_seeds), *(meta.id for meta in release.meta_saes)]
    loading._file_digest.cache_clear()
    warm_source_keys(release)
    hashed = loading._file_digest.cache_info()
    assert hashed.misses == len(members) > 0
    keys = [source_key(release, member) for member in members]
    assert loading._file_digest.cache_info().misses == hashed.misses  # every page's key was read, none computed
    assert len(set(keys)) == len(members)

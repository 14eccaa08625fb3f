"""The latent map on the tiny release: stored once, reused, and coloured consistently with the
decomposition and stitching results."""

import numpy as np

from backend.explore.latent_map import LatentMap, MapConfig, map_table, novelty, top_meta_latents
from backend.metasae.decompose import build_decompositions
from backend.models.loading import load_meta_sae, load_sae
from backend.sources.catalog import get_release
from backend.stitching.family import pair_classification


def test_the_build_stores_a_map_per_sae_and_reload_reuses_it(tiny_release: str) -> None:
    release = get_release(tiny_release)
    for sae_id in release.sae_ids:
        coords = LatentMap(release, sae_id).read()
        assert coords is not None and len(coords) == int(sae_id)
        assert np.isfinite(coords[["x", "y"]].to_numpy()).all()
    artifact = LatentMap(release, "128")
    stamp = artifact.path.stat().st_mtime_ns
    again = artifact.get()
    assert artifact.path.stat().st_mtime_ns == stamp
    assert again.equals(artifact.read())


def test_other_settings_are_not_served_from_the_cache(tiny_release: str) -> None:
    release = get_release(tiny_release)
    other = LatentMap(release, "128", MapConfig(n_neighbors=5))
    assert not other.is_current() and other.read() is None


def test_the_layout_is_seeded(tiny_release: str) -> None:
    from backend.explore.latent_map import umap_layout

    decoder = load_sae(get_release(tiny_release), "64").sae.W_dec
    assert np.array_equal(umap_layout(decoder, MapConfig()), umap_layout(decoder, MapConfig()))


def test_colourings_agree_with_decompositions_and_stitching(tiny_release: str) -> None:
    release = get_release(tiny_release)
    sae = load_sae(release, "128").sae
    decomps = build_decompositions(load_meta_sae(release, "meta-128", sae), sae)
    top = top_meta_latents(decomps)
    for latent in range(128):
        active = decomps.of_latent(latent)
        assert top[latent] == (active[0][0] if active else -1)
    found = pair_classification(release, "64", "128", 0.7)
    assert found is not None
    status = novelty(found)
    assert set(np.flatnonzero(status == "novel")) == set(found.novel.tolist())
    assert set(np.flatnonzero(status == "reconstruction")) == set(found.by_large)
    coords = LatentMap(release, "128").read()
    assert coords is not None
    table = map_table(coords, None, None, top, {0: "zero"}, status)
    assert list(table.columns) == ["latent", "x", "y", "label", "meta", "meta label", "status"]


def test_exact_neighbour_lists_start_with_the_row_itself_then_follow_cosine() -> None:
    import torch

    from backend.explore.latent_map import cosine_knn

    rows = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    indices, distances, _ = cosine_knn(rows, 5)
    unit = rows / rows.norm(dim=1, keepdim=True)
    cos = unit @ unit.T
    assert (indices[:, 0] == np.arange(40)).all() and (distances[:, 0] == 0).all()
    for i in range(40):
        expected = cos[i].clone()
        expected[i] = -2
        assert set(indices[i, 1:]) == set(expected.topk(4).indices.tolist())
        assert np.allclose(distances[i, 1:], 1 - cos[i, indices[i, 1:]].numpy(), atol=1e-5)
    assert (np.diff(distances, axis=1) >= -1e-6).all()


def test_the_map_keeps_separate_clusters_apart() -> None:
    import torch

    from backend.explore.latent_map import umap_layout

    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(2, 32, generator=gen) * 5
    rows = torch.cat(
        [centres[0] + torch.randn(150, 32, generator=gen), centres[1] + torch.randn(150, 32, generator=gen)]
    )
    coords = umap_layout(rows, MapConfig())
    a, b = coords[:150], coords[150:]
    gap = np.linalg.norm(a.mean(axis=0) - b.mean(axis=0))
    assert gap > 3 * max(a.std(axis=0).max(), b.std(axis=0).max())

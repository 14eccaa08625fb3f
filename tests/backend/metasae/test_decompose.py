import pytest
import torch

from backend.core.errors import IncompatibleError
from backend.metasae.decompose import build_decompositions, decompose_all, meta_label
from tests.backend.models.test_formats import random_sae


def pair() -> tuple:  # type: ignore[type-arg]
    sae = random_sae("standard", d_in=6, d_sae=40)
    meta = random_sae("jumprelu", d_in=6, d_sae=12)
    with torch.no_grad():
        meta.b_enc.zero_()
        meta.threshold.fill_(0.4)
    return meta, sae


def test_decomposition_equals_the_encoder_row_by_row() -> None:
    meta, sae = pair()
    table = build_decompositions(meta, sae)
    rows = sae.unit_decoder()
    for i in range(sae.cfg.d_sae):
        acts = meta.encode(rows[i : i + 1])[0]
        expected = sorted(((int(j), float(acts[j])) for j in acts.nonzero()[:, 0]), key=lambda p: -p[1])
        got = table.of_latent(i)
        assert [m for m, _ in got] == [m for m, _ in expected]
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-5)
    assert torch.allclose(decompose_all(meta, sae), meta.encode(rows))


def test_inverse_index_is_consistent() -> None:
    meta, sae = pair()
    table = build_decompositions(meta, sae)
    forward = {(i, m): v for i in range(sae.cfg.d_sae) for m, v in table.of_latent(i)}
    inverse = {(i, m): v for m in range(meta.cfg.d_sae) for i, v in table.members(m)}
    assert forward == inverse
    for m in range(meta.cfg.d_sae):
        values = [v for _, v in table.members(m)]
        assert values == sorted(values, reverse=True)


def test_raising_the_threshold_only_removes_entries() -> None:
    meta, sae = pair()
    table = build_decompositions(meta, sae)
    previous = None
    for t in (0.2, 0.3, 0.4, 0.6, 1.0):
        entries = {(i, m) for i in range(sae.cfg.d_sae) for m, _ in table.of_latent(i, t)}
        assert previous is None or entries <= previous
        previous = entries


def test_related_latents_share_meta_latents() -> None:
    meta, sae = pair()
    table = build_decompositions(meta, sae)
    latent = next(i for i in range(sae.cfg.d_sae) if table.of_latent(i))
    own = {m for m, _ in table.of_latent(latent)}
    for other, score, shared in table.related(latent):
        assert score > 0 and set(shared) <= own and set(shared) <= {m for m, _ in table.of_latent(other)}


def test_mismatched_width_is_refused() -> None:
    with pytest.raises(IncompatibleError, match="width"):
        build_decompositions(random_sae("jumprelu", d_in=5, d_sae=4), random_sae("standard"))


def test_meta_label_uses_member_labels() -> None:
    assert meta_label([(0, 1.0), (1, 0.5)], ["Paris · France", "France · Lyon"]).startswith("france")


def test_related_graph_links_latent_metas_and_members() -> None:
    from backend.metasae.graph import related_graph

    meta, sae = pair()
    table = build_decompositions(meta, sae)
    latent = next(i for i in range(sae.cfg.d_sae) if table.of_latent(i))
    graph = related_graph(table, latent)
    assert graph.nodes[0].index == latent
    metas = [n.index for n in graph.nodes if n.kind == "meta"]
    assert metas == [m for m, _ in table.of_latent(latent)][:5]
    for a, b, _ in graph.edges:
        if graph.nodes[b].kind == "member":
            assert graph.nodes[b].index in {i for i, _ in table.members(graph.nodes[a].index)}


def test_best_matches_finds_the_split_parent() -> None:
    from backend.models.geometry import best_matches

    small = torch.eye(4, 6)
    row = small[2] + 0.1 * small[3]
    assert best_matches(row, {"4": small})["4"][0][0] == 2


def test_train_meta_registers_next_to_its_sae(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from backend.models.formats import save_saelens
    from backend.models.loading import load_meta_sae, load_sae
    from backend.sources.catalog import load_catalog
    from backend.training.meta import MetaTrainConfig, train_meta_for

    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ATLAS_CATALOG", str(tmp_path / "catalog.toml"))
    (tmp_path / "catalog.toml").write_text(
        f'[releases.mine]\nmodel = "gpt2"\nhook = "blocks.1.hook_resid_pre"\n'
        f'saes = [{{ id = "40", path = "sae", source = {{ kind = "local", root = "{tmp_path}" }} }}]\n'
    )
    save_saelens(random_sae("standard", d_in=6, d_sae=40), tmp_path / "sae")
    release = load_catalog()["mine"]
    meta_id = train_meta_for(release, "40", MetaTrainConfig(d_meta=8, k=2, epochs=5, batch_size=16))
    reloaded = load_catalog()["mine"]
    assert reloaded.meta(meta_id).over == "40"
    meta = load_meta_sae(reloaded, meta_id, load_sae(reloaded, "40").sae)
    assert meta.cfg.d_sae == 8 and (tmp_path / "data" / "releases" / "mine" / meta_id / "metrics.json").exists()


def test_meta_label_skips_dead_members() -> None:
    from backend.index.finalize import DEAD_LABEL

    assert meta_label([(0, 2.0), (1, 1.0)], [DEAD_LABEL, "river · stream"]).startswith("river")


def test_inverse_index_order_is_meta_then_activation_descending() -> None:
    import numpy as np

    from backend.metasae.decompose import by_meta_then_value

    gen = torch.Generator().manual_seed(0)
    meta_idx = torch.randint(0, 50, (5000,), generator=gen)
    value = torch.rand(5000, generator=gen) * 3
    value[:100] = value[100:200]  # ties keep their original order
    order = by_meta_then_value(meta_idx, value).numpy()
    expected = np.lexsort((-value.numpy(), meta_idx.numpy()))
    assert (order == expected).all()

"""Matryoshka BatchTopK (backend/training/objectives/matryoshka.py): the nested loss is its definition, every prefix
reconstructs, the saved SAE reads back through the SAELens loader with its widths, and on the planted hierarchy of
benchmarks/bench_matryoshka_toy.py its prefix holds more parents and it absorbs less than standard SAEs."""

import importlib.util
from pathlib import Path

import pytest
import torch

from backend.models.formats import load_sae_dir, save_saelens
from backend.models.sae import SAE
from backend.training.objectives import BatchTopK, Matryoshka
from backend.training.sparse import sparse_decode
from backend.training.trainer import TrainConfig, train_sae
from tests.backend.training.test_trainer import planted

CPU = torch.device("cpu")


def test_the_nested_loss_on_a_hand_made_batch_is_its_definition() -> None:
    gen = torch.Generator().manual_seed(0)
    d_sae, d_in, batch = 8, 3, 4
    dec, b_dec, x = torch.randn(d_sae, d_in, generator=gen), torch.randn(d_in, generator=gen), torch.randn(batch, d_in)
    rows = torch.tensor([0, 0, 1, 1, 2, 3, 3])
    cols = torch.tensor([0, 5, 1, 7, 3, 2, 6])
    vals = torch.rand(len(rows), generator=gen)
    codes = torch.zeros(batch, d_sae)
    codes[rows, cols] = vals
    objective = Matryoshka(k=2, widths=(2, 4, 8))

    def decode(mask: torch.Tensor) -> torch.Tensor:
        return sparse_decode(dec, rows[mask], cols[mask], vals[mask], batch)

    err = x - (decode(torch.ones_like(rows, dtype=torch.bool)) + b_dec)
    by_definition = []
    for width in (0, 2, 4, 8):  # 0: the bias alone
        recon = codes[:, :width] @ dec[:width] + b_dec
        by_definition.append((x - recon).pow(2).sum(dim=1).mean())
    expected = torch.stack(by_definition).mean()
    assert torch.allclose(objective.fit(err, cols, d_sae, decode), expected, atol=1e-6)


def prefix_fvu(sae: SAE, x: torch.Tensor, width: int) -> float:
    """The fraction of variance left by the SAE's first `width` latents (0: by its b_dec alone)."""
    acts = sae.encode(x)
    acts[:, width:] = 0
    err = x - (acts @ sae.W_dec + sae.b_dec)
    return float(err.pow(2).sum().detach() / (x - x.mean(dim=0)).pow(2).sum())


MATRYOSHKA = TrainConfig(
    d_sae=96, objective=Matryoshka(k=3, widths=(12, 48, 96)), batch_size=256, lr=3e-3, epochs=6, aux_k=16,
    dead_after_tokens=5_000,
)  # fmt: skip


def test_every_prefix_reconstructs_better_than_the_bias_alone_and_widens_to_the_whole() -> None:
    x, _ = planted()
    sae = train_sae(x, MATRYOSHKA, device=CPU).sae
    fvus = [prefix_fvu(sae, x[:3000], width) for width in (0, 12, 48, 96)]
    assert fvus[0] >= 0.99, "b_dec alone explains none of the variance"
    assert fvus[1] < fvus[0] and fvus[2] < fvus[1] and fvus[3] <= fvus[2] + 1e-6, fvus
    assert fvus[3] < 0.2


def test_a_saved_matryoshka_sae_reads_back_with_its_widths_and_encodes_as_trained(tmp_path: Path) -> None:
    x, _ = planted(n=3000)
    sae = train_sae(x, MATRYOSHKA, device=CPU).sae
    assert sae.cfg.architecture == "matryoshka_batchtopk"
    save_saelens(sae, tmp_path / "m")
    saved = (tmp_path / "m" / "cfg.json").read_text()
    assert '"architecture": "jumprelu"' in saved and '"matryoshka_widths": [\n    12,' in saved
    loaded = load_sae_dir(tmp_path / "m", CPU).sae
    assert loaded.cfg.architecture == "jumprelu"
    assert loaded.cfg.extra["matryoshka_widths"] == [12, 48, 96]
    assert loaded.cfg.extra["trained_as"] == {"architecture": "matryoshka_batchtopk", "k": 3}
    assert torch.allclose(loaded.encode(x[:500]), sae.encode(x[:500]), atol=1e-5)


def test_widths_that_cannot_nest_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"matryoshka_widths must increase .* end at d_sae \(96\), got \[12, 12, 96\]"):
        TrainConfig(d_sae=96, objective=Matryoshka(widths=(12, 12, 96)))
    with pytest.raises(ValueError, match=r"end at d_sae \(96\), got \[12, 48\]"):
        TrainConfig(d_sae=96, objective=Matryoshka(widths=(12, 48)))
    with pytest.raises(ValueError, match="matryoshka_widths must be a list of whole numbers"):
        Matryoshka(widths=("12", 96))  # type: ignore[arg-type]
    assert Matryoshka(widths=[12, 96]).widths == (12, 96)  # type: ignore[arg-type]  # as TOML reads it


@pytest.mark.slow
def test_on_a_planted_hierarchy_the_prefix_holds_more_parents_and_absorbs_less() -> None:
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_matryoshka_toy.py"
    spec = importlib.util.spec_from_file_location("bench_matryoshka_toy", path)
    assert spec is not None and spec.loader is not None
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)  # the benchmark's data and measures, at its first seed
    data = toy.hierarchy(16_000, 32, 4, 3, 0.5, seed=0)
    common = {"batch_size": 256, "lr": 3e-3, "epochs": 8, "aux_k": 8, "dead_after_tokens": 5_000, "seed": 0}
    matryoshka = train_sae(data["x"], TrainConfig(d_sae=16, objective=Matryoshka(k=2, widths=(4, 16)), **common)).sae
    narrow = train_sae(data["x"], TrainConfig(d_sae=4, objective=BatchTopK(k=2), **common)).sae
    wide = train_sae(data["x"], TrainConfig(d_sae=16, objective=BatchTopK(k=2), **common)).sae
    found = toy.parents_found(matryoshka.W_dec[:4], data["parent_dirs"])
    assert found > toy.parents_found(narrow.W_dec, data["parent_dirs"])
    assert toy.absorption(matryoshka, data)["fraction"] < toy.absorption(wide, data)["fraction"]

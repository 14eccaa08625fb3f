import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from backend.models.formats import load_sae_dir, save_saelens
from backend.training.bias_adaptation import GroupTargets
from backend.training.divergence import TrainingDiverged
from backend.training.initialisation import diverse_rows
from backend.training.objectives import GBA, L1, OBJECTIVES, BatchTopK, Objective
from backend.training.trainer import TrainConfig, device_bytes, train_sae


def planted(
    n: int = 12_000, d: int = 24, features: int = 48, active: int = 3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Data made of sparse non-negative combinations of known unit directions."""
    gen = torch.Generator().manual_seed(seed)
    truth = torch.randn(features, d, generator=gen)
    truth /= truth.norm(dim=1, keepdim=True)
    codes = torch.zeros(n, features)
    idx = torch.stack([torch.randperm(features, generator=gen)[:active] for _ in range(n)])
    codes.scatter_(1, idx, torch.rand(n, active, generator=gen) * 2 + 0.5)
    return codes @ truth + 0.01 * torch.randn(n, d, generator=gen), truth


def matched(decoder: torch.Tensor, truth: torch.Tensor, at: float = 0.9) -> float:
    unit = decoder / decoder.norm(dim=1, keepdim=True)
    return float(((truth @ unit.T).max(dim=1).values > at).float().mean())


CFG = TrainConfig(
    d_sae=96,
    objective=BatchTopK(k=3),
    batch_size=256,
    lr=3e-3,
    epochs=6,
    aux_k=16,
    dead_after_tokens=5_000,
    checkpoint_every=50,
)


def test_recovers_planted_features() -> None:
    x, truth = planted()
    result = train_sae(x, CFG, device=torch.device("cpu"))
    assert matched(result.sae.W_dec.detach(), truth) >= 0.8
    acts = result.sae.encode(x[:1000])
    assert 1.5 <= (acts > 0).sum(dim=1).float().mean() <= 6


def test_standard_l1_sae_recovers_planted_features_like_batchtopk() -> None:
    """The paper's architecture (ReLU + L1) through the same trainer finds the same directions."""
    x, truth = planted()
    cfg = TrainConfig(
        d_sae=96, objective=L1(coef=1.0), batch_size=256, lr=3e-3, epochs=6, aux_k=16,
        dead_after_tokens=5_000,
    )  # fmt: skip
    result = train_sae(x, cfg, device=torch.device("cpu"))
    assert result.sae.cfg.architecture == "standard"
    assert matched(result.sae.W_dec.detach(), truth) >= 0.8
    acts = result.sae.encode(x[:1000])
    # L1 leaves many weak activations beside the 3 planted ones (its known shrinkage trade-off).
    assert 1.5 <= (acts > 0).sum(dim=1).float().mean() <= 24


def test_l1_penalty_buys_sparsity() -> None:
    x, _ = planted(n=6000)
    l0 = []
    for coef in (0.05, 3.0):
        cfg = TrainConfig(d_sae=96, objective=L1(coef=coef), batch_size=256, lr=3e-3, epochs=3)
        sae = train_sae(x, cfg, device=torch.device("cpu")).sae
        l0.append(float((sae.encode(x[:1000]) > 0).sum(dim=1).float().mean()))
    assert l0[1] < 0.5 * l0[0]


def test_configs_that_cannot_train_are_refused() -> None:
    with pytest.raises(ValueError, match=r"batchtopk_k must be at most d_sae \(8\)"):
        TrainConfig(d_sae=8, objective=BatchTopK(k=9))
    with pytest.raises(ValueError, match=r"l1_coef must be in \(0, 1e\+06\]"):
        L1(coef=0.0)


def test_meta_sae_recovers_planted_compositions() -> None:
    """Latents built as sums of two of a few atoms: a meta-SAE on them finds the atoms."""
    gen = torch.Generator().manual_seed(3)
    atoms = torch.randn(16, 24, generator=gen)
    atoms /= atoms.norm(dim=1, keepdim=True)
    pairs = torch.stack([torch.randperm(16, generator=gen)[:2] for _ in range(3000)])
    rows = atoms[pairs].sum(dim=1)
    rows /= rows.norm(dim=1, keepdim=True)
    cfg = TrainConfig(
        d_sae=32,
        objective=BatchTopK(k=2),
        batch_size=128,
        lr=3e-3,
        epochs=16,
        aux_k=8,
        dead_after_tokens=2_000,
        data_init=False,
    )
    result = train_sae(rows, cfg, device=torch.device("cpu"))
    assert matched(result.sae.W_dec.detach(), atoms, at=0.85) >= 0.85


def test_resume_after_interruption_matches_uninterrupted(tmp_path: Path) -> None:
    x, _ = planted(n=4000)
    cfg = TrainConfig(d_sae=48, objective=BatchTopK(k=3), batch_size=256, lr=3e-3, epochs=3, checkpoint_every=10)
    whole = train_sae(x, cfg, device=torch.device("cpu")).sae

    class Killed(Exception):
        pass

    def kill_at_25(step: int, _total: int) -> None:
        if step == 25:
            raise Killed

    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(Killed):
        train_sae(x, cfg, checkpoint=checkpoint, progress=kill_at_25, device=torch.device("cpu"))
    assert checkpoint.exists()
    resumed = train_sae(x, cfg, checkpoint=checkpoint, device=torch.device("cpu")).sae
    assert torch.allclose(resumed.W_dec, whole.W_dec, atol=1e-4)
    assert torch.allclose(resumed.threshold, whole.threshold, atol=1e-4)


def test_corrupt_checkpoint_is_discarded_and_training_restarts(tmp_path: Path) -> None:
    x, _ = planted(n=2000)
    cfg = TrainConfig(d_sae=48, objective=BatchTopK(k=3), batch_size=256, epochs=1)
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(b"garbage")
    result = train_sae(x, cfg, checkpoint=checkpoint, device=torch.device("cpu"))
    assert torch.isfinite(result.sae.W_dec).all()


def test_data_init_picks_are_diverse_when_the_data_allows() -> None:
    """Inputs that repeat a few directions many times (common tokens) plus rarer distinct ones: the
    picks are never closer than the cap to each other, and there are still `n` of them."""
    gen = torch.Generator().manual_seed(5)
    common = torch.randn(4, 32, generator=gen)
    rare = torch.randn(400, 32, generator=gen)
    x = torch.cat([common.repeat(500, 1) + 0.05 * torch.randn(2000, 32, generator=gen), rare])
    rows = diverse_rows(x, torch.zeros(32), 60, 0.7, torch.Generator().manual_seed(0))
    unit = rows / rows.norm(dim=1, keepdim=True)
    sims = (unit @ unit.T).fill_diagonal_(-1)
    assert rows.shape == (60, 32)
    assert sims.max() <= 0.7


def test_data_init_fills_up_when_too_few_inputs_are_diverse() -> None:
    x = torch.randn(3, 16).repeat(100, 1)
    rows = diverse_rows(x, torch.zeros(16), 10, 0.7, torch.Generator().manual_seed(0))
    assert rows.shape == (10, 16)
    assert torch.isfinite(rows).all()


@pytest.mark.parametrize("damage", ["weights", "step", "last_fired"])
def test_a_checkpoint_with_bad_contents_is_discarded_with_a_message(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    x, _ = planted(n=2000)
    cfg = TrainConfig(d_sae=48, objective=BatchTopK(k=3), batch_size=256, epochs=2, checkpoint_every=2)
    whole = train_sae(x, cfg, device=torch.device("cpu")).sae
    checkpoint = tmp_path / "ckpt.pt"

    def stop(step: int, _total: int) -> None:
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_sae(x, cfg, checkpoint=checkpoint, progress=stop, device=torch.device("cpu"))
    state = torch.load(checkpoint, weights_only=True)
    state[damage] = {"weights": {"enc": torch.zeros(3)}, "step": "four", "last_fired": torch.zeros(2)}[damage]
    torch.save(state, checkpoint)
    resumed = train_sae(x, cfg, checkpoint=checkpoint, device=torch.device("cpu")).sae
    assert "is unusable" in caplog.text and "starts over" in caplog.text
    assert torch.allclose(resumed.W_dec, whole.W_dec, atol=1e-4)


GBA_CFG = TrainConfig(
    d_sae=96, objective=GBA(groups=4, highest=0.2, lowest=0.02, window=2048, step=0.1), batch_size=256, lr=3e-3,
    epochs=20,
)  # fmt: skip


def test_gba_recovers_planted_features_with_each_group_near_its_target() -> None:
    """About 0.92-0.96 over seeds 0-2; with its biases fixed at their calibrated start, 0.67 (benchmarks/bench_gba.py
    compares it with ReLU + L1 at equal L0 over seeds)."""
    x, truth = planted()
    sae = train_sae(x, GBA_CFG, device=torch.device("cpu")).sae
    assert sae.cfg.architecture == "standard" and sae.cfg.extra["trained_as"] == {"architecture": "gba"}
    assert matched(sae.W_dec.detach(), truth) >= 0.85
    frequency = (sae.encode(x[:6000]) > 0).float().mean(dim=0)
    targets = GroupTargets(4, 0.2, 0.02).per_latent(GBA_CFG.d_sae)
    for group in targets.unique():
        assert frequency[targets == group].mean() <= 1.5 * group


def test_gba_resumes_with_its_firing_window(tmp_path: Path) -> None:
    x, _ = planted(n=4000)
    gba = replace(GBA_CFG.objective, window=3000)
    cfg = replace(GBA_CFG, objective=gba, epochs=3, checkpoint_every=7)
    whole = train_sae(x, cfg, device=torch.device("cpu")).sae

    def stop(step: int, _total: int) -> None:
        if step == 16:  # mid-window: the checkpoint at step 14 holds a partly filled window
            raise KeyboardInterrupt

    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        train_sae(x, cfg, checkpoint=checkpoint, progress=stop, device=torch.device("cpu"))
    assert torch.load(checkpoint, weights_only=True)["objective"]["tokens"] > 0
    resumed = train_sae(x, cfg, checkpoint=checkpoint, device=torch.device("cpu")).sae
    assert torch.allclose(resumed.b_enc, whole.b_enc, atol=1e-5)
    assert torch.allclose(resumed.W_dec, whole.W_dec, atol=1e-4)


def test_a_saved_gba_sae_loads_through_the_saelens_loader_and_encodes_as_trained(tmp_path: Path) -> None:
    x, _ = planted(n=3000)
    sae = train_sae(x, replace(GBA_CFG, epochs=2), device=torch.device("cpu")).sae
    save_saelens(sae, tmp_path / "gba")
    loaded = load_sae_dir(tmp_path / "gba", torch.device("cpu")).sae
    assert loaded.cfg.architecture == "standard" and loaded.cfg.extra["trained_as"] == {"architecture": "gba"}
    assert torch.allclose(loaded.encode(x[:500]), sae.encode(x[:500]), atol=1e-5)


def test_gba_configs_that_cannot_train_are_refused() -> None:
    with pytest.raises(ValueError, match="Group Bias Adaptation"):
        GBA(highest=0.001, lowest=0.1)
    with pytest.raises(ValueError, match="gba_step"):
        GBA(step=0.0)
    with pytest.raises(ValueError, match=r"gba_groups must be at most d_sae \(8\)"):
        TrainConfig(d_sae=8, objective=GBA(groups=10**12))


def test_a_loss_that_is_not_finite_stops_training_with_a_typed_error_and_saves_nothing(tmp_path: Path) -> None:
    x, _ = planted(n=2000)
    x[1234, 5] = float("nan")
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingDiverged, match="Training diverged at step 1 of 7: the loss is nan"):
        train_sae(x, replace(CFG, epochs=1), checkpoint=checkpoint, device=torch.device("cpu"))
    assert not checkpoint.exists()
    with pytest.raises(TrainingDiverged, match="at step 1 of 7"):  # read late (a step need not wait), still said
        train_sae(x, replace(CFG, epochs=1), device=torch.device("cpu"))


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_objective_reads_back_from_the_table_it_writes(name: str) -> None:
    cfg = TrainConfig(d_sae=64, objective=OBJECTIVES[name](), lr=3e-3, seed=4)
    assert TrainConfig.from_table(cfg.table()) == cfg
    assert cfg.table()["objective"] == name


def test_every_module_of_the_objectives_package_is_listed() -> None:
    from backend.training import objectives

    modules = {p.stem for p in Path(objectives.__file__).parent.glob("*.py")} - {"__init__", "base"}
    assert modules == set(OBJECTIVES)


WAITS_PER_STEP = {"l1": 2, "gba": 1, "batchtopk": 3, "matryoshka": 7}
"""At most: the kept entries' `nonzero` (every objective), the dead latents' count where the auxiliary loss reads it,
the threshold where BatchTopK's selection reads it, a `nonzero` per Matryoshka prefix (benchmarks/bench_train_syncs.py
prints them; the trainer made 8 a step, 24 for Matryoshka, before issue 47)."""


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_a_training_step_makes_a_gpus_host_wait_only_where_the_data_decides_a_size(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.training import trainer
    from tests.backend.training.test_sparse import Waits

    monkeypatch.setattr(trainer, "CHECK_SECONDS", float("inf"))  # a read per 0.25 s, however slow the machine

    x, _ = planted(n=4096)
    settings = {"k": 4} if name in ("batchtopk", "matryoshka") else {}
    cfg = TrainConfig(d_sae=64, objective=OBJECTIVES[name](**settings), batch_size=256, epochs=1)
    counts = []
    for epochs in (1, 2):  # the difference leaves out the initialisation's one-off reads
        with Waits() as waits:
            train_sae(x, replace(cfg, epochs=epochs), progress=lambda *_: None, device=torch.device("cpu"))
        counts.append(sum(waits.counts.values()))
    assert (counts[1] - counts[0]) / 16 <= WAITS_PER_STEP[name]


def _peak_bytes(x: torch.Tensor, cfg: TrainConfig) -> int:
    """The most memory `train_sae` held at once on the CPU (`x` aside), by torch.profiler's allocation records."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        train_sae(x, cfg, device=torch.device("cpu"))
    with tempfile.TemporaryDirectory() as folder:
        prof.export_chrome_trace(f"{folder}/trace.json")
        events = json.loads(Path(f"{folder}/trace.json").read_text())["traceEvents"]
    return max(e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]")


@pytest.mark.parametrize(
    ("objective", "d_sae", "batch"),
    [(BatchTopK(k=8), 1024, 8192), (L1(), 2048, 512)],
    ids=["a step at its largest", "the bias calibration at its largest"],
)
def test_a_trainings_memory_estimate_is_what_it_holds_with_room_to_spare(
    objective: Objective, d_sae: int, batch: int
) -> None:
    """What a build on a GPU admits trainings run together by (backend/pipeline/lanes.py), against what the same code
    holds on the CPU (which also counts what a GPU's host would hold: the data initialisation's candidates)."""
    x = torch.randn(16_384, 64, generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(d_sae=d_sae, objective=objective, batch_size=batch, epochs=1, dead_after_tokens=1000)
    held = _peak_bytes(x, cfg)
    assert held <= device_bytes(cfg, 64) <= 2.5 * held


def test_trainings_run_at_the_same_time_in_threads_train_the_same_weights_as_one_at_a_time() -> None:
    """What a build that trains the second seeds together relies on (backend/pipeline/lanes.py): every random draw
    comes from the run's own generators."""
    x, _ = planted(n=4096)
    configs = [replace(CFG, epochs=2, seed=seed, d_sae=d_sae) for seed, d_sae in ((1, 96), (2, 128))]
    apart = [train_sae(x, cfg, device=torch.device("cpu")).sae.state_dict() for cfg in configs]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda cfg: train_sae(x, cfg, device=torch.device("cpu")).sae.state_dict(), configs))
    for one, other in zip(apart, together, strict=True):
        assert all(torch.equal(one[name], other[name]) for name in one)

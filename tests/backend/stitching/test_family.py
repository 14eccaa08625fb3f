"""Family stitching on the tiny release built with the real embedded model: cached, exact end points."""

from pathlib import Path

import pytest
import torch

from backend.models.language import load_language_model
from backend.sources.catalog import get_release
from backend.stitching.curves import CurveConfig
from backend.stitching.family import Curves, PairMatching, pair_classification
from tests.files import replace_bytes


def test_the_build_stores_matchings_and_default_curves(tiny_release: str) -> None:
    release = get_release(tiny_release)
    assert release.neighbour_pairs == [("64", "128")]
    found = pair_classification(release, "64", "128", 0.7)
    assert found is not None
    assert found.n_reconstruction + len(found.novel) + len(found.dead_large) == 128
    curves = Curves(release).read()
    assert curves is not None
    saes = curves[curves["kind"] == "sae"].set_index("pair")
    line = curves[curves["pair"] == "64→128"]
    assert line["nmse"].iloc[0] == pytest.approx(saes.at["SAE-64", "nmse"], rel=1e-4)
    assert line["nmse"].iloc[-1] == pytest.approx(saes.at["SAE-128", "nmse"], rel=1e-4)
    assert line["dloss"].iloc[0] == pytest.approx(saes.at["SAE-64", "dloss"], abs=1e-4)
    assert line["dloss"].notna().sum() >= 2


def test_curves_are_computed_once_per_settings(tiny_release: str) -> None:
    release = get_release(tiny_release)
    settings = CurveConfig(threshold=0.8, order="novel-first", points=6, loss_points=0)
    lm = load_language_model(release.model)
    artifact = Curves(release, settings, lm=lambda: lm)
    first = artifact.get()
    stamp = artifact.path.stat().st_mtime_ns
    again = artifact.get()
    assert artifact.path.stat().st_mtime_ns == stamp
    assert first.equals(again)
    assert first["dloss"].isna().all()


def test_a_corrupt_matching_file_is_recomputed(tiny_copy: str) -> None:
    release = get_release(tiny_copy)
    path: Path = release.paths.matching("64", "128")
    replace_bytes(path, b"not a safetensors file")
    assert pair_classification(release, "64", "128", 0.7) is None
    assert PairMatching(release, "64", "128").get().n_large == 128
    assert pair_classification(release, "64", "128", 0.7) is not None


def test_the_curve_ends_splice_in_exactly_the_plain_saes(tiny_release: str) -> None:
    """Why the curves reuse the plain SAEs' loss at their ends: the stitched model at step 0 and at the
    last step gives the same next-token loss as splicing in the smaller and the larger SAE."""
    from functools import partial

    from backend.data.heldout import heldout
    from backend.models.loading import load_sae
    from backend.stitching.curves import stitch_steps, stitched_reconstruction
    from backend.stitching.family import context_losses
    from backend.stitching.matching import classify

    release = get_release(tiny_release)
    lm = load_language_model(release.model)
    data = heldout(release, lm)
    small, large = load_sae(release, "64").sae, load_sae(release, "128").sae
    matching = PairMatching(release, "64", "128", (small, large)).get()
    steps = stitch_steps(
        classify(matching, 0.7, matching.dead_small, matching.dead_large), "grouped", matching.large_best
    )
    for done, plain in ((0, small), (len(steps), large)):
        splice = partial(stitched_reconstruction, small, large, steps=steps, done=done)
        stitched = context_losses(lm, release, data, 8, splice)
        assert torch.allclose(stitched, context_losses(lm, release, data, 8, plain.forward), atol=1e-4)


def test_loss_delta_is_paired_by_context_with_its_standard_error() -> None:
    from backend.stitching.family import loss_delta

    clean = torch.tensor([1.0, 3.0, 5.0, 7.0])
    spliced = clean + torch.tensor([0.1, 0.3, 0.1, 0.3])
    mean, se = loss_delta(spliced, clean)
    # Differences 0.1, 0.3, 0.1, 0.3: mean 0.2, sample std 0.11547, SE = std / 2.
    assert mean == pytest.approx(0.2)
    assert se == pytest.approx(0.11547 / 2, rel=1e-3)


def test_the_plain_saes_points_are_the_same_a_few_tokens_at_a_time(
    tiny_release: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each plain SAE's FVU and L0 on the held-out tokens, encoded two tokens at a time, are those of one encode."""
    from backend.data.heldout import heldout
    from backend.models.loading import load_sae
    from backend.stitching import family

    release = get_release(tiny_release)
    lm = load_language_model(release.model)
    data = heldout(release, lm)
    saes = {sae_id: load_sae(release, sae_id).sae for sae_id in ("64", "128")}
    whole = family._reference_points(release, lm, data, saes, None, CurveConfig())
    monkeypatch.setattr(family, "ENCODE_ELEMENTS", 2 * 128)
    chunked = family._reference_points(release, lm, data, saes, None, CurveConfig())
    assert chunked["l0"].tolist() == pytest.approx(whole["l0"].tolist(), rel=1e-6)
    assert chunked["nmse"].tolist() == pytest.approx(whole["nmse"].tolist(), rel=1e-4)

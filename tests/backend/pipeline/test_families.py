"""A second family trained from another release's data (`data_of`: the tiny Matryoshka family beside the tiny
standard one, both built once per run): the catalog links them, the build trains the Matryoshka SAE once for all its
widths from the first family's activations and indexes it once, and the lenses compare the families."""

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from backend.cli import main
from backend.core.errors import CatalogError, StoreError
from backend.index.artifact import LatentIndex
from backend.index.store import IndexReader
from backend.lenses.compare import META, Comparison, comparisons, findings, meta_row, said, side_by_side
from backend.lenses.kinds.families import LENS, CrossMatch
from backend.lenses.lens import At
from backend.lenses.profile import family_partners, latent_profiles
from backend.models.formats import read_metrics
from backend.models.loading import load_sae
from backend.pipeline.artifacts import families_meta, families_table, release_lenses
from backend.pipeline.build import PROFILES, plan, read_summary
from backend.pipeline.members import TrainedSAE
from backend.sources.catalog import families_of, get_release, load_catalog, parse_release, trained_from
from backend.stitching.matching import DEFAULT_THRESHOLD

MATRYOSHKA = "tiny-matryoshka"
CONTROL = "tiny-batchtopk"


def test_a_family_from_another_release_data_reads_its_data_and_knows_its_sibling(tiny_release: str) -> None:
    standard, nested = get_release(tiny_release), get_release(MATRYOSHKA)
    assert nested.model == standard.model and nested.hook == standard.hook and nested.corpus == standard.corpus
    assert nested.paths.activations == standard.paths.activations and nested.paths.corpus == standard.paths.corpus
    assert nested.paths.index("64") != standard.paths.index("64")
    assert standard.siblings == (MATRYOSHKA, CONTROL) and nested.siblings == (tiny_release, CONTROL)
    assert [r.id for r in trained_from(standard)] == [MATRYOSHKA] and trained_from(nested) == []
    assert [r.id for r in families_of(nested)] == [tiny_release, MATRYOSHKA]
    assert nested.nested and nested.widest("64").id == "128" and nested.widths("64") == (64, 128)


def test_one_matryoshka_training_and_one_index_serve_every_width(tiny_release: str) -> None:
    nested = get_release(MATRYOSHKA)
    artifacts = plan(nested, PROFILES["tiny"]).artifacts
    trained = [a for a in artifacts if isinstance(a, TrainedSAE)]
    assert [a.entry.id for a in trained] == ["128", "128-seed2"]
    assert trained[0].cfg.objective.widths == (64, 128)  # type: ignore[attr-defined]
    standard_seeds = {a.cfg.seed for a in plan(get_release(tiny_release), PROFILES["tiny"]).artifacts
                      if isinstance(a, TrainedSAE)}  # fmt: skip
    assert not standard_seeds & {a.cfg.seed for a in trained}  # no shared starting point across families
    assert [a.sae_id for a in artifacts if isinstance(a, LatentIndex)] == ["128"]
    assert sorted(p.name for p in (nested.paths.root / "index").iterdir()) == ["128"]
    narrow, wide = (LatentIndex.served(nested, w).reader() for w in ("64", "128"))
    assert narrow.d_sae == 64 and len(narrow.table()) == 64
    assert {k: v for k, v in narrow.latent_row(5).items() if not k.startswith("nn_")} == {
        k: v for k, v in wide.latent_row(5).items() if not k.startswith("nn_")
    }
    assert set(narrow.top_example_tokens(3)["latent"]) <= set(range(64))
    with pytest.raises(StoreError, match="not the 129 of this prefix"):
        IndexReader.open(wide.folder, 129)
    whole = load_sae(nested, "128").sae
    assert torch.equal(load_sae(nested, "64").sae.W_dec, whole.W_dec[:64])
    folder = Path(nested.sae("64").location.path)
    small, large = read_metrics(folder, 64), read_metrics(folder, 128)
    assert small and large and small["l0"] < large["l0"] and small["fvu"] > large["fvu"]


def test_the_cross_family_matches_mark_latents_found_both_ways(tiny_release: str) -> None:
    standard, nested = get_release(tiny_release), get_release(MATRYOSHKA)
    pairs = [a for a in release_lenses(standard) if isinstance(a, CrossMatch)]
    assert [a.release.id for a in pairs] == [MATRYOSHKA, MATRYOSHKA]  # kept by the family built second
    stored = pairs[0].read()
    assert stored is not None
    a, b = (load_sae(r, "64").sae.W_dec for r in (standard, nested))
    cosines = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
    assert torch.allclose(stored["first_cosine"], cosines.max(dim=1).values, atol=1e-5)
    assert torch.equal(stored["second_partner"], cosines.max(dim=0).indices)
    for release in (standard, nested):
        profile = latent_profiles(release, "64", release_lenses(release))
        assert set(profile["family_of"]) == {MATRYOSHKA if release is standard else tiny_release}
        assert (profile["family_shared"] == (profile["family_cosine"] >= DEFAULT_THRESHOLD)).all()
        assert profile["family_every"].isna().all()  # one other family: it would be family_shared again


def test_the_families_side_by_side_name_which_does_better(tiny_release: str) -> None:
    table = families_table(get_release(tiny_release))
    assert list(dict.fromkeys(table["family"])) == ["standard", "Matryoshka"]
    assert set(table["latents"]) == {64, 128}
    assert table[["fvu", "l0", "nn_cosine", "found_by_other_family"]].notna().all().all()
    said = findings(table, Comparison("standard", "Matryoshka", "Matryoshka", paper=True))
    assert any(s.startswith("FVU: Matryoshka is") for s in said)
    assert any(s.startswith("found by another family") for s in said)


def test_a_comparison_sentence_says_the_better_family_and_the_matryoshka_paper() -> None:
    table = side_by_side({
        "standard": _sizes(absorption_fraction=[0.4, 0.5], fvu=[0.2, 0.1]),
        "Matryoshka": _sizes(absorption_fraction=[0.1, 0.2], fvu=[0.2, 0.1]),
    })  # fmt: skip
    said = {s.split(":")[0]: s for s in findings(table, Comparison("standard", "Matryoshka", "Matryoshka", paper=True))}
    assert said["absorption fraction"] == (
        "absorption fraction: Matryoshka is higher at 0 of 2 sizes, lower at 2 (mean 15% against 45% for standard); "
        "lower is better here, so Matryoshka does better on the mean. As the Matryoshka paper reports, it is lower "
        "for the Matryoshka SAEs."
    )
    assert said["FVU"].endswith("the same on the mean.")
    close = side_by_side(
        {"standard": _sizes(full_absorption=[0.181, 0.182]), "M": _sizes(full_absorption=[0.18, 0.18])}
    )
    (sentence,) = findings(close, Comparison("standard", "M", None))
    assert sentence.endswith("(mean 18% against 18% for standard); the same on the mean.")  # below the shown precision
    assert set(side_by_side({"standard": _sizes(fvu=[0.2, 0.1]), "building": pd.DataFrame()})["family"]) == {"standard"}
    nested = side_by_side({"standard": _sizes(novel_fraction=[0.3, 0.4]), "M": _sizes(novel_fraction=[0.5, 0.5])})
    (sentence,) = findings(nested, Comparison("standard", "M", "M"))
    assert "not a contest: in the M family each wider prefix keeps" in sentence and "does better" not in sentence
    meta = pd.DataFrame([meta_row("standard", 128, {"variance_explained": 0.6, "coherence_mean": 0.2,
                                                    "coherence_random_baseline": 0.1}, 2.0),
                         meta_row("M", 128, {"variance_explained": 0.3}, None)])  # fmt: skip
    assert findings(meta, Comparison("standard", "M", "M"), META) == [
        "meta-SAE variance explained at 128 latents: M 30% against 60% for standard; lower is better here, so M does "
        "better."
    ]


def test_a_family_built_on_request_joins_every_comparison_once_built(
    tiny_copy: str, capsys: pytest.CaptureFixture
) -> None:
    standard, nested = (get_release(rid) for rid in (tiny_copy, MATRYOSHKA))
    assert [r.id for r in families_of(standard)] == [tiny_copy, MATRYOSHKA]
    nested.paths.summary.unlink()  # the Matryoshka family unfinished: the control is compared with it, so it comes first
    assert main(["build", "--release", CONTROL, "--profile", "tiny"]) == 0
    ran = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if " s in this run" in line]
    assert ran == [MATRYOSHKA, CONTROL] and read_summary(nested).get("complete")
    assert [r.id for r in families_of(nested)] == [tiny_copy, MATRYOSHKA, CONTROL]
    pairs = [a for a in release_lenses(nested) if isinstance(a, CrossMatch)]
    # Each pair of families once, kept by the one listed later in the catalog: the control keeps its pairs.
    assert [(a.ends["first"][0].id, a.release.id) for a in pairs] == [(tiny_copy, MATRYOSHKA)] * 2 + [
        (MATRYOSHKA, CONTROL)
    ] * 2
    assert [a.name for a in pairs if a.read() is None] == []
    assert not [a for a in plan(nested, PROFILES["tiny"]).artifacts if getattr(a, "release", nested) is not nested]
    profile = latent_profiles(nested, "64", release_lenses(nested))
    assert set(profile["family_of"]) <= {tiny_copy, CONTROL} and profile["family_shared"].notna().all()
    by_family = [a.read()[f"{a.side(MATRYOSHKA, '64')}_cosine"] for a in pairs if a.side(MATRYOSHKA, "64")]
    assert len(by_family) == 2
    assert list(profile["family_every"]) == list(((by_family[0] >= 0.7) & (by_family[1] >= 0.7)).numpy())
    assert list(profile["family_shared"]) == list(((by_family[0] >= 0.7) | (by_family[1] >= 0.7)).numpy())
    at = At(nested, "64", tuple(release_lenses(nested)))
    kinds = {str(LENS.badges(row, at)[0][0]).split(":")[0] for _, row in profile.iterrows()}
    assert kinds <= {"found by every other family", "found by another family too", "not found by another family"}
    nearest = family_partners(nested, "64", 5, release_lenses(nested))
    assert [one[0] for one in sorted(nearest)] == [tiny_copy, CONTROL] and nearest[0][3] >= nearest[1][3]
    assert nearest[0][2:] == (profile.loc[5, "family_partner"], pytest.approx(profile.loc[5, "family_cosine"]))
    every = profile.index[profile["family_every"].astype(bool)]
    assert all(LENS.badges(profile.loc[i], at)[0][0].startswith("found by every other family") for i in every)
    table = families_table(standard)
    assert list(dict.fromkeys(table["family"])) == ["standard", "Matryoshka", "BatchTopK"]
    assert table["found_by_other_family"].notna().all() and table["fvu"].notna().all()
    assert (table["found_by_every_family"] <= table["found_by_other_family"]).all()
    headings = [heading for heading, _ in said(families_of(standard), table, families_meta(standard))]
    assert headings == [c.heading for c in comparisons(families_of(standard))] and len(headings) == 3


def test_the_nested_family_meets_the_paper_against_its_control_where_that_is_built() -> None:
    standard, nested, control = (get_release(rid) for rid in ("tiny", MATRYOSHKA, CONTROL))
    alone = comparisons([standard, nested])
    assert [(c.first, c.second, c.paper) for c in alone] == [("standard", "Matryoshka", True)]
    three = comparisons([standard, nested, control])
    assert [(c.first, c.second, c.control, c.paper) for c in three] == [
        ("standard", "Matryoshka", False, False), ("standard", "BatchTopK", False, False),
        ("BatchTopK", "Matryoshka", True, True),
    ]  # fmt: skip
    assert (
        three[-1].heading
        == "Matryoshka against BatchTopK (its control: they differ in one way only, as in the Matryoshka paper)"
    )
    table = side_by_side({
        "standard": _sizes(absorption_fraction=[0.4, 0.5]), "Matryoshka": _sizes(absorption_fraction=[0.1, 0.2]),
        "BatchTopK": _sizes(absorption_fraction=[0.3, 0.3]),
    })  # fmt: skip
    grouped = dict(said([standard, nested, control], table, pd.DataFrame()))
    assert list(grouped) == [c.heading for c in three]
    paper = {heading: "Matryoshka paper" in " ".join(sentences) for heading, sentences in grouped.items()}
    assert paper == {three[0].heading: False, three[1].heading: False, three[2].heading: True}
    assert grouped[three[2].heading] == [
        "absorption fraction: Matryoshka is higher at 0 of 2 sizes, lower at 2 (mean 15% against 30% for BatchTopK); "
        "lower is better here, so Matryoshka does better on the mean. As the Matryoshka paper reports, it is lower "
        "for the Matryoshka SAEs."
    ]
    assert comparisons([standard]) == []
    own = replace(nested, control=standard.id)  # a control that is the data's own family: compared once, as control
    assert [(c.first, c.second, c.control, c.paper) for c in comparisons([standard, own])] == [
        ("standard", "Matryoshka", True, True)
    ]


def _sizes(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"sae": ["64", "128"], "latents": [64, 128], **columns})


def test_a_family_trained_from_another_release_data_cannot_set_its_own_data() -> None:
    from backend.sources import catalog

    raw = {"a": {"model": "m", "hook": "h", "saes": [{"id": "x", "d_sae": 8}]},
           "b": {"data_of": "a", "hook": "other", "saes": [{"id": "x", "d_sae": 8}]}}  # fmt: skip
    with pytest.raises(CatalogError, match="reads its data from 'a': it cannot set hook"):
        catalog._with_data("b", raw["b"], raw)
    with pytest.raises(CatalogError, match="data_of must name another release"):
        catalog._with_data("b", {"data_of": "b"}, raw)
    with pytest.raises(CatalogError, match="differs from its prefix"):
        parse_release("r", {"model": "m", "hook": "h", "saes": [{"id": "x", "prefix": 8, "d_sae": 16}]})
    assert set(load_catalog()["smollm2-wordnet-matryoshka"].sae_ids) == {"1152", "2304", "4608", "9216"}

"""AppTest for every page on the tiny release built by the session fixture."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.files import replace_bytes

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run(page: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in params.items():
        at.query_params[key] = value
    if page:
        at.switch_page(f"pages/views/{page}.py")
    return at.run()


def no_crash(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def test_overview_renders_config_and_metrics(tiny_release: str) -> None:
    at = run()
    no_crash(at)
    assert at.header[0].value.endswith("SAE 128")
    assert any(m.label.startswith("Variance unexplained") for m in at.metric)


def test_latent_card_renders(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="64", latent="3")
    no_crash(at)
    assert at.header[0].value.startswith("Latent 3:")
    assert any(m.label == "Density" for m in at.metric)
    lens = next(m.value for m in at.markdown if m.value.startswith("| promoted | logit | suppressed | logit |"))
    assert len(lens.splitlines()) == 2 + 10, "ten promoted and ten suppressed tokens, side by side"
    from backend.index.cards import CardReader
    from backend.index.store import IndexReader
    from backend.sources.catalog import get_release

    card = CardReader(IndexReader.open(get_release(tiny_release).paths.index("64"))).card(3)
    intervals = next(h.proto.body for h in at.html if "<details" in h.proto.body)
    assert intervals.count("<details") == len(card.intervals)
    assert intervals.count('class="example"') == sum(len(i.examples) for i in card.intervals)


def test_next_button_moves_to_the_next_latent(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="64", latent="3")
    next(b for b in at.button if b.label.startswith("Next")).click().run()
    no_crash(at)
    assert at.query_params["latent"] == "4"
    assert at.header[0].value.startswith("Latent 4:")


def test_bad_params_warn_and_fall_back(tiny_release: str) -> None:
    at = run("latent", release="nope", sae="zz", latent="abc")
    no_crash(at)
    assert len(at.warning) == 3
    assert at.header[0].value.startswith("Latent 0:")


def test_out_of_range_latent_is_an_error_not_a_crash(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="64", latent="99999")
    no_crash(at)
    assert "out of range" in at.error[0].value


def test_search_by_label_and_by_text(tiny_release: str) -> None:
    at = run("search", release=tiny_release, sae="128", q="the", text="Albert Einstein was a physicist.")
    no_crash(at)
    assert at.header[0].value == "Search latents"
    assert at.dataframe, "the per-token table is shown"


def test_broken_sae_shows_an_error(tiny_copy: str, data_dir: Path) -> None:
    replace_bytes(data_dir / "releases" / tiny_copy / "sae-64" / "sae_weights.safetensors", b"broken")
    at = run(None, release=tiny_copy, sae="64")
    no_crash(at)
    assert "cannot be loaded" in at.error[0].value


@pytest.mark.parametrize("page", ["latent", "search"])
def test_missing_index_says_how_to_build_it(tiny_copy: str, data_dir: Path, page: str) -> None:
    shutil.rmtree(data_dir / "releases" / tiny_copy / "index" / "64")
    at = run(page, release=tiny_copy, sae="64")
    no_crash(at)
    assert "python -m backend build" in at.error[0].value


def test_latent_card_shows_its_decomposition_and_related_latents(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4")
    no_crash(at)
    subheaders = [s.value for s in at.subheader]
    assert any(s.startswith("Decomposition by meta-SAE") for s in subheaders)
    assert "Related latents (shared meta-latents)" in subheaders
    assert "Lineage across sizes" in subheaders


def test_threshold_slider_changes_the_url(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4")
    slider = next(s for s in at.slider if s.label == "Meta-latent threshold")
    slider.set_value(slider.max).run()
    no_crash(at)
    assert float(at.query_params["t"]) == pytest.approx(slider.max, rel=1e-3)
    # The slider's section reruns alone (a fragment); the card around it keeps its latent and sections.
    assert at.header[0].value.startswith("Latent 4:") and at.query_params["latent"] == "4"
    assert "Lineage across sizes" in [s.value for s in at.subheader]


def test_meta_latent_card_renders(tiny_release: str) -> None:
    at = run("meta", release=tiny_release, sae="128", m="3")
    no_crash(at)
    assert at.header[0].value.startswith("Meta-latent 3:")
    assert any(m.label == "Latents containing it" for m in at.metric)


def test_a_long_list_links_its_first_latents_and_tables_them_all(
    tiny_release: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.sources.catalog import get_release
    from pages.access.saes import decompositions
    from pages.sections import widgets

    meta_id = get_release(tiny_release).meta_saes[0].id
    table = decompositions(tiny_release, meta_id)
    meta = max(range(table.n_meta), key=lambda m: len(table.members(m)))
    members = table.members(meta)
    assert len(members) >= 3
    monkeypatch.setattr(widgets, "LINKED", 2)
    at = run("meta", release=tiny_release, sae="128", m=str(meta))
    no_crash(at)
    linked = [link.proto.label for link in at.get("page_link") if link.proto.label.startswith("#")]
    assert [label.split()[0] for label in linked] == [f"#{latent}" for latent, _ in members[:2]]
    listed = next(d.value for d in at.dataframe if "card" in d.value.columns)
    assert listed["latent"].tolist() == [latent for latent, _ in members]
    assert listed["card"].iloc[0].startswith("latent?") and f"latent={members[0][0]}" in listed["card"].iloc[0]


def test_a_stitching_group_lists_its_members_closest_first(tiny_release: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.models.geometry import unit_rows
    from backend.sources.catalog import get_release
    from backend.stitching.family import pair_classification
    from pages.access.saes import decoder
    from pages.sections import widgets

    found = pair_classification(get_release(tiny_release), "64", "128", 0.5)
    assert found is not None
    component = max(found.components, key=lambda c: len(c.small))
    assert len(component.small) >= 2
    latent = component.large[0]
    cosines = (
        unit_rows(decoder(tiny_release, "64")[list(component.small)]) @ unit_rows(decoder(tiny_release, "128"))[latent]
    )
    closest_first = [component.small[i] for i in cosines.argsort(descending=True).tolist()]
    monkeypatch.setattr(widgets, "LINKED", 1)
    at = run("latent", release=tiny_release, sae="128", latent=str(latent), st="0.5")
    no_crash(at)
    linked = [link.proto.label for link in at.get("page_link") if link.proto.label.startswith("SAE-64 #")]
    assert linked[0].startswith(f"SAE-64 #{closest_first[0]} ")
    listed = next(d.value for d in at.dataframe if "cosine" in d.value.columns)
    assert listed["latent"].tolist() == closest_first
    assert listed["cosine"].is_monotonic_decreasing


def test_meta_latent_out_of_range_and_sae_without_meta(tiny_release: str) -> None:
    at = run("meta", release=tiny_release, sae="128", m="999")
    no_crash(at)
    assert "out of range" in at.error[0].value
    at = run("meta", release=tiny_release, sae="64")
    no_crash(at)
    assert "has no meta-SAE" in at.error[0].value


def test_train_a_meta_sae_from_the_overview(tiny_copy: str) -> None:
    at = run(None, release=tiny_copy, sae="64")
    at.number_input[0].set_value(8)
    at.number_input[2].set_value(3)
    next(b for b in at.button if b.label == "Train and register").click().run()
    no_crash(at)
    assert "Registered meta-64-8" in at.success[0].value
    assert any("a meta-SAE of 8 meta-latents, 3 epochs: about" in c.value for c in at.caption)
    at = run("meta", release=tiny_copy, sae="64", m="1")
    no_crash(at)
    assert at.header[0].value.startswith("Meta-latent 1:")


def test_a_meta_sae_over_the_visitors_bound_cannot_be_started(
    tiny_release: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_VISITOR_SECONDS", "0.001")
    at = run(None, release=tiny_release, sae="64")
    no_crash(at)
    assert any("Fewer meta-latents or epochs fit" in c.value for c in at.caption)
    assert next(b for b in at.button if b.label == "Train and register").disabled


def test_stitching_page_shows_the_pair_table_and_curves(tiny_release: str) -> None:
    at = run("stitching", release=tiny_release)
    no_crash(at)
    assert at.header[0].value == "SAE stitching"
    table = at.dataframe[0].value
    assert table["pair"].tolist() == ["64→128"]
    assert len(at.tabs) == 3
    assert not at.error


def test_stitching_threshold_and_order_live_in_the_url(tiny_release: str) -> None:
    at = run("stitching", release=tiny_release, st="0.8", order="swaps-first")
    no_crash(at)
    assert at.slider[0].value == pytest.approx(0.8)
    assert next(s for s in at.selectbox if s.label == "Step order").value == "swaps-first"
    assert any("No curves for these settings" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Compute stitching curves").click().run()
    no_crash(at)
    assert len(at.tabs) == 3


def test_bad_stitching_params_fall_back_with_a_warning(tiny_release: str) -> None:
    at = run("stitching", release=tiny_release, st="3", order="sideways")
    no_crash(at)
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")  # shown as escaped Markdown
    assert "st=3.0" in warnings and "order='sideways'" in warnings


def test_latent_card_shows_its_stitching_badge(tiny_release: str) -> None:
    from backend.sources.catalog import get_release
    from backend.stitching.family import pair_classification

    found = pair_classification(get_release(tiny_release), "64", "128", 0.7)
    assert found is not None and len(found.novel)
    novel = int(found.novel[0])
    at = run("latent", release=tiny_release, sae="128", latent=str(novel))
    no_crash(at)
    assert any(s.value == "Across sizes (stitching)" for s in at.subheader)
    closest = f"the closest, at {float(found.large_cos[novel]):.2f}"
    assert any(closest in c.value for c in at.caption), [c.value for c in at.caption]


@pytest.mark.parametrize("colour", ["meta-latent", "density", "novelty"])
def test_map_page_colours_from_the_url(tiny_release: str, colour: str) -> None:
    at = run("map", release=tiny_release, sae="128", colour=colour, latent="3")
    no_crash(at)
    assert at.header[0].value == "Latent map · SAE 128"
    assert at.radio[0].value == colour
    assert not at.warning


def test_map_of_the_smallest_sae_cannot_show_novelty(tiny_release: str) -> None:
    at = run("map", release=tiny_release, sae="64", colour="novelty")
    no_crash(at)
    assert "Cannot colour by novelty" in at.warning[0].value


@contextmanager
def without_map(release_id: str, sae_id: str) -> Iterator[Path]:
    """The SAE's stored map removed for the duration (restored after)."""
    from backend.sources.catalog import get_release

    path = get_release(release_id).paths.latent_map(sae_id)
    saved = path.read_bytes()
    path.unlink()
    try:
        yield path
    finally:
        path.write_bytes(saved)


def test_missing_map_offers_to_compute_it(tiny_release: str, data_dir: Path) -> None:
    with without_map(tiny_release, "64") as path:
        at = run("map", release=tiny_release, sae="64")
        no_crash(at)
        assert any("no map yet" in i.value for i in at.info)
        next(b for b in at.button if b.label == "Compute the map").click().run()
        no_crash(at)
        assert path.exists()


CONTEXTS = "He sat on the bank of the river.\nShe took a loan from the bank."


def test_polysemy_probe_from_the_url(tiny_release: str) -> None:
    at = run("polysemy", release=tiny_release, sae="128", word="bank", ctx=CONTEXTS)
    no_crash(at)
    assert at.header[0].value == "Polysemy probes"
    assert [e.label for e in at.expander][:2] == ["SAE 64", "SAE 128"]
    assert at.dataframe[0].value["context"].tolist() == CONTEXTS.splitlines()
    assert not at.error


def test_polysemy_form_writes_the_probe_into_the_url(tiny_release: str) -> None:
    at = run("polysemy", release=tiny_release)
    at.text_input[0].input("plant")
    at.text_area[0].input("a power plant\nplant a tree")
    at.button[0].click().run()
    no_crash(at)
    assert at.query_params["word"] == "plant"
    assert at.query_params["ctx"] == "a power plant\nplant a tree"


def test_polysemy_benchmark_runs_on_the_wordnet_set(tiny_release: str) -> None:
    at = run("polysemy", release=tiny_release, mode="context")
    next(b for b in at.button if b.label == "Run the benchmark on every SAE").click().run()
    no_crash(at)
    summary = at.dataframe[0].value
    assert summary["sae"].tolist() == ["64", "128"]
    # Every pair is counted, skipped (word of several tokens) or left out to balance the classes as PS-Eval does.
    assert (summary["pairs"] + summary["skipped"] + summary["unbalanced"] == 400).all()
    assert [h.value for h in at.subheader][-1] == "Beyond the strongest latent"
    readings = at.dataframe[1].value
    assert readings["reader"].tolist() == ["SAE 64, whole code", "SAE 128, whole code", "residual stream (no SAE)"]
    assert (readings["pairs"] == summary["pairs"].iloc[0]).all()


def test_polysemy_hub_set_offline_is_a_clear_error(tiny_release: str) -> None:
    at = run("polysemy", release=tiny_release, set="ps-eval")
    no_crash(at)
    assert "not in the local Hugging Face cache" in at.error[0].value


@pytest.mark.parametrize("page", ["stitching", "map", "polysemy"])
def test_new_pages_on_an_unreachable_hub_release_explain_instead_of_crashing(tiny_release: str, page: str) -> None:
    at = run(page, release="gpt2-small-res-fs-l8", sae="49152", word="bank", ctx=CONTEXTS)
    no_crash(at)
    for label in ("Compute matchings", "Compute the map"):
        button = next((b for b in at.button if b.label == label), None)
        if button is not None:
            button.click().run()
            no_crash(at)
    assert any("Hugging Face cache" in e.value for e in at.error), [e.value for e in at.error]


def test_stitching_drill_down_lists_novel_latents_most_novel_first(tiny_release: str) -> None:
    at = run("stitching", release=tiny_release)
    next(s for s in at.selectbox if s.label == "Kind").select("novel").run()
    no_crash(at)
    assert any("most novel first" in c.value for c in at.caption)
    cosines = [float(m.value) for m in at.markdown if m.value.replace(".", "", 1).isdigit()]
    assert cosines == sorted(cosines) and cosines


def test_overview_opens_on_the_story_and_folds_the_configuration(tiny_release: str) -> None:
    at = run(None, release=tiny_release, sae="128")
    no_crash(at)
    order = [s.value for s in at.subheader]
    story = ["Start here", "The family at a glance", "Meta-SAE meta-128 on this SAE's decoder rows"]
    assert order[:3] == story and order.index("Quality on held-out tokens") > 2
    assert "Configuration and weights" in [e.label for e in at.expander]
    assert "Members sharing a WordNet category" in [m.label for m in at.metric]
    from backend.models.formats import read_metrics
    from backend.sources.catalog import get_release
    from backend.stitching.family import pair_classification

    release = get_release(tiny_release)
    found = pair_classification(release, "64", "128", 0.7)
    assert found is not None
    family = at.dataframe[0].value
    assert list(family["SAE"]) == ["64", "128"]
    assert family["novel vs the next smaller (cosine < 0.7)"][1] == f"{len(found.novel) / found.n_large:.0%}"
    fvu = (read_metrics(Path(release.sae("128").location.path)) or {})["fvu"]
    assert family["FVU"][1] == f"{fvu:.3f}"


def test_stitching_page_says_where_the_family_differs_from_the_paper(tiny_release: str) -> None:
    """The sentence names each pair whose novel fraction is more than 10 points from the paper's 35%, with its
    figure as the Stitching table shows it, and the curves' rises above the smaller SAE."""
    from backend.sources.catalog import get_release
    from backend.stitching.family import Curves

    at = run("stitching", release=tiny_release)
    no_crash(at)
    table = at.dataframe[0].value
    assert Curves(get_release(tiny_release)).read() is not None
    said = " ".join(info.value for info in at.info if "differs from the paper" in info.value)
    for pair, novel in zip(table["pair"], table["novel fraction"], strict=True):
        off = abs(novel - 0.35) > 0.10
        assert (f"{novel:.0%} ({pair})" in said) == off, (pair, novel, said)
        assert not off or "35%" in said


def test_while_the_second_seeds_train_together_the_panel_counts_the_earliest_of_them(
    tiny_copy: str, data_dir: Path
) -> None:
    import json
    import os

    root = data_dir / "releases" / tiny_copy
    (root / "build.json").unlink()
    stages = ["train SAE-64", "usable", "curves", "train SAE-64-seed2", "train SAE-128-seed2", "seeds SAE-64"]
    progress = {"stages": stages, "finished": stages[:3], "stage": "curves", "step": "train SAE-128-seed2",
                "done": 4, "total": 9, "state": "running", "pid": os.getpid(),
                "beside": ["train SAE-128-seed2", "train SAE-64-seed2"]}  # fmt: skip
    (root / "build-progress.json").write_text(json.dumps(progress))
    at = run(None, release=tiny_copy, sae="64")
    no_crash(at)
    shown = str(at.get("progress")[0].proto)
    assert "stage 4 of 6: train SAE-128-seed2 (4/9)" in shown
    assert "under way: train SAE-128-seed2, train SAE-64-seed2" in shown


def test_a_family_still_building_shows_its_progress_and_what_is_ready(tiny_copy: str, data_dir: Path) -> None:
    """Mid-build (no complete summary, a live build process): the overview shows the progress; an SAE
    without its index says it is not built yet; a link naming no SAE opens the largest ready one."""
    import json
    import os

    root = data_dir / "releases" / tiny_copy
    summary, index, weights = root / "build.json", root / "index" / "128", root / "sae-128"
    stitching, lenses = root / "stitching", root / "lenses"
    summary.unlink()
    for folder in (index, weights, stitching, lenses):  # as on a first build: no curves or lenses yet
        shutil.rmtree(folder)
    progress = {"stages": ["activations", "train SAE-64", "index SAE-64", "usable", "train SAE-128", "map SAE-64"],
                "finished": ["activations", "train SAE-64", "index SAE-64", "usable", "map SAE-64"],
                "stage": "train SAE-128",
                "step": "train SAE-128", "done": 3, "total": 10, "state": "running", "pid": os.getpid(),
                "seconds": {"activations": 20.5, "train SAE-64": 6.0, "index SAE-64": 3.5, "usable": 0.0,
                            "map SAE-64": 4.0, "train SAE-96": 5.0},
                "started": {"activations": 0.0, "train SAE-64": 20.5, "index SAE-64": 26.5, "usable": 30.0,
                            "map SAE-64": 30.0, "train SAE-96": 30.0, "train SAE-128": 35.0, "facets SAE-64": 35.0},
                "beside": ["facets SAE-64"], "inputs": {"language model": 7.2, "corpus and activations": 12.0}}  # fmt: skip
    (root / "build-progress.json").write_text(json.dumps(progress))
    at = run(None, release=tiny_copy, sae="64")
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    assert at.header[0].value.endswith("SAE 64")
    shown = str(at.get("progress")[0].proto)
    assert "Building the rest of the family" in shown and "beside it: facets SAE-64" in shown
    assert "stage 5 of 6: train SAE-128" in shown  # its place in the plan, though a later one finished beside it
    labels = [e.label for e in at.expander]  # the map ran beside the training: their seconds count once
    assert "Stages finished in this run: 35 s (their own 39 s: some ran beside others)" in labels
    timed = next(d.value for d in at.dataframe if "seconds" in d.value)
    said = "Within those stages, loading what they share: corpus and activations 12 s, language model 7 s."
    assert said in [c.value for c in at.caption]
    assert timed.set_index("stage")["seconds"].to_dict()["train SAE-64"] == 6.0
    made = next(d.value for d in at.dataframe if "artifact" in d.value).set_index("artifact")["on disk"]
    assert (
        made["index SAE-64"] == "yes" and made["index SAE-128"] == "not yet" and made["stitching curves"] == "not yet"
    )
    at = run("latent", release=tiny_copy, sae="128", latent="1")
    no_crash(at)
    assert "SAE-128 is not built yet" in at.info[0].value
    at = run("latent", release=tiny_copy, sae="64", latent="1")
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    assert any("SAE-128 is still being built" in i.value for i in at.info)
    assert "Is it a canonical unit?" in [h.value for h in at.subheader]
    assert any("still being trained or aligned" in c.value for c in at.caption)
    at = run("canonical", release=tiny_copy, sae="64")
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    at = run(None, release=tiny_copy)
    no_crash(at)
    assert at.query_params["sae"] == "64"
    at = run("stitching", release=tiny_copy)
    no_crash(at)
    assert "needs the whole family" in at.info[0].value
    at = run("meta", release=tiny_copy)
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    assert any("SAE-128, which is still being built" in i.value for i in at.info)


def test_overview_shows_atomicity_as_sortable_columns_and_a_summary(tiny_release: str) -> None:
    at = run(None, release=tiny_release, sae="128")
    no_crash(at)
    assert "Atomicity: compositions and atoms" in [s.value for s in at.subheader]
    table = at.dataframe[-1].value
    assert {"meta cosine", "meta parts"} <= set(table.columns)
    assert table["meta cosine"].between(-1, 1).all()

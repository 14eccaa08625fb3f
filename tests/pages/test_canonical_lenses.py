"""AppTest of the canonical-units lenses on the tiny release: the latent card's profile and the family page."""

from tests.pages.test_app import no_crash, run


def test_latent_card_shows_its_canonicality_profile(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="64", latent="3")
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    assert "Is it a canonical unit?" in [h.value for h in at.subheader]
    badges = str([m.value for m in at.markdown])
    assert "seeds:" in badges and ("kept in SAE" in badges or "dropped in SAE" in badges)
    from backend.lenses.profile import facet_rows
    from backend.pipeline.artifacts import release_lenses
    from backend.sources.catalog import get_release

    facets = facet_rows(release_lenses(get_release(tiny_release)), get_release(tiny_release), "64")
    assert facets is not None
    counts = facets["latent"].value_counts()
    several = int(counts[counts > 1].index[0])
    at = run("latent", release=tiny_release, sae="64", latent=str(several))
    no_crash(at)
    expander = next(e for e in at.expander if e.label.startswith("Facets:"))
    table = next(m.value for m in expander.markdown if m.value.startswith("| share of firing |"))
    assert len(table.splitlines()) == 2 + int(counts[several])
    at = run("latent", release=tiny_release, sae="128", latent="3")
    no_crash(at)
    assert any("needs a second seed" in c.value for c in at.caption)


def test_canonical_units_page_plots_every_lens_and_tables_every_latent(tiny_release: str) -> None:
    at = run("canonical", release=tiny_release, sae="64")
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    assert at.header[0].value == "Canonical units?"
    family = next(d.value for d in at.dataframe if "shared_across_seeds" in d.value)
    assert family["sae"].tolist() == ["64", "128"]
    assert 0 <= family.set_index("sae").at["64", "shared_across_seeds"] <= 1
    latents = next(d.value for d in at.dataframe if "seed_partner" in d.value)
    assert {"novel", "kept", "seed_shared", "absorption", "split", "facets"} <= set(latents.columns)
    at.selectbox(key="canonical-sort").select("seed_cosine").run()
    no_crash(at)
    assert at.query_params["sort"] == "seed_cosine"
    at.toggle(key="canonical-descending").set_value(False).run()
    assert at.query_params["asc"] == "1"
    shared = run("canonical", release=tiny_release, sae="64", sort="seed_cosine", asc="1")  # the link, opened anew
    no_crash(shared)
    table = next(d.value for d in shared.dataframe if "card" in d.value)
    cosines = table["seed_cosine"].dropna().tolist()
    assert cosines == sorted(cosines) and shared.selectbox(key="canonical-sort").value == "seed_cosine"
    wrong = run("canonical", release=tiny_release, sae="128", sort="nope", only="novel,nope")  # 64 is never novel
    assert any("no such column" in w.value for w in wrong.warning) and "sort" not in wrong.query_params
    assert any("filters nope" in w.value for w in wrong.warning) and wrong.query_params["only"] == "novel"
    novel = next(d.value for d in wrong.dataframe if "card" in d.value)
    assert len(novel) and novel["novel"].all()
    # The largest SAE is never kept or dropped (nothing larger): its filter waits in the link, as mid-build.
    waiting = run("canonical", release=tiny_release, sae="128", only="not kept")
    assert any("Not applied yet" in i.value and "not kept" in i.value for i in waiting.info)  # md escapes the colon
    assert waiting.query_params["only"] == "not kept" and not waiting.warning
    wrong.multiselect(key="canonical-only").unselect("novel").select("not novel").run()
    assert wrong.query_params["only"] == "not novel"
    assert not next(d.value for d in wrong.dataframe if "card" in d.value)["novel"].any()
    at = run(None, release=tiny_release, sae="64")
    assert any("seed cosine" in d.value.columns for d in at.dataframe)  # the overview's latent table


def test_the_canonical_page_compares_the_families_and_the_card_marks_latents_found_both_ways(tiny_release: str) -> None:
    at = run("canonical", release="tiny-matryoshka", sae="64")
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    assert "Families compared: standard · Matryoshka" in [h.value for h in at.subheader]
    side = next(d.value for d in at.dataframe if "found_by_other_family" in d.value and "family" in d.value)
    assert list(dict.fromkeys(side["family"])) == ["standard", "Matryoshka"]
    said = str([m.value for m in at.markdown])
    assert "absorption fraction: Matryoshka is" in said and "one dictionary read at several widths" in str(
        [c.value for c in at.caption]
    )
    assert "**Matryoshka against standard**" in said
    # The control is built only when asked for: the page names it and the command, and does not compare it yet.
    hint = next(i.value for i in at.info if "Not built here yet" in i.value)
    assert "the BatchTopK family, the control of the Matryoshka family" in hint
    assert "python -m backend build --release tiny-batchtopk" in hint
    at = run(None, release="tiny-batchtopk", sae="64")
    no_crash(at)
    assert any("built only when asked for: `python -m backend build --release tiny-batchtopk`" in i.value
               for i in at.info)  # fmt: skip
    at = run("latent", release=tiny_release, sae="64", latent="3")
    no_crash(at)
    badges = str([m.value for m in at.markdown])
    assert "Matryoshka latent" in badges
    links = [str(link.proto) for link in at.get("page_link")]
    assert sum("Its nearest latent in the Matryoshka family: SAE-64" in link for link in links) == 1
    assert "found by another family too" in badges or "not found by another family" in badges


def test_the_comparison_says_what_is_still_being_built(tiny_copy: str) -> None:
    import shutil

    from backend.sources.catalog import get_release

    shutil.rmtree(get_release("tiny-matryoshka").paths.root)  # the second family not started yet
    at = run("canonical", release=tiny_copy, sae="64")
    no_crash(at)
    assert not at.error, [e.value for e in at.error]
    assert any("Still being built: Matryoshka" in i.value for i in at.info)
    side = next(d.value for d in at.dataframe if "found_by_other_family" in d.value and "family" in d.value)
    assert set(side["family"]) == {"standard"}
    at = run(None, release="tiny-matryoshka", sae="64")
    no_crash(at)
    assert any("is trained from the activations of tiny, after it" in i.value for i in at.info)

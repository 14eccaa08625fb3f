"""AppTest: the download buttons sit where the data is shown (card, latents table, decompositions, stitching), and
the add form registers a release or says why not."""

from tests.pages.test_app import no_crash, run


def labels(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.proto.label for e in at.get("download_button")]


def test_the_latent_card_offers_its_json_and_the_decompositions(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4")
    no_crash(at)
    assert "⬇ Card (JSON)" in labels(at) and labels(at).count("⬇ CSV") == 1


def test_the_overview_and_stitching_pages_offer_their_tables(tiny_release: str) -> None:
    at = run(None, release=tiny_release, sae="128")
    no_crash(at)
    assert {"⬇ CSV", "⬇ PARQUET"} <= set(labels(at))
    at = run("stitching", release=tiny_release)
    no_crash(at)
    assert "⬇ CSV" in labels(at)


def test_the_add_form_adds_a_release_and_refuses_bad_input(tiny_world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.backend.tiny_models import saelens_folder

    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    at = run("add")
    no_crash(at)
    at.text_input[0].input("mine")
    at.text_area[0].input(f"{folder}\n")
    next(s for s in at.selectbox if s.label == "Corpus").set_value("local")
    next(t for t in at.text_input if t.label.startswith("Corpus path")).input(str(tiny_world["corpus"]))
    next(n for n in at.number_input if n.label == "Contexts to index").set_value(16)
    next(b for b in at.button if b.label == "Check, add and index").click().run()
    no_crash(at)
    assert at.success and "Added" in at.success[0].value
    at.text_input[0].input("other")
    at.text_area[0].input("/no/such/folder")
    next(b for b in at.button if b.label == "Check, add and index").click().run()
    no_crash(at)
    assert "Nothing was registered" in at.error[0].value


def test_the_add_form_is_hidden_when_read_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ATLAS_READ_ONLY", "1")
    at = run("add")
    no_crash(at)
    assert "read-only" in at.info[0].value and not at.get("form")

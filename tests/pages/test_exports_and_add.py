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


def add_button(at):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == "Check, add and index")


def test_the_add_form_adds_an_offered_sae_and_reads_no_other_server_folder(tiny_world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.backend.tiny_models import saelens_folder

    root = tiny_world["root"]
    allowed = root / "allowed"
    saelens_folder(allowed, "sae", tiny_world["model"], 32)
    tiny_world["corpus"].rename(allowed / "corpus.txt")
    secret = root / "private"
    saelens_folder(secret, "sae", tiny_world["model"], 32)
    (secret / "notes.txt").write_text("the-launch-code-is-0000\n" * 50)
    monkeypatch.setenv("ATLAS_ALLOWED_ROOTS", f"{allowed}:{tiny_world['model']}")
    at = run("add")
    no_crash(at)
    assert next(m for m in at.multiselect if m.label.startswith("SAE folders")).options == ["allowed/sae"]
    assert not any(t.label.startswith("Corpus path") for t in at.text_input), "no typed server path"
    at.text_input[0].input("other")
    for typed in (str(secret / "sae"), str(secret / "missing"), "../private/sae"):
        next(t for t in at.text_area if t.label.startswith("Hub repos")).input(typed)
        add_button(at).click().run()
        no_crash(at)
        shown = " ".join(e.value for e in [*at.error, *at.warning, *at.success, *at.markdown, *at.caption])
        assert "Nothing was registered" in at.error[0].value, typed
        assert str(root) not in shown and "launch-code" not in shown
    next(t for t in at.text_area if t.label.startswith("Hub repos")).input("")
    at.text_input[0].input("mine")
    next(m for m in at.multiselect if m.label.startswith("SAE folders")).set_value(["allowed/sae"])
    next(s for s in at.selectbox if s.label == "Corpus").set_value("offered")
    next(s for s in at.selectbox if s.label.startswith("Corpus file")).set_value("allowed/corpus.txt")
    next(n for n in at.number_input if n.label == "Contexts to index").set_value(16)
    add_button(at).click().run()
    no_crash(at)
    assert at.success and "Added" in at.success[0].value
    assert str(root) not in at.success[0].value


def test_the_add_form_is_hidden_when_read_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ATLAS_READ_ONLY", "1")
    at = run("add")
    no_crash(at)
    assert "read-only" in at.info[0].value and not at.get("form")


def test_the_add_form_answers_alike_whether_a_typed_name_exists(tiny_world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A model name or a Hub-repo line that names something beside the server reads exactly as one that names
    nothing: the form tells a visitor nothing of the server's files."""
    from tests.backend.tiny_models import saelens_folder

    root = tiny_world["root"]
    allowed = root / "allowed"
    saelens_folder(allowed, "sae", tiny_world["model"], 32)
    saelens_folder(root / "data" / "kept", "sae", tiny_world["model"], 32)
    monkeypatch.setenv("ATLAS_ALLOWED_ROOTS", f"{allowed}:{tiny_world['model']}")

    def answer(field: str, typed: str) -> str:
        at = run("add")
        at.text_input[0].input("mine")
        if field == "model":
            next(m for m in at.multiselect if m.label.startswith("SAE folders")).set_value(["allowed/sae"])
            next(t for t in at.text_input if t.label.startswith("Model")).input(typed)
        else:
            next(t for t in at.text_area if t.label.startswith("Hub repos")).input(typed)
        add_button(at).click().run()
        no_crash(at)
        assert "Nothing was registered" in at.error[0].value, typed
        echoed = repr(typed).replace(str(root / "data"), "‹data›")  # the app names its data folder so
        return at.error[0].value.replace("\\", "").replace(echoed, "‹typed›")  # Markdown escapes off

    assert answer("model", "tests") == answer("model", "no-such-folder-here")
    existing, missing = root / "data" / "kept" / "sae", root / "data" / "missing"
    assert answer("hub", str(existing)) == answer("hub", str(missing))

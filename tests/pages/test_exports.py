"""AppTest: the download buttons sit where the data is shown (card, latents table, decompositions, stitching)."""

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

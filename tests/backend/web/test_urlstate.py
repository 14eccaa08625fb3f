from backend.sources.catalog import load_catalog
from backend.web.urlstate import parse_view


def test_valid_params_round_trip() -> None:
    catalog = load_catalog()
    view = parse_view({"release": "tiny", "sae": "64", "latent": "5", "q": "river"}, catalog)
    assert (view.release, view.sae, view.latent, view.query) == ("tiny", "64", 5, "river")
    assert parse_view(view.params(), catalog) == view
    assert not view.warnings


def test_bad_params_fall_back_with_warnings() -> None:
    catalog = load_catalog()
    view = parse_view({"release": "../../etc/passwd", "sae": "x", "latent": "abc", "token": "-3"}, catalog)
    assert view.release == "tiny" and view.sae == "128" and view.latent == 0 and view.token is None
    assert len(view.warnings) == 4


def test_unknown_sae_falls_back_to_the_meta_sae_base() -> None:
    view = parse_view({"release": "tiny", "sae": "999"}, load_catalog())
    assert view.sae == "128" and "no SAE '999'" in view.warnings[0]


def test_meta_latent_and_threshold_round_trip_and_validate() -> None:
    catalog = load_catalog()
    view = parse_view({"release": "tiny", "m": "7", "t": "0.25"}, catalog)
    assert (view.meta_latent, view.threshold) == (7, 0.25)
    assert parse_view(view.params(), catalog) == view
    bad = parse_view({"release": "tiny", "t": "nan-ish", "m": "-1"}, catalog)
    assert bad.threshold is None and bad.meta_latent == 0 and len(bad.warnings) == 2


def test_share_link_replaces_the_query() -> None:
    from backend.web.urlstate import share_link

    link = share_link("http://host:8501/latent?old=1", "latent", {"release": "tiny", "q": "a b&c"})
    assert link == "http://host:8501/latent?release=tiny&q=a+b%26c"


def test_share_link_of_the_default_page_is_the_root_whatever_the_address_bar_says() -> None:
    from backend.web.urlstate import share_link

    assert share_link("http://host:8501/overview?x=1", "", {"sae": "64"}) == "http://host:8501/?sae=64"
    assert share_link("https://h/app/search", "search", {"q": "a"}, "/app/") == "https://h/app/search?q=a"


def test_steering_state_round_trips_and_validates() -> None:
    catalog = load_catalog()
    view = parse_view({"release": "tiny", "prompt": "x" * 900, "strength": "-2.5", "clamp": "1"}, catalog)
    assert (len(view.prompt), view.strength, view.clamp) == (500, -2.5, True)
    assert parse_view(view.params(), catalog) == view
    for bad in ("nan", "inf", "101", "big"):
        rejected = parse_view({"release": "tiny", "strength": bad}, catalog)
        assert rejected.strength is None and "steering strength" in rejected.warnings[0]


def test_unknown_parameters_are_named_and_long_names_are_aliases() -> None:
    view = parse_view({"release": "tiny", "meta": "3", "stitch_threshold": "0.8", "colur": "density"}, load_catalog())
    assert (view.meta_latent, view.stitch_threshold) == (3, 0.8)
    assert len(view.warnings) == 1 and "'colur'" in view.warnings[0] and "colour" in view.warnings[0]
    assert parse_view({"m": "5", "meta": "3"}, load_catalog()).meta_latent == 5, "the short name wins"


def test_the_canonical_tables_sort_round_trips() -> None:
    catalog = load_catalog()
    view = parse_view({"release": "tiny", "sort": "seed_cosine", "asc": "1"}, catalog)
    assert (view.sort, view.ascending) == ("seed_cosine", True)
    assert view.params()["asc"] == "1" and parse_view(view.params(), catalog) == view
    assert "asc" not in parse_view({"release": "tiny", "sort": "seed_cosine"}, catalog).params()


def test_the_canonical_tables_filters_round_trip_capped() -> None:
    catalog = load_catalog()
    view = parse_view({"release": "tiny", "only": "novel, not seed_shared,novel"}, catalog)
    assert view.only == ("novel", "not seed_shared") and view.params()["only"] == "novel,not seed_shared"
    assert parse_view(view.params(), catalog) == view
    many = parse_view({"release": "tiny", "only": ",".join(f"f{i}" for i in range(20))}, catalog)
    assert len(many.only) == 12 and "first 12 of 20" in many.warnings[0]

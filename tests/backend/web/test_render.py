from backend.web.render import continuation_html, highlighted_tokens


def test_tokens_are_escaped() -> None:
    html = highlighted_tokens(["<img src=x onerror=alert(1)>", '"q"'], [1.0, 0.5], 1.0, focus=0)
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'title="&#x27;&lt;img' in html


def test_shading_follows_activation_and_the_focus_is_marked() -> None:
    html = highlighted_tokens(["a", "b", "c"], [2.0, 0.0, 1.0], 2.0, focus=2)
    spans = html.split("<span")[1:]
    assert 'style="--a:1.00;"' in spans[0]
    assert "style=" not in spans[1], "a silent token carries no shade"
    assert 'class="tok focus" style="--a:0.50;"' in spans[2]


def test_the_stylesheet_draws_the_shade_and_the_focus() -> None:
    from pages.sections.widgets import CSS

    assert "var(--a" in CSS and ".tok.focus" in CSS


def test_continuations_are_escaped_and_keep_line_breaks() -> None:
    out = continuation_html("<b>hi</b>", " a\n<script>")
    assert "<script>" not in out and "&lt;script&gt;" in out and "<br>" in out
    assert '<span class="prompt">&lt;b&gt;hi&lt;/b&gt;</span>' in out


def test_server_folders_are_named_not_spelled_out(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from backend.core.config import PROJECT_ROOT
    from backend.web.render import hide_paths, md

    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ATLAS_ALLOWED_ROOTS", str(tmp_path / "shared"))
    said = f"{tmp_path}/data/releases/r/cfg.json; {tmp_path}/shared/x; {PROJECT_ROOT}/app.py; {Path.home()}/.ssh"
    assert hide_paths(said) == "‹data›/releases/r/cfg.json; ‹shared›/x; ‹app›/app.py; ~/.ssh"
    assert str(tmp_path) not in md(said, 1000) and "‹data›" in md(said, 1000)
    assert hide_paths("no path here") == "no path here"


def test_a_code_span_shows_as_code_and_everything_around_it_stays_inert() -> None:
    from backend.web.render import md

    shown = md("Rebuild it with `python -m backend build`; see ![x](https://e.com/a.png)")
    assert "`python -m backend build`" in shown
    assert "\\!\\[x\\]\\(" in shown and "https://" not in shown
    assert md("`a` and `b") == "`a` and \\`b", "an unmatched backtick is escaped"

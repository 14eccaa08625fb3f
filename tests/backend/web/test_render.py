from backend.web.render import highlighted_tokens


def test_tokens_are_escaped() -> None:
    html = highlighted_tokens(["<img src=x onerror=alert(1)>", '"q"'], [1.0, 0.5], 1.0, focus=0)
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'title="&#x27;&lt;img' in html


def test_shading_follows_activation() -> None:
    html = highlighted_tokens(["a", "b"], [2.0, 0.0], 2.0)
    assert "rgba(255, 140, 0, 1.00)" in html and "rgba(255, 140, 0, 0.00)" in html

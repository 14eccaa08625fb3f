"""The scripts Streamlit runs draw nothing by accident: its "magic" renders any bare expression statement."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "app.py", *(ROOT / "pages" / "views" / f"{name}.py" for name in
           ("overview", "latent", "meta", "search", "stitching", "map", "polysemy"))]  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_bare_expression_after_the_docstring(script: Path) -> None:
    body = ast.parse(script.read_text()).body
    bare = [node.lineno for node in body[1:] if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)]
    assert not bare, f"{script.name}: bare strings or constants at lines {bare} would be drawn on the page"


def test_the_server_listens_on_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
    assert spec is not None and spec.loader is not None
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    assert serve.with_address(["--server.port", "8502"]) == ["--server.port", "8502", "--server.address", "127.0.0.1"]
    assert serve.with_address(["--server.address", "0.0.0.0"]) == ["--server.address", "0.0.0.0"]
    assert serve.with_address(["--server.address=::"]) == ["--server.address=::"]
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    assert serve.with_address([]) == []

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

"""Every module, file or name the documentation points at exists: the README, BENCHMARKS, SECURITY, the catalog and
every docstring and comment of the code name `backend/...` paths and dotted module names that a reader follows."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "BENCHMARKS.md", "SECURITY.md", "assets/catalog.toml"]
CODE = ["app.py", "backend", "pages", "scripts", "benchmarks", "tests"]
PATH = re.compile(r"(?<![\w./-])((?:backend|pages|scripts|benchmarks|tests|assets)/[\w./*-]*[\w*])")
DOTTED = re.compile(r"(?<![\w./])(backend(?:\.\w+)+)")


def _texts() -> dict[str, str]:
    files = [ROOT / name for name in DOCS]
    for top in CODE:
        path = ROOT / top
        files += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".py", ".sh", ".md"))
    return {str(f.relative_to(ROOT)): f.read_text(encoding="utf-8") for f in files}


def _resolves(dotted: str) -> bool:
    """A module, or a module's attribute (a class, a function, a constant, or an attribute of those)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def _references() -> list[tuple[str, str]]:
    found = []
    for where, text in _texts().items():
        found += [(where, m.rstrip(".")) for m in PATH.findall(text)]
        found += [(where, m.rstrip(".")) for m in DOTTED.findall(text)]
    return sorted(set(found))


def test_the_documentation_names_references_at_all() -> None:
    refs = _references()
    assert len(refs) > 50 and any(ref == "backend/core/artifacts.py" for _, ref in refs)


@pytest.mark.parametrize(("where", "ref"), _references())
def test_a_named_path_or_module_exists(where: str, ref: str) -> None:
    if "/" in ref:
        path = ROOT / ref.split("::")[0]
        assert path.exists() or any(ROOT.glob(ref)), f"{where} names {ref}, which does not exist"
    else:
        assert _resolves(ref), f"{where} names {ref}, which is not a module or name of the project"

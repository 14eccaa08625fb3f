"""Ray is an optional extra: the app, every backend module outside backend.cluster and the pages it draws
run without importing it (import-linter checks the imports on paper; this checks them running). Nor do they
import transformers before a page loads a language model: it takes seconds, which a fresh server's first view
would pay for nothing."""

import json
import subprocess
import sys
from pathlib import Path

from pages.specs import PAGE_SPECS

ROOT = Path(__file__).resolve().parents[2]
LOADS_A_MODEL = {"pages/views/meta.py"}
"""Pages whose first draw loads the language model (the meta-latent's logit lens reads its unembedding): drawn last."""
PAGES = tuple(sorted((spec.script for spec in PAGE_SPECS), key=lambda script: script in LOADS_A_MODEL))
PROGRAM = """
import importlib, json, pkgutil, sys
import backend
from streamlit.testing.v1 import AppTest

for module in pkgutil.walk_packages(backend.__path__, "backend."):
    if not module.name.startswith("backend.cluster"):
        importlib.import_module(module.name)
imported = {}
for page in [None, *PAGES]:
    at = AppTest.from_file("app.py", default_timeout=180)
    at.query_params["release"] = RELEASE
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, (page, [e.message for e in at.exception])
    imported[str(page)] = sorted({name.split(".")[0] for name in sys.modules} & {"ray", "transformers"})
print(json.dumps(imported))
"""


def test_the_app_and_the_backend_run_without_importing_ray_or_transformers(tiny_release: str) -> None:
    program = PROGRAM.replace("PAGES", repr(PAGES)).replace("RELEASE", repr(tiny_release))
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == {page: ["transformers"] if page in LOADS_A_MODEL else [] for page in ["None", *PAGES]}, (
        "a page imported ray, or transformers before any page loaded a model"
    )

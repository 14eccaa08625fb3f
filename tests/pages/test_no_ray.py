"""Ray is an optional extra: the app, every backend module outside backend.cluster and the pages it draws
run without importing it (import-linter checks the imports on paper; this checks them running)."""

import json
import subprocess
import sys
from pathlib import Path

from pages.specs import PAGE_SPECS

ROOT = Path(__file__).resolve().parents[2]
PAGES = tuple(spec.script for spec in PAGE_SPECS)
PROGRAM = """
import importlib, json, pkgutil, sys
import backend
from streamlit.testing.v1 import AppTest

for module in pkgutil.walk_packages(backend.__path__, "backend."):
    if not module.name.startswith("backend.cluster"):
        importlib.import_module(module.name)
for page in [None, *PAGES]:
    at = AppTest.from_file("app.py", default_timeout=180)
    at.query_params["release"] = RELEASE
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, (page, [e.message for e in at.exception])
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] == "ray")))
"""


def test_the_app_and_the_backend_run_without_importing_ray(tiny_release: str) -> None:
    program = PROGRAM.replace("PAGES", repr(PAGES)).replace("RELEASE", repr(tiny_release))
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []

#!/usr/bin/env bash
# Install (with test tools), then lint, format-check, type-check and run every test.
#   scripts/test.sh           everything (CI runs this)
#   scripts/test.sh --fast    the fast tier: lint and the tests that need no real model and no browser (~2 min)
set -euo pipefail
cd "$(dirname "$0")/.."
tier=full
if [ "${1:-}" = "--fast" ]; then tier=fast; shift; fi
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# One worker per core (pytest-xdist), a test file per worker at a time: a file's fixtures are built once.
pytest=(.venv/bin/python -m pytest -q -n auto --dist loadfile)
if [ "$tier" = fast ]; then
  exec "${pytest[@]}" -m "not slow and not browser" "$@"
fi
.venv/bin/mypy backend app.py pages benchmarks
.venv/bin/lint-imports
"${pytest[@]}" "$@"

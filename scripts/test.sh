#!/usr/bin/env bash
# Install (with test tools), then lint, format-check, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy backend app.py pages benchmarks
.venv/bin/lint-imports
# One worker per core (pytest-xdist), a test file per worker at a time: a file's fixtures are built once.
.venv/bin/python -m pytest -q -n auto --dist loadfile "$@"

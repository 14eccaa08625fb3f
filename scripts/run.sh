#!/usr/bin/env bash
# Install, build the embedded default up to its first SAE and index (with progress; resumes if
# interrupted), start building the rest in the background (progress on the overview page), then
# start the dashboard on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m backend build --until usable
.venv/bin/python -m backend build --background
exec .venv/bin/python scripts/serve.py "$@"

#!/usr/bin/env bash
# Install, build the embedded default if it is missing (with progress; resumes if interrupted),
# then start the dashboard on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m backend build
exec .venv/bin/python scripts/serve.py "$@"

#!/usr/bin/env bash
# Install everything SAE Atlas needs on a fresh Debian machine, into ./.venv. Idempotent.
#   scripts/setup.sh          the app and its build
#   scripts/setup.sh --dev    plus the test tools and the browser for end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."
dev=${1:-}
sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi

apt_packages=$(grep -v '^#' packages.txt | tr '\n' ' ')
if [ "$dev" = "--dev" ]; then apt_packages="$apt_packages chromium nginx-light"; fi
missing=""
for pkg in $apt_packages; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  echo "Installing Debian packages:$missing"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip=".venv/bin/python -m pip --disable-pip-version-check -q"
# torch first, pinned, so that nothing pulls a CUDA build.
$pip install "$(grep '^torch==' requirements.txt)"
# The exact lock (scripts/lock.sh), whole, so nothing is resolved here; its first line names PyTorch's CPU index
# for deployments, which this machine does not reach (its torch came from its wheel folder above).
lock=requirements.txt
if [ "$dev" = "--dev" ]; then lock=requirements-dev.txt; fi
grep -v '^--extra-index-url' "$lock" > .venv/lock.txt
$pip install --no-deps -r .venv/lock.txt
# The project itself, editable: the `sae-atlas` command in .venv/bin.
$pip install --no-deps --no-build-isolation -e .

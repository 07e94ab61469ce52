#!/usr/bin/env bash
# The README's "main job": installs what the project needs from its own files, then runs
# `outreach demo` (the seed campaign end to end on embedded defaults: no server to install).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  bash scripts/install-system-deps.sh
else
  echo "note: not root or no apt-get: install fonts-noto-cjk, libicu-dev, pkg-config and Pango" \
       "yourself (see scripts/install-system-deps.sh)" >&2
fi
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .
exec .venv/bin/outreach demo "$@"

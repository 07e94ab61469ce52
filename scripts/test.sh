#!/usr/bin/env bash
# The README's test command: installs what the project needs from its own files, starts the
# services, then runs ruff, mypy, the docker-compose check and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/services.sh
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
echo "== ruff";  .venv/bin/ruff check worker tests bench scripts
echo "== mypy";  .venv/bin/mypy
echo "== import layers"; .venv/bin/lint-imports
if [ -f scripts/check-compose.py ]; then echo "== docker-compose.yml"; .venv/bin/python scripts/check-compose.py; fi
echo "== pytest"
set +e
# Two pytest workers: most slow tests wait on worker processes and mail servers, so two run
# side by side in about the time of one. Each worker starts its own Redis and databases.
.venv/bin/pytest -n "${OUTREACH_TEST_WORKERS:-2}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$status"

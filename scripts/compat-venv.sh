#!/usr/bin/env bash
# Build .venv-mlflow-VERSION: the package and its test tools on another MLflow release, by the
# same bootstrap as the main .venv with MLflow's pins swapped. Prints the venv's path last.
#   bash scripts/compat-venv.sh 3.16.1
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: scripts/compat-venv.sh MLFLOW_VERSION}"
VENV=".venv-mlflow-$version" MLFLOW_VERSION="$version" bash scripts/bootstrap.sh --tests >&2
echo ".venv-mlflow-$version"

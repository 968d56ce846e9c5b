#!/usr/bin/env bash
# MLflow server on http://localhost:5000 backed by DynamoDB Local; data kept in ./mlflow-dynamodb-data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/mlflow-dynamodbstore local --data-dir "${DATA_DIR:-mlflow-dynamodb-data}" --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}" "$@"

#!/usr/bin/env bash
# The MLflow version matrix: a meaningful subset of the suite on other MLflow releases, each in
# its own .venv-mlflow-VERSION built by scripts/compat-venv.sh. The main suite (scripts/test.sh)
# covers the release pinned in constraints.txt; this covers the oldest release pyproject.toml
# admits (and any release given):
#   bash scripts/test-compat.sh              # the oldest supported release
#   bash scripts/test-compat.sh 3.16.1 3.18.0
# The subset: unit tests, the differential suites (tracking, registry, traces, datasets,
# labeling; auth and the job backend need MLflow 3.17 and refuse before it, which
# tests/unit/test_compat.py checks) and smoke tests through a real `mlflow server`.
set -euo pipefail
cd "$(dirname "$0")/.."
OLDEST_TESTED=3.15.2  # the newest patch of pyproject's floor (compat.OLDEST_SUPPORTED)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("$OLDEST_TESTED")
SUBSET=(
  tests/unit
  tests/differential tests/differential_registry tests/differential_traces
  tests/differential_datasets tests/differential_labeling
  tests/integration/test_server_http.py tests/integration/test_fluent_http.py
  tests/integration/test_traces_server.py tests/integration/test_registry_server_http.py
)
status=0
for version in "${versions[@]}"; do
  venv=$(bash scripts/compat-venv.sh "$version")
  echo "test-compat: MLflow $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"
  "$venv/bin/python" -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadfile -q -p no:cacheprovider \
    "${SUBSET[@]}" || status=$?
done
exit $status

"""Test helpers for the MLflow version matrix (scripts/test-compat.sh).

A test that needs a feature or a fix an older supported MLflow release lacks is skipped
there with ``requires_mlflow("3.17", "what is missing")``; the reason names both releases.
"""

from __future__ import annotations

import pytest

from mlflow_dynamodbstore.compat import MLFLOW_VERSION, mlflow_at_least


def requires_mlflow(release: str, why: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not mlflow_at_least(release), reason=f"needs MLflow {release}+ ({why}); {MLFLOW_VERSION}"
    )


def skip_before(release: str, why: str) -> None:
    """The imperative form, for one case of a parametrized test."""
    if not mlflow_at_least(release):
        pytest.skip(f"needs MLflow {release}+ ({why}); this is {MLFLOW_VERSION}")


#: Why the SQL reference of MLflow before 3.17 cannot judge NaN metric comparisons.
SQL_NAN_AS_ZERO = "before it, SqlAlchemyStore compares a NaN metric as its stored 0"

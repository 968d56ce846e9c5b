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


_BAD_ID = "before it SqlAlchemyStore failed on a non-integer experiment id with INTERNAL_ERROR"
_FLOAT = "before it SqlAlchemyStore compared a float literal for an integer attribute as text"

#: Tests (by the end of their node id) whose SQL reference answered differently before an MLflow
#: release; the store keeps the newer behaviour. For the suites without a scenario option.
REFERENCE_SINCE_BY_TEST: dict[str, tuple[str, str]] = {
    "test_search[mv_bad_filters]": ("3.17", _FLOAT),
    "test_model_versions[alias_latest]": (
        "3.17",
        "before it SqlAlchemyStore's 'latest' alias took the first stage's latest version",
    ),
    "test_model_versions[delete_version_bad_input]": (
        "3.17",
        "before it SqlAlchemyStore checked the name before the version",
    ),
    "test_same_outcome_as_sqlalchemy_store[bad_filters]": ("3.17", _FLOAT),
    "test_same_outcome_as_sqlalchemy_store[issues/bad_input]": ("3.17", _BAD_ID),
}


def mark_reference_differences(items: list[pytest.Item]) -> None:
    """Skip, before their release, the tests listed in REFERENCE_SINCE_BY_TEST."""
    for item in items:
        for suffix, (release, why) in REFERENCE_SINCE_BY_TEST.items():
            if item.nodeid.endswith(suffix) and "differential" in item.nodeid:
                item.add_marker(requires_mlflow(release, why))

"""Every evaluation dataset scenario against SqlAlchemyStore (SQLite) and
DynamoDBTrackingStore: the normalised outcomes must be equal (results, ordering, counts,
error codes and messages)."""

from __future__ import annotations

import difflib
import json

import pytest

from tests.differential_datasets import (  # noqa: F401  (registers the scenarios)
    scenarios_big_records,
    scenarios_datasets,
    scenarios_records,
    scenarios_search,
    scenarios_workspaces,
)
from tests.differential_datasets.registry import SCENARIOS, DatasetScenario, outcome


def _pretty(value) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True, default=repr).splitlines()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_outcome_as_sqlalchemy_store(scenario: DatasetScenario, artifact_root, request):
    prefix = "ws_" if scenario.workspaces else ""
    sql_store = request.getfixturevalue(f"{prefix}sql_store")
    dynamo_store = request.getfixturevalue(f"{prefix}dynamo_store")
    expected = outcome(scenario, sql_store, [artifact_root], reference=True)
    actual = outcome(scenario, dynamo_store, [artifact_root], reference=False)
    if actual != expected:
        diff = difflib.unified_diff(
            _pretty(expected), _pretty(actual), "SqlAlchemyStore", "DynamoDBTrackingStore", n=4
        )
        pytest.fail("outcomes differ:\n" + "\n".join(diff), pytrace=False)

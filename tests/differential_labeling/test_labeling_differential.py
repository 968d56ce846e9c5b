"""Every labeling and issue scenario against SqlAlchemyStore (SQLite) and
DynamoDBTrackingStore: the normalised outcomes must be equal (results, ordering, paging,
error codes and messages)."""

from __future__ import annotations

import difflib
import json

import pytest

from tests.differential_labeling import (  # noqa: F401  (registers the scenarios)
    scenarios_issues,
    scenarios_label_schemas,
    scenarios_review_queues,
    scenarios_workspaces,
)
from tests.differential_labeling.registry import SCENARIOS, LabelingScenario, outcome


def _pretty(value) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True, default=repr).splitlines()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_outcome_as_sqlalchemy_store(scenario: LabelingScenario, artifact_root, request):
    prefix = "ws_" if scenario.workspaces else ""
    sql_store = request.getfixturevalue(f"{prefix}sql_store")
    dynamo_store = request.getfixturevalue(f"{prefix}dynamo_store")
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    if actual != expected:
        diff = difflib.unified_diff(
            _pretty(expected), _pretty(actual), "SqlAlchemyStore", "DynamoDBTrackingStore", n=4
        )
        pytest.fail("outcomes differ:\n" + "\n".join(diff), pytrace=False)

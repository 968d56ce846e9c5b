"""Every trace scenario against SqlAlchemyStore (SQLite) and DynamoDBTrackingStore: the
normalised outcomes must be equal (results, ordering, error codes and messages)."""

from __future__ import annotations

import pytest

from tests.differential_traces import (  # noqa: F401  (registers the scenarios)
    scenarios_assessments,
    scenarios_search,
    scenarios_spans,
    scenarios_tags_delete,
)
from tests.differential_traces.registry import SCENARIOS, TraceScenario, outcome


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_outcome_as_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root
):
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    assert actual == expected

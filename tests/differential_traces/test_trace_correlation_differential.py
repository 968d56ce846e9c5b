"""calculate_trace_filter_correlation against SqlAlchemyStore (SQLite) and
DynamoDBTrackingStore: the normalised outcomes (counts, NPMI, error codes and messages)
must be equal."""

from __future__ import annotations

import pytest

from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_correlation import CORRELATION_SCENARIOS


@pytest.mark.parametrize(
    "scenario", CORRELATION_SCENARIOS, ids=[s.name for s in CORRELATION_SCENARIOS]
)
def test_same_correlation_as_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root
):
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    assert actual == expected

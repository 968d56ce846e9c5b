"""query_trace_metrics against SqlAlchemyStore (SQLite) and DynamoDBTrackingStore: the
normalised outcomes must be equal (data points, their order, error codes and messages)."""

from __future__ import annotations

import pytest

from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_metrics import METRIC_SCENARIOS


@pytest.mark.parametrize("scenario", METRIC_SCENARIOS, ids=[s.name for s in METRIC_SCENARIOS])
def test_same_metrics_as_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root
):
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    assert actual == expected

"""query_trace_metrics against SqlAlchemyStore (SQLite) and DynamoDBTrackingStore: the
normalised outcomes must be equal (data points, their order, error codes and messages).

The TRACES view's PERCENTILE, MIN and MAX of latency and token counts come from the rollup
cells' value sketches where the cells answer the query: within 1 % of SQL's, by design
(docs/trace-analytics.md, "Percentiles, MIN and MAX from cells"). The scenarios that ask
them compare those values within that bound, everything else exactly."""

from __future__ import annotations

from typing import Any

import pytest

from mlflow_dynamodbstore.repositories.traces.value_sketch import RELATIVE_ACCURACY
from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_metrics import METRIC_SCENARIOS

# Scenarios with unfiltered (or status / name filtered) TRACES percentiles over whole hours.
SKETCHED_SCENARIOS = {"traces_latency", "traces_filters", "traces_follow_updates_and_deletes"}


def _sketched_key(key: str) -> bool:
    return key in ("MIN", "MAX") or (key[:1] == "P" and key[1:2].isdigit())


def _close(actual: Any, expected: Any, path: str = "") -> None:
    """``actual == expected``, but for the sketched values of data points: within the bound
    (same type)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            if key == "values" and "metric" in expected:
                _close_values(actual[key], expected[key], path)
            else:
                _close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _close(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, path


def _close_values(actual: dict, expected: dict, path: str) -> None:
    assert actual.keys() == expected.keys(), path
    for key, value in expected.items():
        mine = actual[key]
        if _sketched_key(key) and isinstance(value, int | float) and mine != value:
            assert type(mine) is type(value), (path, key, mine, value)
            assert abs(mine - value) <= RELATIVE_ACCURACY * abs(value), (path, key, mine, value)
        else:
            assert mine == value, (path, key, mine, value)


@pytest.mark.parametrize("scenario", METRIC_SCENARIOS, ids=[s.name for s in METRIC_SCENARIOS])
def test_same_metrics_as_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root
):
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    if scenario.name in SKETCHED_SCENARIOS:
        _close(actual, expected)
    else:
        assert actual == expected

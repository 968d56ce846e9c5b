"""The span cost charts the cost cells answer, against SqlAlchemyStore (SQLite): the same data
points, after deletions, retried and re-logged spans, spans in later batches and hours
(docs/trace-analytics.md, "Span cost per model from cells").

``_dyadic`` scenarios (every float addition exact) are compared bit for bit; the others to 12
significant digits: SQLite rounds at each addition, the cells sum exactly and round once."""

from __future__ import annotations

from typing import Any

import pytest

from mlflow_dynamodbstore.search.trace_metrics.cost_rollups import CostRollupQuery
from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_cost_rollups import COST_ROLLUP_SCENARIOS


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


@pytest.mark.parametrize(
    "scenario", COST_ROLLUP_SCENARIOS, ids=[s.name for s in COST_ROLLUP_SCENARIOS]
)
def test_cost_rollup_answers_equal_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root, monkeypatch
):
    expected = outcome(scenario, sql_store, [artifact_root])
    answered: list[bool] = []
    run = CostRollupQuery.run

    def counted(self, *args, **kwargs):
        points = run(self, *args, **kwargs)
        answered.append(points is not None)
        return points

    monkeypatch.setattr(CostRollupQuery, "run", counted)
    actual = outcome(scenario, dynamo_store, [artifact_root])
    if scenario.name.endswith("_dyadic"):
        assert actual == expected
    else:
        assert _rounded(actual) == _rounded(expected)
    # The cells answered most charts (the rest: a range without a whole hour, a range over a
    # trace whose costs are not summed, bad input).
    assert sum(answered) >= 10, answered

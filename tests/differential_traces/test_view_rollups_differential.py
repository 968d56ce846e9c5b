"""The queries the SPANS and ASSESSMENTS view cells answer, against SqlAlchemyStore (SQLite):
the same data points, after deletions, retried and re-logged spans, assessment overrides,
updates and deletions (docs/trace-analytics.md, "Rollups of the SPANS and ASSESSMENTS
views")."""

from __future__ import annotations

import pytest

from mlflow_dynamodbstore.search.trace_metrics.view_rollups import ViewRollupQuery
from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_view_rollups import VIEW_ROLLUP_SCENARIOS


@pytest.mark.parametrize(
    "scenario", VIEW_ROLLUP_SCENARIOS, ids=[s.name for s in VIEW_ROLLUP_SCENARIOS]
)
def test_view_rollup_answers_equal_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root, monkeypatch
):
    expected = outcome(scenario, sql_store, [artifact_root])
    answered: list[bool] = []
    run = ViewRollupQuery.run

    def counted(self, *args, **kwargs):
        points = run(self, *args, **kwargs)
        answered.append(points is not None)
        return points

    monkeypatch.setattr(ViewRollupQuery, "run", counted)
    actual = outcome(scenario, dynamo_store, [artifact_root])
    assert actual == expected
    # The cells answered most of the charts (the rest: ranges without a whole hour, or a
    # group holding a non-integer value).
    assert sum(answered) >= 10, answered

"""The queries the SPANS and ASSESSMENTS view cells answer, against SqlAlchemyStore (SQLite):
the same data points, after deletions, retried and re-logged spans, assessment overrides,
updates and deletions (docs/trace-analytics.md, "Rollups of the SPANS and ASSESSMENTS
views")."""

from __future__ import annotations

import pytest

from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_view_rollups import VIEW_ROLLUP_SCENARIOS


@pytest.mark.parametrize(
    "scenario", VIEW_ROLLUP_SCENARIOS, ids=[s.name for s in VIEW_ROLLUP_SCENARIOS]
)
def test_view_rollup_answers_equal_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root
):
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    assert actual == expected

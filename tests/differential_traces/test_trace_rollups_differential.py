"""The queries the rollup cells answer, against SqlAlchemyStore (SQLite): the same data
points, after deletions and retried writes (docs/trace-analytics.md, "Rollups")."""

from __future__ import annotations

import pytest

from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_rollups import ROLLUP_SCENARIOS


@pytest.mark.parametrize("scenario", ROLLUP_SCENARIOS, ids=[s.name for s in ROLLUP_SCENARIOS])
def test_rollup_answers_equal_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root
):
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    assert actual == expected

"""search_traces paged through every order, with ties, across experiments: the same pages as
SqlAlchemyStore (SQLite) on DynamoDBTrackingStore (scenarios_paging.py)."""

from __future__ import annotations

import pytest

from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_paging import PAGING_SCENARIOS

SCENARIOS = [TraceScenario(fn.__name__, fn) for fn in PAGING_SCENARIOS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_pages_as_sqlalchemy_store(
    scenario: TraceScenario, sql_store, dynamo_store, artifact_root
):
    expected = outcome(scenario, sql_store, [artifact_root])
    actual = outcome(scenario, dynamo_store, [artifact_root])
    assert actual == expected

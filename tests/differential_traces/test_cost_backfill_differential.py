"""The span cost charts after ``traces backfill-stats`` rebuilt the cost records of traces
stored before span cost facts existed, against SqlAlchemyStore (SQLite) given the same
traces: the same data points, answered from the cells (repositories/traces/cost_records.py).

On our store the scenario's traces are first left as an older version left them (META
without cost facts, stats items without the cost summary or marked "not summed", no cost
cells), then the backfill runs; SqlAlchemyStore just answers. Dyadic costs: compared bit for
bit (see test_cost_rollups_differential.py)."""

from __future__ import annotations

from mlflow_dynamodbstore.backfills.trace_stats import backfill_trace_stats
from mlflow_dynamodbstore.search.trace_metrics.cost_rollups import CostRollupQuery
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_cost_rollups import (
    UNALIGNED,
    all_ranges,
    corpus,
    dyadic_costs,
    overview,
)
from tests.integration.test_cost_backfill import _to_pre_change

TRACES = [*range(1, 31), *range(40, 44)]


def cost_backfill_of_older_traces_dyadic(store):
    e1, e2 = corpus(store, dyadic_costs)
    if isinstance(store, DynamoDBTrackingStore):
        _to_pre_change(store, e1, range(1, 31), marked=set(range(1, 31, 2)))
        _to_pre_change(store, e2, range(40, 44), marked={41})
        report = backfill_trace_stats(store.gateway.unscoped)
        assert report.cost_records == len(TRACES)
    return {**all_ranges(store, [e1]), "two": overview(store, [e1, e2], UNALIGNED)}


SCENARIO = TraceScenario(cost_backfill_of_older_traces_dyadic.__name__,
                         cost_backfill_of_older_traces_dyadic)  # fmt: skip


def test_backfilled_cost_charts_equal_sqlalchemy_store(
    sql_store, dynamo_store, artifact_root, monkeypatch
):
    expected = outcome(SCENARIO, sql_store, [artifact_root])
    answered: list[bool] = []
    run = CostRollupQuery.run

    def counted(self, *args, **kwargs):
        points = run(self, *args, **kwargs)
        answered.append(points is not None)
        return points

    monkeypatch.setattr(CostRollupQuery, "run", counted)
    actual = outcome(SCENARIO, dynamo_store, [artifact_root])
    assert actual == expected
    # Every chart whose range holds a whole hour came from the cells ("narrow" holds none).
    assert answered and sum(answered) >= 10, answered

"""``traces backfill-stats`` builds the cost record of traces whose spans were stored before
span cost facts existed (repositories/traces/cost_records.py): afterwards the cost charts are
answered from the cells (the exact path made to fail) and equal the exact path's answers;
interrupted and rerun, rerun again, raced by a log_spans, archived traces left "not summed"
(docs/trace-analytics.md, "Span cost per model from cells")."""

from __future__ import annotations

import os

import pytest
from mlflow.entities import SpanType
from mlflow.tracing.constant import SpanAttributeKey, SpansLocation, TraceTagKey

from mlflow_dynamodbstore.backfills import trace_stats as backfill_module
from mlflow_dynamodbstore.backfills.trace_stats import backfill_trace_stats
from mlflow_dynamodbstore.repositories.traces import (
    cost_records,
    cost_rollups,
    rollups,
    span_costs,
    view_rollups,
)
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.stats import stats_item
from mlflow_dynamodbstore.schema import analytics_keys, keys
from mlflow_dynamodbstore.search.trace_metrics.cost_rollups import CostRollupQuery
from mlflow_dynamodbstore.search.trace_metrics.query import TraceMetricsQuery
from tests.differential_traces.builders import span, tid
from tests.integration.test_cost_rollups import (
    DAY,
    HOUR,
    MODELS,
    SPANS,
    SUM,
    WINDOW,
    _cells,
    _charts,
    _exact,
    _log,
)


@pytest.fixture
def store(store_uri, tmp_path):
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


EDGED = {"start_time_ms": WINDOW["start_time_ms"] + 5 * HOUR + 11,
         "end_time_ms": WINDOW["start_time_ms"] + 2 * DAY + 3}  # fmt: skip


def _log_big(store, exp: str, n: int, at_ms: int) -> None:
    """A trace whose costed span is stored in chunks (its content > 300 KB compressed)."""
    model, provider = MODELS[n % 3]
    llm = {
        "mlflow.spanType": SpanType.LLM,
        SpanAttributeKey.LLM_COST: {"input_cost": 0.5, "output_cost": 0.25, "total_cost": 0.75},
        SpanAttributeKey.MODEL: model,
        SpanAttributeKey.MODEL_PROVIDER: provider,
        SpanAttributeKey.INPUTS: os.urandom(350_000).hex(),
    }
    store.log_spans(
        exp,
        [
            span(n, 1, None, "agent", at_ms, at_ms + 100),
            span(n, 2, 1, "llm", at_ms + 1, at_ms + 50, llm),
        ],
    )


def _to_pre_change(store, exp: str, trace_numbers, *, marked: set[int] = frozenset()) -> None:
    """Leave the traces as a version before cost facts did: META without ``span_costs``, its
    stats item without the cost summary, no cost cells. Those in ``marked`` then get the
    older backfill's conditional put (this version's): their stats items are marked "not
    summed" and count 1 in their hour's "?" cell."""
    gateway = store.gateway.unscoped
    gateway.batch_write(deletes=[{"PK": c["PK"], "SK": c["SK"]} for c in _cells(gateway, exp)])
    for n in trace_numbers:
        meta = store.traces.get(tid(n))
        meta.pop(span_costs.COSTS)
        gateway.put_item(meta)
        old = stats_item(meta)
        old.pop(cost_rollups.SUMMARY)
        old[rollups.MARKER] = rollups.contribution(old).marker
        old.update(view_rollups.markers(old))
        gateway.put_item(old)
    for n in marked:
        assert store.traces.stats.put(store.traces.get(tid(n))) is True
        stored = gateway.get_item(analytics_keys.trace_stats_key(tid(n)))
        assert stored[cost_rollups.SUMMARY] == "null" and cost_rollups.MARKER in stored


def _answered_from_cells(store, monkeypatch, experiments, **window) -> dict:
    """The charts, with the exact span path made to fail and each cost query checked to be
    answered by the cells."""

    def fail(*args, **kwargs):
        raise AssertionError("the exact path was used")

    run = CostRollupQuery.run

    def answered(self, *args, **kwargs):
        points = run(self, *args, **kwargs)
        assert points is not None, "the cells did not answer"
        return points

    with monkeypatch.context() as m:
        m.setattr(TraceMetricsQuery, "_span_rows", fail)
        m.setattr(CostRollupQuery, "run", answered)
        return _charts(store, experiments, **window)


def _cell_state(store, exp: str) -> list[tuple]:
    cells = _cells(store.gateway.unscoped, exp)
    return sorted(tuple(sorted((k, str(v)) for k, v in c.items())) for c in cells)


def test_backfill_builds_cost_records_and_the_cells_answer(store, monkeypatch):
    exp = store.create_experiment("legacy")
    for n in range(1, 13):
        _log(store, exp, n, n * 3 * HOUR + 7 * n)
    _log_big(store, exp, 13, 13 * 3 * HOUR + 5)
    expected = _exact(store, monkeypatch, [exp], **WINDOW)
    expected_edged = _exact(store, monkeypatch, [exp], **EDGED)
    _to_pre_change(store, exp, range(1, 14), marked={2, 5, 13})
    # Before: a "not summed" trace sends the charts to the exact path.
    with pytest.raises(AssertionError, match="did not answer"):
        _answered_from_cells(store, monkeypatch, [exp], **WINDOW)

    # Interrupted after its first saved cursor (every 4 traces here), then rerun.
    monkeypatch.setattr(backfill_module, "SAVE_EVERY", 4)

    def interrupt(n: int) -> None:
        if n:  # (the Default experiment, empty, reports 0)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_trace_stats(store.gateway.unscoped, interrupt)
    cursor = store.gateway.unscoped.get_item(analytics_keys.trace_stats_backfill_key())
    assert cursor is not None and cursor.get("after")
    report = backfill_trace_stats(store.gateway.unscoped)
    assert report.traces == 13 - 4 and report.cost_records == 13 - 4

    for n in range(1, 14):
        meta = store.traces.get(tid(n))
        assert span_costs.known_facts(meta), n  # every trace has a costed span
        stored = store.gateway.unscoped.get_item(analytics_keys.trace_stats_key(tid(n)))
        assert stored["version"] == meta["version"]
        assert stored[cost_rollups.SUMMARY] != "null"
    assert _answered_from_cells(store, monkeypatch, [exp], **WINDOW) == expected
    assert _answered_from_cells(store, monkeypatch, [exp], **EDGED) == expected_edged
    assert not any(c["SK"].endswith("#?") and c.get("u") for c in _cells(store.gateway, exp))

    # A rerun changes nothing.
    before = _cell_state(store, exp)
    again = backfill_trace_stats(store.gateway.unscoped)
    assert (again.traces, again.written, again.cost_records) == (13, 0, 0)
    assert _cell_state(store, exp) == before


def test_cost_per_rebuilt_trace(store):
    """Per trace needing a record: 1 Query (partition, consistent), 1 PutItem (META), 1
    TransactWriteItems (stats item + cells); + 1 GetItem (the session backfill's read of the
    stats item, as for every trace)."""
    exp = store.create_experiment("cost")
    for n in range(1, 6):
        _log(store, exp, n, n * HOUR)
    _to_pre_change(store, exp, range(1, 6), marked={1, 2, 3, 4, 5})
    stats = store.gateway.unscoped.stats
    stats.reset()
    report = backfill_trace_stats(store.gateway.unscoped)
    assert report.cost_records == 5
    assert stats.requests("PutItem") == 5 + 2  # META each; the cursor (saved, experiment done)
    assert stats.requests("TransactWriteItems") == 5
    assert stats.requests("GetItem") == 1 + 5  # the cursor; each trace's session backfill
    first_queries = stats.requests("Query")
    stats.reset()
    assert backfill_trace_stats(store.gateway.unscoped).cost_records == 0  # rerun: nothing
    # The first run read the same listings as the rerun, plus each trace's partition.
    assert first_queries == stats.requests("Query") + 5
    # The rerun: the stats item of each trace is current (GetItem), nothing is written.
    assert stats.requests("TransactWriteItems") == stats.requests("PutItem") - 2 == 0


def test_a_log_spans_racing_the_rebuild_is_counted(store, monkeypatch):
    """A log_spans landing between the backfill's read of the spans and its META write: the
    write fails its version condition, META and spans are read again, both spans count."""
    exp = store.create_experiment("race")
    _log(store, exp, 1, HOUR)
    _to_pre_change(store, exp, [1], marked={1})
    read = TraceRepository.read_partition
    raced = []

    def racing(self, trace_id):
        found = read(self, trace_id)
        if not raced:
            raced.append(trace_id)
            llm = {
                "mlflow.spanType": SpanType.LLM,
                SpanAttributeKey.LLM_COST: {"input_cost": 2.0, "total_cost": 2.0},
                SpanAttributeKey.MODEL: "late",
                SpanAttributeKey.MODEL_PROVIDER: "openai",
            }
            store.log_spans(exp, [span(1, 3, 1, "late", HOUR + 60, HOUR + 90, llm)])
        return found

    monkeypatch.setattr(TraceRepository, "read_partition", racing)
    assert backfill_trace_stats(store.gateway.unscoped).cost_records == 1
    monkeypatch.undo()
    assert len(span_costs.known_facts(store.traces.get(tid(1)))) == 2
    expected = _exact(store, monkeypatch, [exp], **WINDOW)
    assert _answered_from_cells(store, monkeypatch, [exp], **WINDOW) == expected
    points = store.query_trace_metrics([exp], SPANS, "total_cost", SUM, **WINDOW)
    assert points[0].values == {"SUM": 3 / 16 + 2.0}


def test_archived_traces_stay_not_summed(store, monkeypatch):
    """An archived trace's span heads have lost their content (model name / provider): the
    backfill leaves it "not summed" and the charts meeting it take the exact path."""
    exp = store.create_experiment("archived")
    for n in (1, 2):
        _log(store, exp, n, n * HOUR)
    _to_pre_change(store, exp, [1, 2], marked={1, 2})
    gateway = store.gateway.unscoped
    meta = store.traces.get(tid(1))
    meta["tags"] = {**meta["tags"], TraceTagKey.SPANS_LOCATION: SpansLocation.ARCHIVE_REPO.value}
    gateway.put_item(meta)
    assert not cost_records.needs_record(meta)
    report = backfill_trace_stats(gateway)
    assert report.cost_records == 1
    assert span_costs.COSTS not in store.traces.get(tid(1))
    assert span_costs.known_facts(store.traces.get(tid(2)))
    with pytest.raises(AssertionError, match="did not answer"):
        _answered_from_cells(store, monkeypatch, [exp], **WINDOW)
    # Not summed: exactly one "?" count, the archived trace's.
    unknown = [c for c in _cells(gateway, exp) if c["SK"].endswith(f"{keys.SEP}?")]
    assert sum(int(c.get("u", 0)) for c in unknown) == 1


def test_cost_of_a_trace_whose_stats_item_predates_the_cost_summary(store):
    """Its stats item has no cost marker: the stats transaction believed from META is refused,
    the stats item read and the transaction made again (+ 1 GetItem, + 1 transaction)."""
    exp = store.create_experiment("older")
    _log(store, exp, 1, HOUR)
    _to_pre_change(store, exp, [1])
    stats = store.gateway.unscoped.stats
    stats.reset()
    assert backfill_trace_stats(store.gateway.unscoped).cost_records == 1
    assert stats.requests("TransactWriteItems") == 2
    assert stats.requests("GetItem") == 1 + 1 + 1  # cursor, stats item, session backfill
    assert stats.requests("PutItem") == 1 + 2
    assert _cells(store.gateway.unscoped, exp)

"""``session_count`` and ``find_completed_sessions`` from the session heads against
SqlAlchemyStore (SQLite): the same answers for sessions across hours and days, any bucket
width, ranges that cut a session or fall in its gap, after deletions of a session's first,
last and middle traces and retried writes (docs/trace-analytics.md, "Sessions").

On our store the exact path (every stats item of the range) is made to fail, so the
answers really come from the session items."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

from mlflow_dynamodbstore.repositories.traces import sessions
from mlflow_dynamodbstore.search.trace_metrics import traces_view
from tests.differential.harness import attempt
from tests.differential_traces.builders import BASE_MS, span, tid
from tests.differential_traces.registry import TraceScenario, outcome
from tests.differential_traces.scenarios_metrics import ask

MIN = 60 * 1000
HOUR = 60 * MIN
DAY = 24 * HOUR
COUNT = [MetricAggregation(AggregationType.COUNT)]
TRACES = MetricViewType.TRACES
# (trace number, session or None, ms after BASE_MS)
TRACES_OF = [
    (1, "a", 10 * MIN), (2, "a", 20 * MIN),
    (3, "b", 50 * MIN), (4, "b", 70 * MIN), (5, "b", 3 * HOUR),
    (6, "c", 1 * HOUR), (7, "c", 30 * HOUR), (8, "c", 60 * HOUR),
    (9, "d", 25 * HOUR),
    (10, "e", 2 * HOUR + 5), (11, "e", 2 * HOUR + 5), (12, "e", 26 * HOUR),
    (13, None, 5 * HOUR), (14, None, 27 * HOUR),
    (15, "f", 26 * HOUR),  # ties e's last trace: ordered by session id
]  # fmt: skip
OTHER = [(20, "a", 15 * MIN), (21, "z", 40 * HOUR)]
INTERVALS = (None, 60, 3600, 5400, 86400, 7 * 86400, 2592000)
RANGES: dict[str, dict[str, int]] = {
    "open": {},
    "aligned": {"start_time_ms": BASE_MS - BASE_MS % DAY, "end_time_ms": BASE_MS + 4 * DAY - 1},
    "unaligned": {"start_time_ms": BASE_MS + 15 * MIN, "end_time_ms": BASE_MS + 26 * HOUR + 3},
    "in_c_gap": {"start_time_ms": BASE_MS + 10 * HOUR, "end_time_ms": BASE_MS + 20 * HOUR},
    "open_start": {"end_time_ms": BASE_MS + 2 * HOUR + 5},
    "open_end": {"start_time_ms": BASE_MS + 26 * HOUR},
    "one_ms": {"start_time_ms": BASE_MS + 30 * HOUR, "end_time_ms": BASE_MS + 30 * HOUR},
}


def _log(store, exp: str, rows) -> None:
    for n, session, at in rows:
        attrs = {"session.id": session} if session else None
        store.log_spans(exp, [span(n, 1, None, f"r{n}", at, at + 5 + n, attrs)])


def _corpus(store) -> tuple[str, str]:
    e1, e2 = store.create_experiment("sessions"), store.create_experiment("sessions-2")
    _log(store, e1, TRACES_OF)
    _log(store, e2, OTHER)
    store.set_trace_tag(tid(3), "first", "yes")
    store.set_trace_tag(tid(11), "first", "yes")
    return e1, e2


def _counts(store, experiments: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, range_ in RANGES.items():
        for interval in INTERVALS:
            if interval and ("start_time_ms" not in range_ or "end_time_ms" not in range_):
                continue  # a bucket needs both ends (INVALID_PARAMETER_VALUE: checked once)
            kwargs = {"time_interval_seconds": interval} if interval else {}
            out[f"{name}/{interval}"] = ask(
                store, experiments, TRACES, "session_count", COUNT, **kwargs, **range_
            )
    out["limited"] = ask(
        store, experiments, TRACES, "session_count", COUNT, time_interval_seconds=3600,
        max_results=3, **RANGES["aligned"],
    )  # fmt: skip
    out["interval_without_range"] = ask(
        store, experiments, TRACES, "session_count", COUNT, time_interval_seconds=3600
    )
    return out


def _completed(store, exp: str) -> dict[str, Any]:
    def find(lo, hi, **kwargs):
        return attempt(
            lambda: [
                (s.session_id, s.first_trace_timestamp_ms, s.last_trace_timestamp_ms)
                for s in store.find_completed_sessions(exp, lo, hi, **kwargs)
            ]
        )

    end = BASE_MS + 100 * HOUR
    return {
        "all": find(0, end),
        "window": find(BASE_MS + 2 * HOUR, BASE_MS + 26 * HOUR),
        "exact_edges": find(BASE_MS + 20 * MIN, BASE_MS + 3 * HOUR),
        "empty_window": find(BASE_MS + 4 * HOUR, BASE_MS + 5 * HOUR),
        "reversed": find(end, 0),
        "reversed_narrow": find(BASE_MS + 2 * HOUR, BASE_MS + HOUR),
        "limited": find(0, end, max_results=3),
        "limited_tie": find(BASE_MS + 26 * HOUR, end, max_results=1),
        "zero": find(0, end, max_results=0),
        "filter_first": find(0, end, filter_string="tags.first = 'yes'"),
        "filter_limited": find(0, end, filter_string="trace.status = 'OK'", max_results=2),
    }


@pytest.fixture(params=[64, 1], ids=["timestamps-on-heads", "members-read"])
def session_items_only(monkeypatch, request):
    """Our store's exact path fails: the answers must come from the session items. With
    ``MAX_TIMES`` = 1 no head carries its timestamps: straddling sessions read members."""
    monkeypatch.setattr(sessions, "MAX_TIMES", request.param)
    real = traces_view.TraceRecords.stats_items

    def refuse(self, *args, **kwargs):
        if type(self.traces).__module__.startswith("mlflow_dynamodbstore"):
            raise AssertionError("read every stats item of the range")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(traces_view.TraceRecords, "stats_items", refuse)


def _both(fn, sql_store, dynamo_store, artifact_root):
    scenario = TraceScenario(fn.__name__, fn)
    return outcome(scenario, sql_store, [artifact_root]), outcome(
        scenario, dynamo_store, [artifact_root]
    )


def test_session_answers_equal_sqlalchemy_store(
    sql_store, dynamo_store, artifact_root, session_items_only
):
    def scenario(store):
        e1, e2 = _corpus(store)
        return {
            "counts": _counts(store, [e1]),
            "two_experiments": _counts(store, [e1, e2]),
            "completed": _completed(store, e1),
        }

    expected, actual = _both(scenario, sql_store, dynamo_store, artifact_root)
    assert actual == expected


def test_after_deletes_and_retries(sql_store, dynamo_store, artifact_root, session_items_only):
    def scenario(store):
        e1, _ = _corpus(store)
        _log(store, e1, [TRACES_OF[3], TRACES_OF[7], TRACES_OF[0]])  # retried log_spans
        store.delete_traces(e1, trace_ids=[tid(3)])  # b's first
        store.delete_traces(e1, trace_ids=[tid(8)])  # c's last
        store.delete_traces(e1, trace_ids=[tid(11)])  # e's middle (a tie on its first)
        first = {"counts": _counts(store, [e1]), "completed": _completed(store, e1)}
        store.delete_traces(e1, trace_ids=[tid(9), tid(1), tid(2)])  # d and a entirely
        store.delete_traces(e1, max_timestamp_millis=BASE_MS + 2 * HOUR + 5)
        _log(store, e1, [(30, "d", 90 * HOUR), (31, "c", 1 * HOUR)])  # d comes back, c too
        return {
            "first": first,
            "second": {"counts": _counts(store, [e1]), "completed": _completed(store, e1)},
        }

    expected, actual = _both(scenario, sql_store, dynamo_store, artifact_root)
    assert actual == expected

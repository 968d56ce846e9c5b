"""find_completed_sessions: sessions of an experiment whose last trace falls in a window and
that have no trace after it, as SqlAlchemyStore computes them (first/last trace timestamp per
session id; an optional search filter applied to each session's first trace(s)).

Reads the experiment's trace stats items (they carry the session id and timestamp), then,
with a filter, the META items of the candidate sessions' first traces (BatchGetItem) and,
for ``span.*`` clauses, their spans."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow.genai.scorers.online.entities import CompletedSession

from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository
from mlflow_dynamodbstore.search.trace_metrics.traces_view import TraceRecords
from mlflow_dynamodbstore.search.traces.filter import parse_trace_filter


@dataclass
class _Session:
    first: int
    last: int
    first_trace_ids: list[str] = field(default_factory=list)


def find_completed_sessions(
    traces: TraceRepository,
    spans: SpanRepository,
    experiment_id: str,
    min_last_trace_timestamp_ms: int,
    max_last_trace_timestamp_ms: int,
    max_results: int | None,
    filter_string: str | None,
) -> list[CompletedSession]:
    parsed = parse_trace_filter(filter_string) if filter_string else None
    sessions: dict[str, _Session] = {}
    for record in TraceRecords(traces).from_stats([experiment_id], None, None):
        session_id, ts = record.get("session_id"), record["timestamp_ms"]
        if session_id is None:
            continue
        s = sessions.get(session_id)
        if s is None:
            sessions[session_id] = _Session(ts, ts, [record["trace_id"]])
            continue
        if ts < s.first:
            s.first, s.first_trace_ids = ts, [record["trace_id"]]
        elif ts == s.first:
            s.first_trace_ids.append(record["trace_id"])
        s.last = max(s.last, ts)
    completed = {
        sid: s
        for sid, s in sessions.items()
        if min_last_trace_timestamp_ms <= s.last <= max_last_trace_timestamp_ms
    }
    if parsed is not None and not parsed.empty and completed:
        ids = [t for s in completed.values() for t in s.first_trace_ids]
        metas = traces.batch_get(ids)

        def first_trace_matches(s: _Session) -> bool:
            for trace_id in s.first_trace_ids:
                item = metas.get(trace_id)
                if item is None or not parsed.matches_trace(item):
                    continue
                if not parsed.span_predicates or parsed.matches_spans(spans.read(trace_id)):
                    return True
            return False

        completed = {sid: s for sid, s in completed.items() if first_trace_matches(s)}
    ordered = sorted(completed.items(), key=lambda kv: (kv[1].last, kv[0]))
    if max_results is not None:
        ordered = ordered[: max(int(max_results), 0)] if max_results >= 0 else ordered
    return [
        CompletedSession(
            session_id=sid, first_trace_timestamp_ms=s.first, last_trace_timestamp_ms=s.last
        )
        for sid, s in ordered
    ]

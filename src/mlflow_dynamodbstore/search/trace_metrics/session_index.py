"""Session queries from the session heads (repositories/traces/sessions.py): cost follows the
sessions of the answer, not the experiment's traces (docs/trace-analytics.md, "Sessions").

- ``session_count`` rows (the TRACES view's distinct session count, unfiltered): a session
  has a trace in the range only if its last trace is at or after the range's start and its
  first at or before its end. The heads listed by last trace from the range's start on are
  the candidates; a head that lies inside the range and inside one time bucket counts once
  in that bucket without another read; one that straddles a bucket or the range's edge is
  asked its members inside the range (1 Query; with no bucket, 1 item is enough).
- ``find_completed_sessions``: the heads whose last trace lies in the window, by (last,
  session id); with a filter, each candidate's first trace(s) (members at the first
  timestamp) are read and matched, in order, until ``max_results`` sessions matched.

Both list heads through ``SessionRepository.by_last``, which settles a head it meets
unsettled (a writer died between its transaction and its settle) before giving it.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlflow.genai.scorers.online.entities import CompletedSession

from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.sessions import SessionHead, SessionRepository
from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository
from mlflow_dynamodbstore.search.trace_metrics.aggregate import MetricRow, time_bucket
from mlflow_dynamodbstore.search.trace_metrics.traces_view import TraceRecords
from mlflow_dynamodbstore.search.traces.filter import parse_trace_filter

_NS_PER_MS = 1_000_000
# Candidate sessions whose first traces are matched against a filter per BatchGetItem.
_FILTER_CHUNK = 100


def _newest(traces: TraceRepository, experiment_id: str) -> int | None:
    for item in traces.list_experiment(experiment_id, page_size=1, oldest_first=False):
        return int(item["timestamp_ms"])
    return None


def session_count_rows(
    traces: TraceRepository,
    experiment_ids: list[str],
    low_ms: int | None,
    high_ms: int | None,
    time_interval_seconds: int | None,
) -> Iterator[MetricRow]:
    """One row (timestamp, session id) per (session, time bucket) with a trace in
    low..high: what COUNT(DISTINCT session_id) per bucket needs, and no more."""
    sessions = traces.stats.rollups.sessions
    records = TraceRecords(traces)

    def bucket(ts: int) -> int | None:
        if not time_interval_seconds:
            return None
        return time_bucket(ts * _NS_PER_MS, time_interval_seconds)

    for experiment_id in experiment_ids:
        clipped = records.clipped(experiment_id, low_ms, high_ms)
        if clipped is None:
            continue
        low, high = clipped
        newest = high if high_ms is None else _newest(traces, experiment_id)
        if newest is None or newest < low:
            continue
        for head in sessions.by_last(experiment_id, low, max(newest, high)):
            if head.first_ms > high or head.last_ms < low:
                continue
            inside = low <= head.first_ms and head.last_ms <= high
            if inside and bucket(head.first_ms) == bucket(head.last_ms):
                yield MetricRow(head.first_ms * _NS_PER_MS, head.session_id)
                continue
            if head.times is not None:  # a small session carries its timestamps
                times = [t for t in head.times if low <= t <= high]
            else:
                times = [
                    t
                    for t, _ in sessions.member_times(
                        experiment_id,
                        head.session_id,
                        max(low, head.first_ms),
                        min(high, head.last_ms),
                        limit=None if time_interval_seconds else 1,
                    )
                ]
            seen: set[int | None] = set()
            for ts in times:
                if bucket(ts) not in seen:
                    seen.add(bucket(ts))
                    yield MetricRow(ts * _NS_PER_MS, head.session_id)


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
    limit = None if max_results is None or max_results < 0 else int(max_results)
    if limit == 0:
        return []
    sessions: SessionRepository = traces.stats.rollups.sessions
    clipped = TraceRecords(traces).clipped(
        experiment_id, min_last_trace_timestamp_ms, max_last_trace_timestamp_ms
    )
    if clipped is None:
        return []
    low, high = clipped
    heads = sorted(
        (
            h
            for h in sessions.by_last(experiment_id, low, high)
            if min_last_trace_timestamp_ms <= h.last_ms <= max_last_trace_timestamp_ms
        ),
        key=lambda h: (h.last_ms, h.session_id),
    )
    if parsed is not None and not parsed.empty:
        heads = _first_trace_matches(traces, spans, sessions, heads, parsed, limit)
    if limit is not None:
        heads = heads[:limit]
    return [
        CompletedSession(
            session_id=h.session_id,
            first_trace_timestamp_ms=h.first_ms,
            last_trace_timestamp_ms=h.last_ms,
        )
        for h in heads
    ]


def _first_trace_matches(
    traces: TraceRepository,
    spans: SpanRepository,
    sessions: SessionRepository,
    heads: list[SessionHead],
    parsed,
    limit: int | None,
) -> list[SessionHead]:
    """The heads (in order) whose first trace(s) match, read a chunk at a time until
    ``limit`` matched."""
    kept: list[SessionHead] = []
    for start in range(0, len(heads), _FILTER_CHUNK):
        chunk = heads[start : start + _FILTER_CHUNK]
        firsts = {
            h.session_id: [
                trace_id
                for _, trace_id in sessions.member_times(
                    h.experiment_id, h.session_id, h.first_ms, h.first_ms
                )
            ]
            for h in chunk
        }
        metas = traces.batch_get([t for ids in firsts.values() for t in ids])
        for h in chunk:
            for trace_id in firsts[h.session_id]:
                item = metas.get(trace_id)
                if item is None or not parsed.matches_trace(item):
                    continue
                if not parsed.span_predicates or parsed.matches_spans(spans.read(trace_id)):
                    kept.append(h)
                    break
            if limit is not None and len(kept) >= limit:
                return kept
    return kept

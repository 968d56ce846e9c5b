"""Spans from AWS X-Ray for traces whose spans are not in the table (docs/xray.md).

With the integration on, a read of a trace without stored spans asks X-Ray
(BatchGetTraces, 5 ids per call), converts the segments and caches them in the table
through ``log_spans`` (the trace's TTL, META's span facts): later reads make no X-Ray call.
When X-Ray has nothing or cannot be reached, the read still answers, without spans and with
the ``mlflow.dynamodb.xray.spans = unavailable`` tag; the trace's X-Ray state item holds
the back-off before the next lookup. With it off, no X-Ray client is ever created.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property
from typing import Any

from mlflow.entities import Trace, TraceData, TraceInfo
from mlflow.exceptions import MlflowException
from mlflow.tracing.constant import SpansLocation, TraceTagKey

from mlflow_dynamodbstore.repositories.traces import span_facts
from mlflow_dynamodbstore.repositories.traces.codec import to_trace_info
from mlflow_dynamodbstore.repositories.traces.xray_state import (
    XRayStateRepository,
    is_state_item,
)
from mlflow_dynamodbstore.search.traces.filter import TraceFilter
from mlflow_dynamodbstore.xray.client import make_xray_client
from mlflow_dynamodbstore.xray.filters import to_filter_expression
from mlflow_dynamodbstore.xray.ids import XRAY_RETENTION_SECONDS
from mlflow_dynamodbstore.xray.source import FOUND, XRaySpanSource

Item = dict[str, Any]

# The trace-level marker on a trace returned without spans.
UNAVAILABLE_TAG = "mlflow.dynamodb.xray.spans"
UNAVAILABLE = "unavailable"
REASON_TAG = "mlflow.dynamodb.xray.reason"
RETRY_AFTER_TAG = "mlflow.dynamodb.xray.retryAfter"
_logger = logging.getLogger(__name__)


class TraceXRayOps:
    """Mixed into DynamoDBTrackingStore with TraceOps (``_conn``, ``gateway``, ``traces``,
    ``spans``, ``log_spans``)."""

    # Patched by tests to move time past a back-off.
    _xray_clock = staticmethod(time.time)

    @property
    def xray_source(self) -> XRaySpanSource | None:
        """The X-Ray span source while the integration is on (the switch is a table setting,
        so it is checked on each use; the source and its client are made once, on first
        use), else None."""
        if not self._conn.xray_enabled:
            return None
        source = self.__dict__.get("_xray_source")
        if source is None:
            uri = self._conn.uri
            source = self.__dict__["_xray_source"] = XRaySpanSource(lambda: make_xray_client(uri))
        return source

    @cached_property
    def xray_states(self) -> XRayStateRepository:
        return XRayStateRepository(self.gateway)

    # ---- TraceInfo as the client needs it ----------------------------------------------
    def _to_info(self, item: Item) -> TraceInfo:
        """With X-Ray on, a trace without a spans location has its spans served by this
        store (from X-Ray): say so, or MLflow's client would look in the artifact store."""
        info = to_trace_info(item)
        if self.xray_source is not None and TraceTagKey.SPANS_LOCATION not in info.tags:
            info.tags[TraceTagKey.SPANS_LOCATION] = SpansLocation.TRACKING_STORE.value
        return info

    # ---- lazy spans --------------------------------------------------------------------
    def _xray_traces(
        self,
        metas: list[Item],
        states: dict[str, Item | None] | None = None,
        *,
        force: bool = False,
    ) -> dict[str, Trace]:
        """Traces (META items without stored spans) completed from X-Ray: cached and re-read
        when found, otherwise without spans and with the marker. ``states`` are the X-Ray
        state items already read (None: read them here, one BatchGetItem); ``force`` asks
        X-Ray even within a back-off."""
        if not metas:
            return {}
        if states is None:
            found = self.xray_states.batch_get([m["trace_id"] for m in metas])
            states = {m["trace_id"]: found.get(m["trace_id"]) for m in metas}
        now = self._xray_clock()
        due = [
            m
            for m in metas
            if force
            or (s := states.get(m["trace_id"])) is None
            or now >= int(s.get("retry_after", 0))
        ]
        fetched = self.xray_source.fetch([m["trace_id"] for m in due]) if due else {}
        result: dict[str, Trace] = {}
        for meta in metas:
            trace_id = meta["trace_id"]
            state = states.get(trace_id)
            answer = fetched.get(trace_id)
            if answer is not None and answer.outcome == FOUND:
                try:
                    self.log_spans(str(meta["experiment_id"]), answer.spans)
                except MlflowException as exc:
                    # Not cached this time (e.g. META contention or its size limit): the
                    # reader still gets X-Ray's spans; the next read tries again.
                    _logger.warning("Could not cache X-Ray spans of %s: %s", trace_id, exc)
                    info = self._to_info(meta)
                    result[trace_id] = Trace(info=info, data=TraceData(spans=answer.spans))
                    continue
                if state is not None:
                    self.xray_states.clear(trace_id)
                cached = self._cached_trace(trace_id)
                if cached is not None:
                    result[trace_id] = cached
                    continue
            elif answer is not None:
                state = self.xray_states.record_failure(
                    meta, state, outcome=answer.outcome, reason=answer.reason, now=now
                )
            result[trace_id] = self._unavailable(meta, state)
        return result

    def _cached_trace(self, trace_id: str) -> Trace | None:
        meta, items = self.traces.read_partition(trace_id)
        if meta is None:
            return None
        return self._trace_from_items(meta, items, allow_partial=True, xray=False)

    def _unavailable(self, meta: Item, state: Item | None) -> Trace:
        info = self._to_info(meta)
        info.tags[UNAVAILABLE_TAG] = UNAVAILABLE
        if state is not None:
            info.tags[REASON_TAG] = f"{state.get('outcome')}: {state.get('reason', '')}"
            info.tags[RETRY_AFTER_TAG] = str(int(state["retry_after"]) * 1000)
        return Trace(info=info, data=TraceData(spans=[]))

    def _xray_state_in(self, items: list[Item]) -> Item | None:
        return next((i for i in items if is_state_item(i)), None)

    def _xray_has_spans(self, item: Item) -> bool:
        """For search: make sure X-Ray's spans of this trace are in the table if X-Ray has
        them (one lookup, subject to the back-off). True when spans are now stored."""
        trace = self._xray_traces([item]).get(item["trace_id"])
        return trace is not None and bool(trace.data.spans)

    # ---- pre-caching (the ``traces cache`` command) -----------------------------------
    def xray_recent_traces(self, experiment_id: str, days: int) -> list[Item]:
        """An experiment's trace META items of the last ``days`` days (GSI3, newest first)."""
        oldest = int((self._xray_clock() - days * 86400) * 1000)
        listed = self.traces.list_experiment(str(experiment_id), oldest=oldest)
        return [i for i in listed if self._trace_item(i["trace_id"], i) is not None]

    def xray_cache(self, metas: list[Item]) -> dict[str, str]:
        """Cache X-Ray's spans of these traces now, ignoring back-offs: trace id ->
        ``cached``, ``already_cached``, ``missing`` (X-Ray has none) or ``error``."""
        outcome: dict[str, str] = {}
        todo = []
        for meta in metas:
            if span_facts.rows_from_facts(meta) or self.spans.read_items(meta["trace_id"]):
                outcome[meta["trace_id"]] = "already_cached"
            else:
                todo.append(meta)
        if todo:
            traces = self._xray_traces(todo, force=True)
            for trace_id, trace in traces.items():
                if trace.data.spans:
                    outcome[trace_id] = "cached"
                elif trace.info.tags.get(REASON_TAG, "").startswith("missing"):
                    outcome[trace_id] = "missing"
                else:
                    outcome[trace_id] = "error"
        return outcome

    def _xray_search_fallback(self, experiment_ids: list[str]) -> XRaySearchFallback | None:
        if self.xray_source is None:
            return None
        return XRaySearchFallback(self, experiment_ids)


class XRaySearchFallback:
    """search_traces' hook for traces without stored spans (search/traces/search.py):
    X-Ray's GetTraceSummaries narrows them with the translated span clauses (one expression
    per search, over the search's own time range), then each remaining trace's spans are
    read through the lazy source (cached) and the clauses checked exactly."""

    def __init__(self, store: TraceXRayOps, experiment_ids: list[str]):
        self.store = store
        self.experiment_ids = experiment_ids
        self._hits: set[str] | None = None
        self._asked = False

    def matches(self, item: Item, parsed: TraceFilter) -> bool:
        expression = to_filter_expression(parsed.span_clauses)
        if expression is not None:
            hits = self._summaries(expression, parsed)
            if hits is not None and item["trace_id"] not in hits:
                return False
        if not self.store._xray_has_spans(item):
            return False
        return parsed.matches_spans(self.store.spans.read(item["trace_id"]))

    def _summaries(self, expression: str, parsed: TraceFilter) -> set[str] | None:
        if self._asked:
            return self._hits
        self._asked = True
        window = self._window(parsed)
        if window is None:
            self._hits = set()
            return self._hits
        # None when X-Ray cannot answer: each trace's spans are then looked up one by one.
        self._hits = self.store.xray_source.trace_ids_matching(expression, *window)
        return self._hits

    def _window(self, parsed: TraceFilter) -> tuple[float, float] | None:
        """[start, end] in epoch seconds: the filter's timestamp bounds, else the span of
        the experiments' traces (their newest and oldest, one Query each), within X-Ray's
        retention."""
        newest, oldest = parsed.newest, parsed.oldest
        if newest is None or oldest is None:
            found_new, found_old = [], []
            for e in self.experiment_ids:
                listing = self.store.traces.list_experiment
                found_new += [
                    int(i["timestamp_ms"])
                    for i in _first(listing(e, newest=newest, oldest=oldest, page_size=1))
                ]
                found_old += [
                    int(i["timestamp_ms"])
                    for i in _first(
                        listing(e, newest=newest, oldest=oldest, page_size=1, oldest_first=True)
                    )
                ]
            if not found_new:
                return None
            newest = max(found_new) if newest is None else newest
            oldest = min(found_old) if oldest is None else oldest
        now = self.store._xray_clock()
        # The id time is whole seconds: widen by one second on each side.
        start = max(oldest / 1000 - 1, now - XRAY_RETENTION_SECONDS)
        end = min(newest / 1000 + 1, now + 300)
        return (start, end) if start < end else None


def _first(items) -> list[Item]:
    for item in items:
        return [item]
    return []

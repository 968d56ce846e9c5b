"""``log_spans`` of the tracking store facade (GenAI tracing): spans grouped by trace, each
trace's META created or updated for the batch, span items written, with SqlAlchemyStore's
rules, messages and error codes (mlflow/store/tracking/sqlalchemy_store.py)."""

from __future__ import annotations

import asyncio

from mlflow.entities.span import Span
from mlflow.utils.mlflow_tags import MLFLOW_ARTIFACT_LOCATION

from mlflow_dynamodbstore.repositories.traces import archival, ingest
from mlflow_dynamodbstore.repositories.traces.repository import (
    TraceExists,
    TraceMissing,
    TraceTooLarge,
)
from mlflow_dynamodbstore.stores.tracking.trace_errors import _not_found, _too_large


class TraceSpanOps:
    """Mixed into TraceOps (which provides ``traces``, ``spans``, ``trace_archival``,
    ``_trace_item``, ``_experiment_item``, ``_artifact_location_tag`` and ``_trace_ttl``)."""

    # ---- log_spans ---------------------------------------------------------------------
    async def log_spans_async(self, location: str, spans: list[Span]) -> list[Span]:
        """``log_spans`` on a worker thread (MLflow 3.16's default; before it the base
        refused, and the OTLP endpoint calls this)."""
        return await asyncio.to_thread(self.log_spans, location, spans)

    def log_spans(self, location: str, spans: list[Span], tracking_uri=None) -> list[Span]:
        if not spans:
            return []
        by_trace = ingest.group_by_trace(spans)
        aggregates = {tid: ingest.aggregate(trace_spans) for tid, trace_spans in by_trace.items()}
        existing = self.traces.batch_get(by_trace, any_workspace=True)
        for trace_id, item in existing.items():
            if self._trace_item(trace_id, item) is None:
                raise _not_found(trace_id)  # another workspace's trace
        # Archived traces take no spans (the META write below checks again, atomically).
        archival.refuse_span_writes(existing)
        # New traces: their META is computed in full here and written first (a conditional
        # create), then their spans: every span item stored is reachable from its trace
        # (deleted with it, expired with its TTL) whatever fails after. A call that fails
        # half-way leaves a trace with fewer spans than it will have; MLflow's client retries
        # the call, which finds the trace and merges the batch again (by span id: the same
        # result), its span items written to the same keys (spans.py).
        fresh: dict[str, dict] = {}
        if any(trace_id not in existing for trace_id in by_trace):
            experiment = self._experiment_item(location)
            for trace_id in by_trace:
                if trace_id not in existing:
                    agg, rows = aggregates[trace_id]
                    fresh[trace_id] = self._new_trace_item(
                        trace_id, experiment, agg, by_trace[trace_id], rows
                    )
        for trace_id, item in list(fresh.items()):
            try:
                self.traces.create(item)
            except TraceExists:
                # Created concurrently (start_trace or another server): update it instead.
                current = self.traces.get(trace_id)
                if current is None or self._trace_item(trace_id, current) is None:
                    raise _not_found(trace_id) from None
                existing[trace_id] = current
                del fresh[trace_id]
            except TraceTooLarge:
                raise _too_large(trace_id) from None
        ttl = {tid: item.get("ttl") for tid, item in {**existing, **fresh}.items()}
        self.spans.write(
            [row for _, rows in aggregates.values() for row in rows],
            {tid: int(v) if v is not None else None for tid, v in ttl.items()},
        )
        for trace_id, before in existing.items():
            try:
                self._apply_span_batch(trace_id, before, *aggregates[trace_id], by_trace[trace_id])
            except archival.SpanWriteRefused:
                # Archived after our span write: take the written content back out.
                self.trace_archival.strip_written(self.trace_archival.read(trace_id)[1])
                raise
            except TraceMissing:
                # Deleted after our span write: nothing reaches those items any more.
                self.spans.delete_items(trace_id)
                raise archival.write_conflict({}, [trace_id]) from None
        return spans

    def _new_trace_item(self, trace_id: str, experiment: dict, agg, trace_spans, rows) -> dict:
        """The META item log_spans creates for a trace it is the first to see (the SQL
        store's new trace_info row, then its per-batch update)."""
        base = {
            "trace_id": trace_id,
            "experiment_id": str(experiment["experiment_id"]),
            "workspace": experiment.get("workspace"),
            "timestamp_ms": agg.min_start_ms,
            "execution_time_ms": agg.max_end_ms - agg.min_start_ms if agg.max_end_ms else None,
            "status": agg.trace_status,
            "tags": {MLFLOW_ARTIFACT_LOCATION: self._artifact_location_tag(experiment, trace_id)},
            "metadata": {},
            "analytics": {},
            "assessments": {},
            "ttl": self._trace_ttl(experiment, agg.min_start_ms),
        }
        return ingest.apply_batch(
            dict(base),
            base,
            agg,
            created=True,
            stored=([], []),
            extra_tags=ingest.resource_tags(trace_spans),
            rows=rows,
        )

    def _apply_span_batch(self, trace_id: str, before: dict, agg, rows, trace_spans) -> None:
        """Update an existing trace's META for one batch of its spans (optimistic locking;
        ``before`` is the item read at the start of the call, reused for the first try)."""
        stored = ([], [])
        if ingest.needs_stored_nodes(before, agg, False):
            batch_ids = {r.span_id for r in rows}
            stored = ingest.stored_nodes(self.spans.read(trace_id, with_content=False), batch_ids)
        change = archival.guarded(
            ingest.batch_change(before, agg, False, stored, ingest.resource_tags(trace_spans), rows)
        )
        try:
            self.traces.mutate(trace_id, change, current=before)
        except TraceTooLarge:
            raise _too_large(trace_id) from None

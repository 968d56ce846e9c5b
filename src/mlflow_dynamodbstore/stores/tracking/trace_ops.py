"""Trace operations of the tracking store facade (GenAI tracing): trace infos, spans, tags,
assessments, run links, deletion and search, with SqlAlchemyStore's rules, messages and
error codes (mlflow/store/tracking/sqlalchemy_store.py)."""

from __future__ import annotations

import json
import time
from functools import cached_property
from typing import Any

from mlflow.entities import LifecycleStage, Trace, TraceData, TraceInfo
from mlflow.exceptions import MlflowException, MlflowTracingException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.tracking import (
    MAX_TRACE_LINKS_PER_REQUEST,
    SEARCH_MAX_RESULTS_THRESHOLD,
    SEARCH_TRACES_DEFAULT_MAX_RESULTS,
)
from mlflow.store.tracking.dbmodels.models import SqlAssessments
from mlflow.tracing.constant import (
    SpansLocation,
    TraceMetadataKey,
    TraceSizeStatsKey,
    TraceTagKey,
)
from mlflow.utils.mlflow_tags import MLFLOW_ARTIFACT_LOCATION
from mlflow.utils.uri import append_to_uri_path

from mlflow_dynamodbstore.archival import payload as archived_payload
from mlflow_dynamodbstore.compat.spans import span_from_stored_content
from mlflow_dynamodbstore.compat.trace_analytics import (
    PROMOTED_TRACE_METADATA_KEYS,
    analytics_columns_from_metadata,
    validate_trace_name,
)
from mlflow_dynamodbstore.compat.validation import (
    _parse_experiment_id,
    _resolve_experiment_ids_and_locations,
    _validate_trace_tag,
)
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.lifecycle.policies import retention_of
from mlflow_dynamodbstore.lifecycle.ttl import (
    LEGACY_TRACE_RETENTION_ENV,
    TRACE_RETENTION_TAG,  # noqa: F401 (re-exported: the tag name callers know it by)
    trace_ttl,
)
from mlflow_dynamodbstore.repositories.traces import archival, span_costs, span_facts
from mlflow_dynamodbstore.repositories.traces.codec import (
    assessment_columns,
    decode_analytics,
    encode_analytics,
    to_trace_info,
)
from mlflow_dynamodbstore.repositories.traces.repository import (
    TraceExists,
    TraceMissing,
    TraceRepository,
    TraceTooLarge,
)
from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository, rows_from_items
from mlflow_dynamodbstore.search.traces.search import TraceSearch
from mlflow_dynamodbstore.stores.tracking.experiment_ops import experiment_not_active
from mlflow_dynamodbstore.stores.tracking.trace_errors import _not_found, _too_large
from mlflow_dynamodbstore.stores.tracking.trace_metrics_ops import TraceMetricsOps
from mlflow_dynamodbstore.stores.tracking.trace_ops_assessments import TraceAssessmentOps
from mlflow_dynamodbstore.stores.tracking.trace_ops_spans import TraceSpanOps
from mlflow_dynamodbstore.stores.tracking.trace_ops_xray import TraceXRayOps

# Trace retention (DynamoDB TTL on every item of a trace): lifecycle/ttl.py.
TRACE_RETENTION_ENV = LEGACY_TRACE_RETENTION_ENV
_TRACE_FOLDER = "traces"
_ARTIFACTS_FOLDER = "artifacts"


class TraceOps(TraceSpanOps, TraceAssessmentOps, TraceMetricsOps, TraceXRayOps):
    """Mixed into DynamoDBTrackingStore (which provides ``gateway``, ``experiments``,
    ``_experiment_item``, ``_get_active_workspace`` and ``_workspaces_enabled``)."""

    @cached_property
    def traces(self) -> TraceRepository:
        return TraceRepository(self.gateway, self._conn.settings)

    @cached_property
    def spans(self) -> SpanRepository:
        return SpanRepository(self.gateway)

    # ---- helpers ---------------------------------------------------------------------
    def _trace_item(self, trace_id: str, item: dict | None = None) -> dict | None:
        """The trace's META item if it exists in the active workspace."""
        if item is not None:  # read elsewhere: still only visible in its own workspace
            return item if self.gateway.visible(item) else None
        return self.traces.get(trace_id)

    def _mutate_trace(self, trace_id: str, change, missing: MlflowException | None = None):
        current = self._trace_item(trace_id)
        if current is None:
            raise missing or _not_found(trace_id)
        try:
            return self.traces.mutate(trace_id, change, current=current)
        except TraceMissing:
            raise missing or _not_found(trace_id) from None
        except TraceTooLarge:
            raise _too_large(trace_id) from None

    @staticmethod
    def _artifact_location_tag(experiment_item: dict, trace_id: str) -> str:
        return append_to_uri_path(
            experiment_item["artifact_location"], _TRACE_FOLDER, trace_id, _ARTIFACTS_FOLDER
        )

    def _trace_ttl(self, experiment_item: dict, request_time_ms: int) -> int | None:
        """Epoch seconds after which DynamoDB TTL removes the trace, if a retention applies
        (the experiment tag, else the table's trace_retention_days, else the legacy
        variable; see lifecycle/ttl.py)."""
        return trace_ttl(
            retention_of(self._conn), experiment_item.get("tags"), int(request_time_ms)
        )

    # ---- start_trace -------------------------------------------------------------------
    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        trace_name = validate_trace_name(trace_info.tags.get(TraceTagKey.TRACE_NAME))
        experiment = self._experiment_item(trace_info.experiment_id)
        if experiment["lifecycle_stage"] != LifecycleStage.ACTIVE:
            raise experiment_not_active(experiment["experiment_id"], experiment["lifecycle_stage"])
        trace_id = trace_info.trace_id
        raw_metadata = dict(trace_info.trace_metadata.items())
        analytics = analytics_columns_from_metadata(raw_metadata)
        metadata = {k: v for k, v in raw_metadata.items() if k not in PROMOTED_TRACE_METADATA_KEYS}
        metadata[TraceMetadataKey.TRACE_INFO_FINALIZED] = "true"
        tags = {k: v for k, v in trace_info.tags.items() if k != TraceTagKey.TRACE_NAME}
        tags[MLFLOW_ARTIFACT_LOCATION] = self._artifact_location_tag(experiment, trace_id)
        new_assessments = {}
        for n, a in enumerate(trace_info.assessments):
            sql = SqlAssessments.from_mlflow_entity(a)
            sql.trace_id = trace_id
            new_assessments[sql.assessment_id] = assessment_columns(sql, time.time_ns() + n)
        fields = {
            "experiment_id": str(trace_info.experiment_id),
            "timestamp_ms": trace_info.request_time,
            "execution_time_ms": trace_info.execution_duration,
            "status": trace_info.state.value,
            "client_request_id": trace_info.client_request_id,
        }
        item = {
            "trace_id": trace_id,
            "workspace": experiment.get("workspace"),
            **fields,
            "request_preview": trace_info.request_preview,
            "response_preview": trace_info.response_preview,
            "trace_name": trace_name,
            "tags": tags,
            "metadata": metadata,
            "analytics": encode_analytics(analytics),
            "assessments": new_assessments,
            "ttl": self._trace_ttl(experiment, trace_info.request_time),
            # No span stored yet: log_spans adds each span's facts (span_facts.py).
            span_facts.FACTS: {},
            span_costs.COSTS: {},  # and their costs (span_costs.py)
        }
        try:
            return to_trace_info(self.traces.create(item))
        except TraceExists:
            pass
        except TraceTooLarge:
            raise _too_large(trace_id) from None

        # log_spans() created it first: merge as the SQL store does (start_trace's values
        # are authoritative, previews only when given, tags/metadata/assessments merged).
        tags_before: dict = {}

        def merge(current: dict) -> dict:
            if not archival.is_db_backed(current):
                raise MlflowException(
                    f"Cannot update traces that are no longer DB-backed: '{trace_id}'.",
                    INVALID_STATE,
                )
            tags_before.clear()
            tags_before.update(current.get("tags") or {})
            current.update(fields)
            current["workspace"] = experiment.get("workspace")
            if TraceTagKey.TRACE_NAME in trace_info.tags:
                current["trace_name"] = trace_name
            stored = decode_analytics(current.get("analytics"))
            stored.update(analytics)
            current["analytics"] = encode_analytics(stored)
            for preview in ("request_preview", "response_preview"):
                if item[preview] is not None:
                    current[preview] = item[preview]
            current["tags"] = {**(current.get("tags") or {}), **tags}
            current["metadata"] = {**(current.get("metadata") or {}), **metadata}
            current["assessments"] = {**(current.get("assessments") or {}), **new_assessments}
            # ``ttl`` stays as log_spans set it: the span items already carry that value.
            return current

        merged = self._mutate_trace(trace_id, merge)
        # The SQL store's answer shows the new values of the tags the trace already had, but
        # not the tags this call added (its ORM tag collection was loaded before the merge);
        # the stored trace has them all.
        answered = {k: v for k, v in merged["tags"].items() if k in tags_before}
        return to_trace_info({**merged, "tags": answered})

    # ---- reads ----------------------------------------------------------------------
    def get_trace_info(self, trace_id: str) -> TraceInfo:
        item = self._trace_item(trace_id)
        if item is None:
            raise _not_found(trace_id)
        return self._to_info(item)

    def _trace_from_items(
        self,
        meta: dict,
        span_items: list[dict],
        allow_partial: bool,
        *,
        xray: bool = True,
        xray_state: Any = None,
    ) -> Trace | None:
        """The trace from its META and span items. Without stored spans and with X-Ray on,
        the spans come from X-Ray (``xray_state``: the trace's X-Ray state item if the
        caller read the whole partition, else read here)."""
        info = self._to_info(meta)
        location = info.tags.get(TraceTagKey.SPANS_LOCATION)
        if location == SpansLocation.ARCHIVE_REPO.value:
            # As the SQL store: an archived trace is whole even if its payload is gone.
            return Trace(info=info, data=TraceData(spans=archived_payload.archived_spans(info)))
        if location != SpansLocation.TRACKING_STORE.value:
            raise MlflowTracingException("Trace data not stored in tracking store")
        rows = sorted(
            rows_from_items(span_items),
            key=lambda r: (0 if r.parent_span_id is None else 1, r.start_time_ns),
        )
        if not rows and xray and self.xray_source is not None:
            states = None if xray_state is None else {meta["trace_id"]: xray_state[0]}
            return self._xray_traces([meta], states)[meta["trace_id"]]
        if not allow_partial and (stats := info.trace_metadata.get(TraceMetadataKey.SIZE_STATS)):
            expected = json.loads(stats).get(TraceSizeStatsKey.NUM_SPANS, 0)
            if len(rows) < expected:
                return None
        spans = [span_from_stored_content(r.content) for r in rows]
        if allow_partial or spans:
            return Trace(info=info, data=TraceData(spans=spans))
        return None

    def _read_trace(self, trace_id: str, allow_partial: bool) -> Trace | None:
        meta, span_items = self.traces.read_partition(trace_id)
        if meta is None or self._trace_item(trace_id, meta) is None:
            raise MlflowException(
                f"Trace with ID {trace_id} is not found.", RESOURCE_DOES_NOT_EXIST
            )
        # The partition holds the X-Ray state item too, if any: no extra read for it.
        state = (self._xray_state_in(span_items),)
        return self._trace_from_items(meta, span_items, allow_partial, xray_state=state)

    def get_trace(self, trace_id: str, *, allow_partial: bool = False) -> Trace:
        if allow_partial:
            return self._read_trace(trace_id, True)
        for retry in range(3):
            # Spans may still be arriving (several log_spans calls): retry like the SQL store.
            if trace := self._read_trace(trace_id, False):
                return trace
            if retry < 2:
                time.sleep(2**retry)
        raise MlflowException(
            f"Trace with ID {trace_id} is not fully exported yet, please try again later.",
            RESOURCE_DOES_NOT_EXIST,
        )

    def _batch_items(self, trace_ids: list[str], experiment_ids: list[str] | None) -> list[dict]:
        found = self.traces.batch_get(trace_ids)
        allowed = None
        if experiment_ids is not None:
            allowed = {str(e) for e in dict.fromkeys(_parse_experiment_ids(experiment_ids))}
        items = []
        # The SQL store orders by each id's last position in the request.
        position = {trace_id: n for n, trace_id in enumerate(trace_ids)}
        for trace_id in sorted(position, key=position.__getitem__):
            item = (
                self._trace_item(trace_id, found.get(trace_id) or {}) if trace_id in found else None
            )
            if item is None or (allowed is not None and str(item["experiment_id"]) not in allowed):
                continue
            items.append(item)
        return items

    def batch_get_trace_infos(
        self, trace_ids: list[str], location: str | None = None, experiment_ids=None
    ) -> list[TraceInfo]:
        if not trace_ids:
            return []
        return [self._to_info(i) for i in self._batch_items(trace_ids, experiment_ids)]

    def batch_get_traces(
        self, trace_ids: list[str], location: str | None = None, experiment_ids=None
    ) -> list[Trace]:
        if not trace_ids:
            return []
        traces: list[Trace | str] = []
        without_spans: list[dict] = []
        for item in self._batch_items(trace_ids, experiment_ids):
            if archival.is_archived(item):
                traces.append(self._trace_from_items(item, [], allow_partial=False))
                continue
            if (
                self._to_info(item).tags.get(TraceTagKey.SPANS_LOCATION)
                != SpansLocation.TRACKING_STORE.value
            ):
                raise MlflowTracingException("Trace data not stored in tracking store")
            span_items = self.spans.read_items(item["trace_id"])
            if not span_items and self.xray_source is not None:
                without_spans.append(item)
                traces.append(item["trace_id"])  # filled below, in request order
                continue
            trace = self._trace_from_items(item, span_items, allow_partial=False)
            if trace is not None:
                traces.append(trace)
        # X-Ray lookups for all of them together (5 trace ids per BatchGetTraces).
        from_xray = self._xray_traces(without_spans)
        return [from_xray[t] if isinstance(t, str) else t for t in traces]

    # ---- tags ------------------------------------------------------------------------
    def set_trace_tag(self, trace_id: str, key: str, value: str):
        key, value = _validate_trace_tag(key, value)
        if key == TraceTagKey.TRACE_NAME:
            value = validate_trace_name(value)

        def change(item: dict) -> dict:
            if key == TraceTagKey.TRACE_NAME:
                item["trace_name"] = value
            else:
                item["tags"] = {**(item.get("tags") or {}), key: value}
            return item

        self._mutate_trace(trace_id, change)

    def delete_trace_tag(self, trace_id: str, key: str):
        missing_tag = MlflowException(
            f"No trace tag with key '{key}' for trace with ID '{trace_id}'",
            RESOURCE_DOES_NOT_EXIST,
        )

        def change(item: dict) -> dict:
            if key == TraceTagKey.TRACE_NAME:
                if item.get("trace_name") is None:
                    raise missing_tag
                item["trace_name"] = None
                return item
            tags = dict(item.get("tags") or {})
            if key not in tags:
                raise missing_tag
            del tags[key]
            item["tags"] = tags
            return item

        # Like the SQL store: the trace name lives on the trace row, other tags in their table.
        missing = _not_found(trace_id) if key == TraceTagKey.TRACE_NAME else missing_tag
        self._mutate_trace(trace_id, change, missing=missing)

    # ---- runs ------------------------------------------------------------------------
    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        if not trace_ids:
            return
        if len(trace_ids) > MAX_TRACE_LINKS_PER_REQUEST:
            raise MlflowException(
                f"Cannot link more than {MAX_TRACE_LINKS_PER_REQUEST} traces to a run in "
                f"a single request. Provided {len(trace_ids)} traces.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        # As the SQL workspace store: with workspaces on, the run must be of this workspace.
        self._check_run_accessible(run_id)
        for trace_id in dict.fromkeys(trace_ids):
            current = self._trace_item(trace_id)
            if current is None:
                continue  # the SQL store records links to unknown traces; nothing can see them

            def change(item: dict) -> dict | None:
                linked = set(item.get("linked_runs") or set())
                if run_id in linked:
                    return None
                item["linked_runs"] = linked | {run_id}
                return item

            try:
                self.traces.mutate(trace_id, change, current=current)
            except TraceMissing:
                continue

    def link_prompts_to_trace(self, trace_id: str, prompt_versions: list) -> None:
        """Record ``name/version`` of each prompt version on the trace (META's
        ``linked_prompts``, the SQL store's trace -> prompt version associations), for the
        ``tags.mlflow.linkedPrompts = "name/version"`` search filter. Links are added once."""
        if not prompt_versions:
            return
        prompt_ids = {f"{pv.name}/{pv.version}" for pv in prompt_versions}

        def change(item: dict) -> dict | None:
            linked = set(item.get("linked_prompts") or set())
            if prompt_ids <= linked:
                return None
            item["linked_prompts"] = linked | prompt_ids
            return item

        self._mutate_trace(trace_id, change)

    # ---- deletion --------------------------------------------------------------------
    def _delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: list[str] | None = None,
    ) -> int:
        experiment_id = str(_parse_experiment_id(experiment_id))
        if trace_ids:
            doomed = [
                i
                for i in self.traces.batch_get(trace_ids).values()
                if self._trace_item(i["trace_id"], i) is not None
                and str(i["experiment_id"]) == experiment_id
                and (max_timestamp_millis is None or int(i["timestamp_ms"]) <= max_timestamp_millis)
            ]
            doomed.sort(key=lambda i: (int(i["timestamp_ms"]), i["trace_id"]))
            doomed = doomed[:max_traces] if max_traces is not None else doomed
        else:
            doomed = self._oldest_traces(experiment_id, max_timestamp_millis, max_traces)
        # As the SQL store: an archived trace's payload goes first; a trace whose payload
        # could not be deleted stays (and is not counted).
        doomed = [
            i
            for i in doomed
            if not archival.is_archived(i)
            or archived_payload.delete_for_trace_deletion(
                i["trace_id"], (i.get("tags") or {}).get(TraceTagKey.ARCHIVE_LOCATION)
            )
        ]
        deleted = [i["trace_id"] for i in doomed]
        self.traces.delete(deleted)
        # As the SQL store: a deleted trace leaves the review queues that hold it.
        self._delete_review_queue_items_for_traces(deleted)
        return len(doomed)

    def _oldest_traces(
        self, experiment_id: str, max_timestamp_millis: int | None, max_traces: int | None
    ) -> list[dict]:
        """Oldest first (timestamp, trace id), stopping after ``max_traces`` once the
        timestamp group at the boundary is complete."""
        picked: list[dict] = []
        for item in self.traces.list_experiment(
            experiment_id, newest=max_timestamp_millis, oldest_first=True
        ):
            if self._trace_item(item["trace_id"], item) is None:
                continue
            if (
                max_traces is not None
                and len(picked) >= max_traces
                and int(item["timestamp_ms"]) != int(picked[-1]["timestamp_ms"])
            ):
                break
            picked.append(item)
        picked.sort(key=lambda i: (int(i["timestamp_ms"]), i["trace_id"]))
        return picked[:max_traces] if max_traces is not None else picked

    # ---- search ----------------------------------------------------------------------
    def search_traces(
        self,
        experiment_ids: list[str] | None = None,
        filter_string: str | None = None,
        max_results: int = SEARCH_TRACES_DEFAULT_MAX_RESULTS,
        order_by: list[str] | None = None,
        page_token: str | None = None,
        model_id: str | None = None,
        locations: list[str] | None = None,
    ) -> tuple[list[TraceInfo], str | None]:
        locations = _resolve_experiment_ids_and_locations(experiment_ids, locations)
        _validate_max_results(max_results)
        requested = None if locations is None else [str(e) for e in locations]
        if locations is None:
            # No location: every experiment of the workspace, as the SQL store's unscoped query.
            locations = [
                str(e["experiment_id"])
                for e in self.experiments.list_in_workspace(self._get_active_workspace())
            ]
        else:
            locations = self._visible_experiment_ids([str(e) for e in locations])
        search = TraceSearch(
            self.traces,
            self.spans,
            self._xray_search_fallback(locations),
            fts=TrigramIndex(self.gateway, self._conn.settings),
            workspace=self._get_active_workspace(),
        )
        items, token = search.search(
            locations, filter_string, max_results, order_by, page_token, requested=requested
        )
        return [self._to_info(i) for i in items], token

    def _visible_experiment_ids(self, experiment_ids: list[str]) -> list[str]:
        ids = [str(_parse_experiment_id(e)) for e in dict.fromkeys(experiment_ids)]
        if not self._workspaces_enabled():
            return ids
        visible = self.traces.existing_experiment_ids(ids)
        return [e for e in ids if e in visible]


def _parse_experiment_ids(experiment_ids: list[Any]) -> list[int]:
    return [_parse_experiment_id(e) for e in experiment_ids]


def _validate_max_results(max_results: Any) -> None:
    if max_results is None or max_results < 1:
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"a positive integer",
            INVALID_PARAMETER_VALUE,
        )
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {SEARCH_MAX_RESULTS_THRESHOLD}",
            INVALID_PARAMETER_VALUE,
        )

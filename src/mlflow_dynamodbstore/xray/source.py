"""The lazy span source: one X-Ray ``BatchGetTraces`` per 5 trace ids, converted to MLflow
spans. Every outcome is an answer, never an exception: ``found`` (spans), ``missing``
(X-Ray has no such trace: expired after 30 days, or not indexed yet) or ``failed``
(endpoint down, access denied, throttled past botocore's retries)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from mlflow.entities import Span

from mlflow_dynamodbstore.xray.convert import parse_document, spans_from_documents
from mlflow_dynamodbstore.xray.ids import (
    UnmappableId,
    mlflow_from_xray,
    xray_from_mlflow,
    xray_may_hold,
)

_logger = logging.getLogger(__name__)
BATCH_GET_TRACES_MAX_IDS = 5

FOUND, MISSING, FAILED = "found", "missing", "failed"


@dataclass
class Fetched:
    outcome: str
    spans: list[Span] = field(default_factory=list)
    reason: str = ""


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


class XRaySpanSource:
    def __init__(self, client_factory: Callable[[], Any]):
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def fetch(self, trace_ids: Iterable[str]) -> dict[str, Fetched]:
        """The spans X-Ray holds for each MLflow trace id."""
        results: dict[str, Fetched] = {}
        by_xray: dict[str, str] = {}
        for trace_id in dict.fromkeys(trace_ids):
            try:
                xray_id = xray_from_mlflow(trace_id)
            except UnmappableId as exc:
                results[trace_id] = Fetched(MISSING, reason=str(exc))
                continue
            if not xray_may_hold(trace_id):
                results[trace_id] = Fetched(
                    MISSING,
                    reason="the trace id's time is outside X-Ray's 30-day retention (or the "
                    "id was not made by the X-Ray id generator)",
                )
                continue
            by_xray[xray_id] = trace_id
        xray_ids = list(by_xray)
        for start in range(0, len(xray_ids), BATCH_GET_TRACES_MAX_IDS):
            chunk = xray_ids[start : start + BATCH_GET_TRACES_MAX_IDS]
            try:
                documents = self._batch_get(chunk)
            except (BotoCoreError, ClientError) as exc:
                reason = describe_error(exc)
                _logger.warning(
                    "X-Ray BatchGetTraces failed for %d trace(s) (%s); returning them "
                    "without spans and retrying on a later read",
                    len(chunk),
                    reason,
                )
                for xray_id in chunk:
                    results[by_xray[xray_id]] = Fetched(FAILED, reason=reason)
                continue
            for xray_id in chunk:
                trace_id = by_xray[xray_id]
                docs = documents.get(xray_id)
                spans = spans_from_documents(trace_id, docs) if docs else []
                if spans:
                    results[trace_id] = Fetched(FOUND, spans)
                else:
                    results[trace_id] = Fetched(
                        MISSING,
                        reason="X-Ray has no segments for this trace (older than its 30-day "
                        "retention, or not indexed yet)",
                    )
        return results

    def trace_ids_matching(self, expression: str, start_s: float, end_s: float) -> set[str] | None:
        """MLflow ids of the traces GetTraceSummaries finds for ``expression`` in the time
        range; None (and one warning) when X-Ray cannot answer."""
        from mlflow_dynamodbstore.xray.filters import matching_trace_ids

        try:
            return matching_trace_ids(self.client, expression, start_s, end_s)
        except (BotoCoreError, ClientError) as exc:
            _logger.warning(
                "X-Ray GetTraceSummaries failed (%s); span filters check traces one by one",
                describe_error(exc),
            )
            return None

    def _batch_get(self, xray_ids: list[str]) -> dict[str, list[dict]]:
        documents: dict[str, list[dict]] = {}
        kwargs: dict[str, Any] = {"TraceIds": xray_ids}
        while True:
            response = self.client.batch_get_traces(**kwargs)
            for trace in response.get("Traces") or ():
                xray_id = trace.get("Id")
                if xray_id is None:
                    continue
                for segment in trace.get("Segments") or ():
                    documents.setdefault(xray_id, []).append(parse_document(segment["Document"]))
            token = response.get("NextToken")
            if not token:
                return documents
            kwargs["NextToken"] = token


def trace_ids_of_summaries(summaries: Iterable[dict]) -> set[str]:
    """MLflow trace ids of GetTraceSummaries entries (ids that cannot be MLflow's skipped)."""
    found = set()
    for summary in summaries:
        try:
            found.add(mlflow_from_xray(summary.get("Id", "")))
        except UnmappableId:
            continue
    return found

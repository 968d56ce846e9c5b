"""Archived payloads in the artifact store: MLflow's own format and paths (``traces.pb``, an
OTLP ``TracesData`` protobuf, under ``<location>/<experiment id>/traces/<trace id>/artifacts``),
read and written through MLflow's artifact repositories, as SqlAlchemyStore does."""

from __future__ import annotations

import json
import logging

from mlflow.entities import TraceInfo
from mlflow.entities.span import Span
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracing.otel.translation import translate_loaded_span
from mlflow.utils.uri import append_to_uri_path

from mlflow_dynamodbstore.compat import archival as mlflow_archival
from mlflow_dynamodbstore.repositories.traces.spans import SpanRow

_logger = logging.getLogger(__name__)

TRACE_FOLDER = "traces"
ARTIFACTS_FOLDER = "artifacts"


def payload_uri(location: str, experiment_id: str, trace_id: str) -> str:
    return append_to_uri_path(
        location, str(experiment_id), TRACE_FOLDER, trace_id, ARTIFACTS_FOLDER
    )


def serialize(rows: list[SpanRow]) -> bytes:
    """The spans (ordered by span id, as the SQL store reads them) as ``traces.pb`` bytes;
    MlflowTraceArchivalMalformedTrace if a stored span cannot be read back."""
    try:
        spans = [
            Span.from_dict(translate_loaded_span(json.loads(r.content)))
            for r in sorted(rows, key=lambda r: r.span_id)
        ]
        return mlflow_archival.spans_to_traces_data_pb(spans)
    except (MlflowException, TypeError, ValueError, AttributeError) as e:
        raise mlflow_archival.MlflowTraceArchivalMalformedTrace(str(e)) from e


def upload(artifact_uri: str, data: bytes) -> None:
    """Write the payload (overwriting: a rerun after a crash writes the same bytes)."""
    try:
        get_artifact_repository(artifact_uri).upload_archived_trace_data_bytes(data)
    except Exception as e:
        # Backend-specific upload errors become one retryable error for the pass.
        raise MlflowException("Trace archival upload failed.") from e


def delete(artifact_uri: str) -> None:
    get_artifact_repository(artifact_uri).delete_artifacts(mlflow_archival.TRACE_ARCHIVAL_FILENAME)


def delete_quietly(trace_id: str, artifact_uri: str) -> None:
    """Remove a payload no trace points at (its flip failed or lost a race)."""
    try:
        delete(artifact_uri)
    except Exception:
        _logger.warning(
            "Failed to delete unreferenced archived payload for trace %s.", trace_id, exc_info=True
        )


def archived_spans(trace_info: TraceInfo) -> list[Span]:
    """The spans of an archived trace, read from its payload ([] if the payload is gone, as
    MLflow's artifact repositories answer)."""
    uri = mlflow_archival.get_archive_uri_for_trace(trace_info)
    return get_artifact_repository(uri).download_archived_trace_data().spans


def is_missing_payload_error(exc: Exception) -> bool:
    """A delete that failed only because the payload was already gone (the SQL store's
    test of the same)."""
    if isinstance(exc, FileNotFoundError):
        return True
    if isinstance(exc, MlflowException) and exc.error_code == ErrorCode.Name(
        RESOURCE_DOES_NOT_EXIST
    ):
        return True
    return "No such file or directory" in str(exc) or "No such artifact" in str(exc)


def delete_for_trace_deletion(trace_id: str, artifact_uri: str | None) -> bool:
    """Delete an archived trace's payload before its items: whether the trace may go
    (a missing payload is fine; another failure keeps the trace, as the SQL store)."""
    if not artifact_uri:
        return True
    try:
        delete(artifact_uri)
    except Exception as e:
        if not is_missing_payload_error(e):
            _logger.error(
                "Failed to clean up archived payload for trace %s; leaving the trace intact.",
                trace_id,
                exc_info=True,
            )
            return False
    return True

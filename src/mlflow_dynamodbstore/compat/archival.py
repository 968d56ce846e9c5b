"""MLflow's trace archival helpers (every supported release, 3.15 to 3.17, has them).

``AVAILABLE`` says whether the installed MLflow has them; a release without them makes the
store report no archival support (``supports_trace_archival`` False), so MLflow's server
refuses an archival config instead of the store failing mid-pass.
"""

from __future__ import annotations

try:  # MLflow 3.17+
    from mlflow.exceptions import MlflowTraceArchivalMalformedTrace
    from mlflow.store.tracking.utils.trace_archival import (
        _ArchiveNowRemainingState,
        _ArchiveNowRequest,
        _format_trace_archival_duration_millis,
        _parse_trace_archival_duration_millis,
        _resolve_effective_trace_archival_retention,
    )
    from mlflow.tracing.constant import TraceArchivalFailureReason, TraceExperimentTagKey
    from mlflow.tracing.otel.otel_archival import TRACE_ARCHIVAL_FILENAME, spans_to_traces_data_pb
    from mlflow.tracing.trace_archival_config import get_trace_archival_server_config
    from mlflow.tracing.utils.artifact_utils import get_archive_uri_for_trace
    from mlflow.utils.validation import (
        _validate_trace_archival_location,
        _validate_trace_archival_retention_string,
    )

    AVAILABLE = True
except ImportError:  # pragma: no cover - older MLflow: the names exist, archival is off
    AVAILABLE = False
    MlflowTraceArchivalMalformedTrace = TraceArchivalFailureReason = TraceExperimentTagKey = None
    _ArchiveNowRemainingState = _ArchiveNowRequest = None
    _format_trace_archival_duration_millis = _parse_trace_archival_duration_millis = None
    _resolve_effective_trace_archival_retention = None
    TRACE_ARCHIVAL_FILENAME = spans_to_traces_data_pb = get_archive_uri_for_trace = None
    _validate_trace_archival_location = _validate_trace_archival_retention_string = None
    get_trace_archival_server_config = None

__all__ = [
    "AVAILABLE",
    "TRACE_ARCHIVAL_FILENAME",
    "MlflowTraceArchivalMalformedTrace",
    "TraceArchivalFailureReason",
    "TraceExperimentTagKey",
    "_ArchiveNowRemainingState",
    "_ArchiveNowRequest",
    "_format_trace_archival_duration_millis",
    "_parse_trace_archival_duration_millis",
    "_resolve_effective_trace_archival_retention",
    "_validate_trace_archival_location",
    "_validate_trace_archival_retention_string",
    "get_archive_uri_for_trace",
    "get_trace_archival_server_config",
    "spans_to_traces_data_pb",
]

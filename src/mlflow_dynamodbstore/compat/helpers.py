"""MLflow's other private helpers the store reuses, imported here once (see compat/__init__).

Each exists in every supported release (3.15 to 3.17); a release that moves one needs a
fallback here and nowhere else.
"""

from __future__ import annotations

from mlflow.entities.dataset_summary import _DatasetSummary
from mlflow.store.artifact.utils.models import _parse_model_uri
from mlflow.store.tracking.dbmodels.models import _input_from_dict, _input_to_dict
from mlflow.store.tracking.gateway.sqlalchemy_mixin import _normalize_budget_target_value
from mlflow.store.tracking.sqlalchemy_store import (
    _span_aggregation_node,
    _TraceAggregate,
    _try_parse_json_string,
)
from mlflow.store.tracking.utils.trace_archival import _parse_trace_archival_duration_millis
from mlflow.tracing.utils.truncation import _get_truncated_preview
from mlflow.utils.crypto import (
    _decrypt_secret,
    _encrypt_secret,
    _mask_secret_value,
)
from mlflow.utils.mlflow_tags import _get_run_name_from_tags
from mlflow.utils.name_utils import _generate_random_name

__all__ = [
    "_DatasetSummary",
    "_TraceAggregate",
    "_decrypt_secret",
    "_encrypt_secret",
    "_generate_random_name",
    "_get_run_name_from_tags",
    "_get_truncated_preview",
    "_input_from_dict",
    "_input_to_dict",
    "_mask_secret_value",
    "_normalize_budget_target_value",
    "_parse_model_uri",
    "_parse_trace_archival_duration_millis",
    "_span_aggregation_node",
    "_try_parse_json_string",
]

"""Label schemas (MLflow's ``mlflow.genai.label_schemas``), as the SQL store serves them:
MLflow's own validation, the same errors, the protected default question seeded on the first
list. Review queues are in ``review_queue_ops``."""

from __future__ import annotations

import logging
import uuid

from mlflow.entities import LifecycleStage
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_THRESHOLD
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.repositories.labeling.label_schemas import (
    LabelSchemaMissing,
    LabelSchemaNameTaken,
    LabelSchemaRepository,
    input_columns,
    to_label_schema,
)
from mlflow_dynamodbstore.stores.tracking.experiment_ops import (
    _no_experiment,
    experiment_id_or_default,
)

_logger = logging.getLogger(__name__)
LABEL_SCHEMA_ID_PREFIX = "ls-"


def validate_max_results(max_results, *, allow_null: bool = False) -> None:
    """The SQL store's ``_validate_max_results_param``."""
    if (not allow_null and max_results is None) or (max_results is not None and max_results < 1):
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"a positive integer",
            INVALID_PARAMETER_VALUE,
        )
    if max_results is not None and max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {SEARCH_MAX_RESULTS_THRESHOLD}",
            INVALID_PARAMETER_VALUE,
        )


def _schema_name_taken(name: str, experiment_id: str) -> MlflowException:
    return MlflowException(
        f"Label schema with name '{name}' already exists for experiment '{experiment_id}'.",
        error_code=RESOURCE_ALREADY_EXISTS,
    )


def _schema_not_found(schema_id: str) -> MlflowException:
    return MlflowException(
        f"Label schema with id '{schema_id}' not found.", error_code=RESOURCE_DOES_NOT_EXIST
    )


class LabelingOps:
    """Mixed into DynamoDBTrackingStore, which provides ``label_schemas``, ``experiments``
    and ``_get_active_workspace``."""

    label_schemas: LabelSchemaRepository

    def _labeling_experiment_id(self, experiment_id) -> str:
        """The SQL store's ``_get_experiment(..., ACTIVE_ONLY)``, as its labeling and issue
        methods use it: the canonical id of an active experiment of the workspace, else
        RESOURCE_DOES_NOT_EXIST (a deleted one too). Named apart from ``ScorerOps``'s
        check, which answers a deleted experiment differently, as the SQL scorer methods
        do."""
        experiment_id = experiment_id_or_default(experiment_id)
        item = self.experiments.get(experiment_id)
        if item is None or item.get("lifecycle_stage") != LifecycleStage.ACTIVE:
            raise _no_experiment(experiment_id)
        return experiment_id

    def create_label_schema(
        self, experiment_id, *, name, type, input, instruction=None, enable_comment=False
    ):
        from mlflow.genai.label_schemas.label_schemas import LabelSchemaType
        from mlflow.genai.label_schemas.validation import validate_schema_for_create

        validate_schema_for_create(
            name=name,
            type=type,
            input=input,
            instruction=instruction,
            enable_comment=enable_comment,
        )
        canonical = self._labeling_experiment_id(experiment_id)
        now = get_current_time_millis()
        item = {
            "schema_id": f"{LABEL_SCHEMA_ID_PREFIX}{uuid.uuid4().hex}",
            "experiment_id": canonical,
            "name": name,
            "type": str(LabelSchemaType(str(type))),
            **input_columns(input),
            "instruction": instruction,
            "enable_comment": bool(enable_comment),
            "created_time": now,
            "last_update_time": now,
            "is_default": False,
            "workspace": self._get_active_workspace(),
        }
        try:
            stored = self.label_schemas.create(item)
        except LabelSchemaNameTaken:
            raise _schema_name_taken(name, experiment_id) from None
        return to_label_schema(stored)

    def get_label_schema(self, schema_id):
        item = self.label_schemas.get(schema_id)
        if item is None:
            raise _schema_not_found(schema_id)
        return to_label_schema(item)

    def get_label_schema_by_name(self, experiment_id, name):
        canonical = self._labeling_experiment_id(experiment_id)
        item = self.label_schemas.get_by_name(canonical, name)
        if item is None:
            raise MlflowException(
                f"Label schema with name '{name}' not found for experiment '{experiment_id}'.",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        return to_label_schema(item)

    def list_label_schemas(self, experiment_id, max_results=100, page_token=None):
        validate_max_results(max_results)
        canonical = self._labeling_experiment_id(experiment_id)
        seeded = self._ensure_default_label_schema(canonical)
        page = self.label_schemas.list_page(canonical, max_results, page_token)
        items, token = page.items, page.token
        if seeded is not None and not page_token:
            items, token = self.label_schemas.with_seeded(page, seeded, max_results)
        return PagedList([to_label_schema(i) for i in items], token)

    def _ensure_default_label_schema(self, experiment_id: str) -> dict | None:
        """Seed the experiment's protected default question if absent (one GetItem when it
        exists). Its name guard is the marker: the reserved name can be held by nothing else
        (a pre-existing user schema of that name keeps it, as in the SQL store). Returns the
        item this call wrote, if any."""
        from mlflow.genai.label_schemas.label_schemas import InputText, LabelSchemaType
        from mlflow.genai.label_schemas.validation import (
            DEFAULT_LABEL_SCHEMA_INSTRUCTION,
            DEFAULT_LABEL_SCHEMA_NAME,
        )

        if self.label_schemas.has_name(experiment_id, DEFAULT_LABEL_SCHEMA_NAME):
            return None
        now = get_current_time_millis()
        item = {
            "schema_id": f"{LABEL_SCHEMA_ID_PREFIX}{uuid.uuid4().hex}",
            "experiment_id": experiment_id,
            "name": DEFAULT_LABEL_SCHEMA_NAME,
            "type": str(LabelSchemaType.FEEDBACK),
            **input_columns(InputText()),
            "instruction": DEFAULT_LABEL_SCHEMA_INSTRUCTION,
            "enable_comment": False,
            "created_time": now,
            "last_update_time": now,
            "is_default": True,
            "workspace": self._get_active_workspace(),
        }
        try:
            return self.label_schemas.create(item)
        except LabelSchemaNameTaken:
            return None  # a concurrent list seeded it first

    def update_label_schema(
        self, schema_id, *, name=None, instruction=None, enable_comment=None, input=None
    ):
        from mlflow.genai.label_schemas.validation import validate_schema_for_update

        current = self.label_schemas.get(schema_id)
        if current is None:
            raise _schema_not_found(schema_id)
        validate_schema_for_update(
            existing=to_label_schema(current),
            name=name,
            instruction=instruction,
            enable_comment=enable_comment,
            input=input,
        )
        fields: dict = {}
        if name is not None and name != current["name"]:
            fields["name"] = name
        if instruction is not None:
            fields["instruction"] = instruction
        if enable_comment is not None:
            fields["enable_comment"] = bool(enable_comment)
        if input is not None:
            fields.update(input_columns(input))
        fields["last_update_time"] = get_current_time_millis()
        try:
            updated = self.label_schemas.update(current, fields)
        except LabelSchemaNameTaken:
            raise _schema_name_taken(name, current["experiment_id"]) from None
        except LabelSchemaMissing:
            raise _schema_not_found(schema_id) from None
        return to_label_schema(updated)

    def delete_label_schema(self, schema_id):
        item = self.label_schemas.get(schema_id)
        if item is None:
            _logger.debug("Label schema with id '%s' not found; delete is a no-op.", schema_id)
            return
        if item.get("is_default"):
            raise MlflowException(
                "The experiment's default question cannot be deleted.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        self.label_schemas.delete(item)

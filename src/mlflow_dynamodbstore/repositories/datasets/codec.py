"""Dataset and record items <-> MLflow entities.

Records keep exactly the SQL store's column values: a new record is built with MLflow's own
``SqlEvaluationDatasetRecord.from_mlflow_entity`` (a transient ORM object, never a session),
merged and read back with its ``merge`` and ``to_mlflow_entity`` (on the stored columns), so
outputs wrapping, the merge of expectations and tags, ``created_by`` / ``last_updated_by``
and the JSON round trip are MLflow's. The JSON columns travel as one
zlib-compressed JSON body, as the SQL store's JSON columns are text: in the record's item
(``body``) or, for a record too big for one item, in part items (parts.py).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from types import SimpleNamespace
from typing import Any

from mlflow.entities.dataset_record import DatasetRecord
from mlflow.entities.evaluation_dataset import EvaluationDataset
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.dbmodels.models import SqlEvaluationDatasetRecord
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.gateway.limits import MAX_ITEM_BYTES
from mlflow_dynamodbstore.repositories.datasets import parts
from mlflow_dynamodbstore.schema import dataset_keys
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE

# The JSON columns of a record ("body"); the others are plain attributes.
JSON_COLUMNS = ("inputs", "outputs", "expectations", "tags", "source")
PLAIN_COLUMNS = (
    "dataset_record_id",
    "dataset_id",
    "source_id",
    "source_type",
    "created_time",
    "last_update_time",
    "created_by",
    "last_updated_by",
    "input_hash",
)


class _SqlDatasetLogic:
    """MLflow's own schema inference and digest, borrowed from SqlAlchemyStore (they use no
    database): the DynamoDB store must compute exactly what the SQL store does."""

    _infer_field_type = SqlAlchemyStore._infer_field_type
    _update_dataset_schema = SqlAlchemyStore._update_dataset_schema
    _compute_dataset_digest = SqlAlchemyStore._compute_dataset_digest


SQL_LOGIC = _SqlDatasetLogic()


def input_hash(record_dict: dict[str, Any]) -> str:
    """The SQL store's deduplication key of a record: SHA-256 of its sorted inputs JSON."""
    inputs_json = json.dumps(record_dict.get("inputs", {}), sort_keys=True)
    return hashlib.sha256(inputs_json.encode()).hexdigest()


def record_id_for(dataset_id: str, inputs_hash: str) -> str:
    """A record's id follows from its dataset and inputs (the SQL store draws a random
    ``dr-<uuid hex>``; same shape here): two servers inserting the same inputs at once
    write the same item, and the conditional put lets one of them win."""
    digest = hashlib.sha256(f"{dataset_id}:{inputs_hash}".encode()).hexdigest()[:32]
    return f"{SqlEvaluationDatasetRecord.RECORD_ID_PREFIX}{digest}"


# ---- datasets ------------------------------------------------------------------------
def profile_of(item: dict[str, Any]) -> str | None:
    """The SQL store's ``profile`` column: ``{"num_records": n}`` while the dataset has
    records; before its first record None, after deletes emptied it ``"null"`` (SQL writes
    ``json.dumps(None)`` there)."""
    count = int(item.get("num_records", 0))
    if count > 0:
        return json.dumps({"num_records": count})
    return item.get("empty_profile")


def to_dataset(item: dict[str, Any]) -> EvaluationDataset:
    return EvaluationDataset(
        dataset_id=item["dataset_id"],
        name=item["name"],
        tags=decode_tags(item.get("tags")),
        schema=item.get("schema"),
        profile=profile_of(item),
        digest=item["digest"],
        created_time=int(item["created_time"]),
        last_update_time=int(item["last_update_time"]),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
    )


def dataset_item(
    *,
    workspace: str,
    dataset_id: str,
    name: str,
    digest: str,
    now: int,
    tags: dict[str, Any],
    created_by: str | None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        **dataset_keys.dataset_key(dataset_id),
        **dataset_keys.dataset_list_keys(workspace, now, dataset_id),
        WORKSPACE_ATTRIBUTE: workspace,
        "dataset_id": dataset_id,
        "name": name,
        "digest": digest,
        "created_time": now,
        "last_update_time": now,
        "tags": encode_tags(tags),
        "num_records": 0,
        "version": 1,
    }
    if created_by is not None:
        item["created_by"] = created_by
        item["last_updated_by"] = created_by
    return item


# Tag keys inside META's ``tags`` map carry a one-character prefix: DynamoDB refuses an
# empty attribute name in an update expression, and MLflow allows an empty tag key.
_TAG_KEY_PREFIX = "="


def tag_map_key(key: str) -> str:
    return f"{_TAG_KEY_PREFIX}{key}"


def encode_tags(tags: dict[str, Any]) -> dict[str, Any]:
    return {tag_map_key(k): v for k, v in tags.items()}


def decode_tags(stored: dict[str, Any] | None) -> dict[str, Any]:
    return {k[len(_TAG_KEY_PREFIX) :]: v for k, v in (stored or {}).items()}


def addressable(dataset_id: Any) -> bool:
    """Whether an id can name a dataset item at all (DynamoDB keys hold at most 2 KB): any
    other id is simply unknown, as the SQL store finds no row for it."""
    return isinstance(dataset_id, str) and len(dataset_id.encode()) <= 1024


def tag_value(value: Any) -> str | None:
    """A tag value as the SQL store's String column holds it (SQLite's TEXT affinity turns
    numbers into text; NULL stays NULL)."""
    return None if value is None else str(value)


# ---- records -------------------------------------------------------------------------
def new_sql_record(dataset_id: str, record_id: str, record_dict: dict, now: int, hash_: str):
    """A new record as SqlAlchemyStore.upsert_dataset_records builds it."""
    from mlflow.entities.dataset_record_source import DatasetRecordSource
    from mlflow.utils.mlflow_tags import MLFLOW_USER

    tags = record_dict.get("tags")
    created_by = tags[MLFLOW_USER] if tags and MLFLOW_USER in tags else None
    source = None
    if source_data := record_dict.get("source"):
        source = (
            DatasetRecordSource.from_dict(source_data)
            if isinstance(source_data, dict)
            else source_data
        )
    record = DatasetRecord(
        dataset_record_id=record_id,
        dataset_id=dataset_id,
        inputs=record_dict.get("inputs", {}),
        outputs=record_dict.get("outputs", {}),
        created_time=now,
        last_update_time=now,
        expectations=record_dict.get("expectations"),
        tags=tags,
        source=source,
        created_by=created_by,
        last_updated_by=created_by,
    )
    return SqlEvaluationDatasetRecord.from_mlflow_entity(record, hash_)


class StoredRecord(SimpleNamespace):
    """A record's SQL columns as read back, with MLflow's own ``to_mlflow_entity`` and
    ``merge`` of SqlEvaluationDatasetRecord (neither needs the ORM; skipping its instance
    set-up makes reading a page of thousands of records several times cheaper)."""

    to_mlflow_entity = SqlEvaluationDatasetRecord.to_mlflow_entity
    merge = SqlEvaluationDatasetRecord.merge


def sql_record_of(item: dict[str, Any], body: bytes) -> StoredRecord:
    """The record's SQL columns from its head item and its compressed body (the head's
    ``body``, or its parts joined: parts.load)."""
    columns = {c: item.get(c) for c in PLAIN_COLUMNS}
    for c in ("created_time", "last_update_time"):
        columns[c] = int(columns[c])
    columns.update(json.loads(zlib.decompress(body)))
    return StoredRecord(**columns)


def to_record(item: dict[str, Any], body: bytes) -> DatasetRecord:
    return sql_record_of(item, body).to_mlflow_entity()


def record_items(sql_record: Any, workspace: str, version: int) -> tuple[dict, list[dict]]:
    """The record's head item and, for a body too big to share an item with the head, its
    part items (parts.py); INVALID_PARAMETER_VALUE beyond ``MAX_RECORD_BYTES`` compressed."""
    try:
        body_json = json.dumps({c: getattr(sql_record, c) for c in JSON_COLUMNS})
    except (TypeError, ValueError) as exc:
        raise MlflowException.invalid_parameter_value(
            f"Dataset record values must be JSON-serializable: {exc}"
        ) from None
    body = zlib.compress(body_json.encode(), 6)
    if len(body) > parts.MAX_RECORD_BYTES:
        raise MlflowException.invalid_parameter_value(
            f"Dataset record with inputs {_preview(sql_record.inputs)} is too large: its "
            f"inputs, outputs, expectations, tags and source take {len(body_json)} bytes as "
            f"JSON ({len(body)} compressed); the DynamoDB store holds records of at most "
            f"{parts.MAX_RECORD_BYTES // (1024 * 1024)} MB compressed "
            f"({parts.MAX_RECORD_BYTES} bytes)."
        )
    head: dict[str, Any] = {
        **dataset_keys.dataset_record_key(sql_record.dataset_id, sql_record.dataset_record_id),
        **dataset_keys.dataset_record_order_keys(
            sql_record.dataset_id, sql_record.created_time, sql_record.dataset_record_id
        ),
        WORKSPACE_ATTRIBUTE: workspace,
        "version": version,
    }
    for c in PLAIN_COLUMNS:
        value = getattr(sql_record, c)
        if value is not None:
            head[c] = value
    if not parts.head_fits(head):
        raise MlflowException.invalid_parameter_value(
            f"Dataset record with inputs {_preview(sql_record.inputs)} is too large: its "
            f"source id, source type and user names take more than one DynamoDB item "
            f"({MAX_ITEM_BYTES // 1024} KB)."
        )
    if parts.fits_inline(head, body):
        head["body"] = body
        return head, []
    return head, parts.part_items(head, body, parts.new_generation())


def _preview(inputs: Any) -> str:
    text = json.dumps(inputs, default=str)
    return text if len(text) <= 80 else text[:77] + "..."

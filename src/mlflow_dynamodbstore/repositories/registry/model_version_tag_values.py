"""Trigram postings of model version tag values (``model_version_tag_value``,
fts/field_postings.py), when that field is configured.

The scope is the workspace-wide one (``*``) and the tag key, the entity the version
(``<model id>#<version>``, schema/model_version_tag_keys.py): ``tags.team LIKE '%vision%'``
in search_model_versions reads only postings of values of ``team`` in the workspace, and a
model rename moves nothing (the model id stays). Tag writes go through
repositories/tag_value_writes.py (the version item's old value read, its update conditioned
on it and the posting change in one transaction); a deleted version's postings go with its
deletion (a deleted version is never searched again and expires by TTL).
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.field_postings import MODEL_VERSION_TAG_VALUE
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE
from mlflow_dynamodbstore.schema.model_version_tag_keys import version_entity_id

Item = dict[str, Any]

_DELETED_STAGE = "Deleted_Internal"  # STAGE_DELETED_INTERNAL


def document(workspace: str, model_id: str, version: int, key: str):
    return field_postings.value_document(
        workspace,
        MODEL_VERSION_TAG_VALUE,
        WORKSPACE_SCOPE,
        key,
        version_entity_id(model_id, version),
    )


def tag_posting_keys(
    workspace: str, model_id: str, version: int, tags: dict[str, Any]
) -> list[Item]:
    """Every posting of the version's tag values (to write, move or delete them)."""
    return [
        posting
        for key, value in tags.items()
        for posting in field_postings.value_keys(document(workspace, model_id, version, key), value)
    ]


def item_posting_keys(item: Item, workspace: str | None = None) -> list[Item]:
    """``tag_posting_keys`` of a version item (in ``workspace``, default its own); none for
    a deleted version (its postings went with the deletion)."""
    if item.get("current_stage") == _DELETED_STAGE:
        return []
    return tag_posting_keys(
        workspace or str(item["workspace"]),
        item["model_id"],
        int(item["version"]),
        item.get("tags") or {},
    )

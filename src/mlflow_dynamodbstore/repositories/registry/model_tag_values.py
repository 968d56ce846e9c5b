"""Trigram postings of registered model tag values (``model_tag_value``,
fts/field_postings.py), when that field is configured.

The scope is the workspace-wide one (``*``, as model names) and the tag key:
``tags.team LIKE '%vision%'`` in search_registered_models reads only postings of values of
``team``. Prompts are registered models too (their tags are indexed the same way; the
search's prompt filter applies to the candidates). Writes go through
repositories/tag_value_writes.py: the tag's old value read, META's update conditioned on it
and the posting change in one transaction.
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.field_postings import MODEL_TAG_VALUE
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE

Item = dict[str, Any]


def document(workspace: str, model_id: str, key: str):
    return field_postings.value_document(workspace, MODEL_TAG_VALUE, WORKSPACE_SCOPE, key, model_id)


def tag_posting_keys(workspace: str, model_id: str, tags: dict[str, Any]) -> list[Item]:
    """Every posting of the model's tag values (to write, move or delete them)."""
    return [
        posting
        for key, value in tags.items()
        for posting in field_postings.value_keys(document(workspace, model_id, key), value)
    ]


def meta_posting_keys(meta: Item) -> list[Item]:
    """``tag_posting_keys`` of a model's META item."""
    return tag_posting_keys(str(meta["workspace"]), meta["model_id"], meta.get("tags") or {})

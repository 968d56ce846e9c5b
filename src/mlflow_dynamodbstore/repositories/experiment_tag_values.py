"""Trigram postings of experiment tag values (``experiment_tag_value``,
fts/field_postings.py), when that field is configured.

The scope is the workspace-wide one (``*``, as experiment names) and the tag key:
``tags.team LIKE '%vision%'`` in search_experiments reads only postings of values of
``team``. Experiment descriptions are the ``mlflow.note.content`` tag, so they are indexed
this way too (no MLflow search filters on a description otherwise).

Writes: a tag set or deleted needs the old value to move the postings (META's ``tags`` map
is updated in place), so with the field on ``set_experiment_tag`` / ``delete_experiment_tag``
read META (1 GetItem) and write META and the posting change in one TransactWriteItems
conditioned on the value read (a concurrent change of the same tag re-reads and retries).
``create_experiment`` puts its tags' postings in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.field_postings import EXPERIMENT_TAG_VALUE
from mlflow_dynamodbstore.fts.postings import PostingChange, transact_with_postings
from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Conflict
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE

Item = dict[str, Any]
_MISSING = object()


def document(workspace: str, experiment_id: str, key: str):
    return field_postings.value_document(
        workspace, EXPERIMENT_TAG_VALUE, WORKSPACE_SCOPE, key, experiment_id
    )


def tag_posting_keys(workspace: str, experiment_id: str, tags: dict[str, Any]) -> list[Item]:
    """Every posting of the experiment's tag values (to write, move or delete them)."""
    return [
        posting
        for key, value in tags.items()
        for posting in field_postings.value_keys(document(workspace, experiment_id, key), value)
    ]


def meta_posting_keys(meta: Item) -> list[Item]:
    """``tag_posting_keys`` of an experiment's META item."""
    workspace = str(meta.get("workspace") or "")
    return tag_posting_keys(workspace, str(meta["experiment_id"]), meta.get("tags") or {})


class NotActive(Exception):
    """The experiment is missing from the workspace or not active (``item``: what was read)."""

    def __init__(self, item: Item | None):
        super().__init__()
        self.item = item


class TagAbsent(Exception):
    """delete_tag named a key the experiment does not have."""


def _value_condition(tags: dict[str, Any], key: str, values: dict[str, Any]) -> str:
    """The tag still holds what was read (or is still absent)."""
    if key not in tags:
        return "attribute_not_exists(#u_tags.#u_key)"
    if tags[key] is None:
        values[":u_null"] = "NULL"
        return "attribute_type(#u_tags.#u_key, :u_null)"
    values[":u_old"] = tags[key]
    return "#u_tags.#u_key = :u_old"


class ExperimentTagValues:
    """Tag writes that carry their postings (only used while the field is configured)."""

    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def _read_active(self, experiment_id: str, workspace: str) -> Item:
        item = self.gateway.get_item(keys.experiment_key(experiment_id))
        if (
            item is None
            or item.get("workspace") != workspace
            or item.get("lifecycle_stage") != LifecycleStage.ACTIVE
        ):
            raise NotActive(item)
        return item

    def _write(
        self,
        experiment_id: str,
        workspace: str,
        key: str,
        expression: str,
        change_of: Callable[[Any], PostingChange],
        extra: list[dict],
        value: Any = _MISSING,
        must_exist: bool = False,
    ) -> None:
        def read(_lost: Lost | None) -> Item:
            return self._read_active(experiment_id, workspace)

        def write(item: Item) -> None:
            tags = item.get("tags") or {}
            if must_exist and key not in tags:
                raise TagAbsent(key)
            names = {
                "#u_tags": "tags",
                "#u_key": key,
                "#u_ws": "workspace",
                "#u_stage": "lifecycle_stage",
            }
            values: dict[str, Any] = {":u_ws": workspace, ":u_active": LifecycleStage.ACTIVE}
            condition = "#u_ws = :u_ws AND #u_stage = :u_active AND " + _value_condition(
                tags, key, values
            )
            if value is not _MISSING:
                values[":u_value"] = value
            update = self.gateway.tx_update(
                keys.experiment_key(experiment_id),
                expression,
                names=names,
                values=values,
                condition_expression=condition,
            )
            try:
                transact_with_postings(self.gateway, [update, *extra], change_of(tags.get(key)))
            except TransactionCancelled as exc:
                if exc.is_condition_failure:
                    raise Conflict() from None  # changed meanwhile: read it again
                raise

        optimistic(read, write, what=f"experiment {experiment_id}")

    def set_tag(
        self, experiment_id: str, workspace: str, key: str, value: Any, extra: list[dict]
    ) -> None:
        """SET the tag, moving its value's postings (and ``extra`` actions, e.g. the tag
        index entry) in one transaction."""
        doc = document(workspace, experiment_id, key)
        self._write(
            experiment_id,
            workspace,
            key,
            "SET #u_tags.#u_key = :u_value",
            lambda old: field_postings.value_moved(doc, old, value),
            extra,
            value=value,
        )

    def delete_tag(self, experiment_id: str, workspace: str, key: str, extra: list[dict]) -> None:
        """REMOVE the tag with its value's postings; TagAbsent when it is not there."""
        doc = document(workspace, experiment_id, key)
        self._write(
            experiment_id,
            workspace,
            key,
            "REMOVE #u_tags.#u_key",
            lambda old: field_postings.value_moved(doc, old, None),
            extra,
            must_exist=True,
        )

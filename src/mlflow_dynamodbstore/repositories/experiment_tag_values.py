"""Trigram postings of experiment tag values (``experiment_tag_value``,
fts/field_postings.py), when that field is configured.

The scope is the workspace-wide one (``*``, as experiment names) and the tag key:
``tags.team LIKE '%vision%'`` in search_experiments reads only postings of values of
``team``. Experiment descriptions are the ``mlflow.note.content`` tag, so they are indexed
this way too (no MLflow search filters on a description otherwise).

Writes: with the field on ``set_experiment_tag`` / ``delete_experiment_tag`` read META
(1 GetItem) for the old value and write META and the posting change in one
TransactWriteItems conditioned on it (repositories/tag_value_writes.py).
``create_experiment`` puts its tags' postings in its own transaction.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.field_postings import EXPERIMENT_TAG_VALUE
from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.optimistic import Lost
from mlflow_dynamodbstore.repositories.tag_value_writes import REMOVE, TagAbsent, TagValueWrite
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE

Item = dict[str, Any]
__all__ = ["ExperimentTagValues", "NotActive", "TagAbsent", "document", "tag_posting_keys"]


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


class ExperimentTagValues:
    """Tag writes that carry their postings (only used while the field is configured)."""

    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def _writer(self, experiment_id: str, workspace: str) -> TagValueWrite:
        def read(_lost: Lost | None) -> Item:
            item = self.gateway.get_item(keys.experiment_key(experiment_id))
            if (
                item is None
                or item.get("workspace") != workspace
                or item.get("lifecycle_stage") != LifecycleStage.ACTIVE
            ):
                raise NotActive(item)
            return item

        return TagValueWrite(
            self.gateway,
            keys.experiment_key(experiment_id),
            read,
            lambda key: document(workspace, experiment_id, key),
            what=f"experiment {experiment_id}",
            guard="#u_ws = :u_ws AND #u_stage = :u_active",
            guard_names={"#u_ws": "workspace", "#u_stage": "lifecycle_stage"},
            guard_values={":u_ws": workspace, ":u_active": LifecycleStage.ACTIVE},
        )

    def set_tag(
        self, experiment_id: str, workspace: str, key: str, value: Any, extra: list[dict]
    ) -> None:
        """SET the tag, moving its value's postings (and ``extra`` actions, e.g. the tag
        index entry) in one transaction."""
        self._writer(experiment_id, workspace).write(key, value, extra)

    def delete_tag(self, experiment_id: str, workspace: str, key: str, extra: list[dict]) -> None:
        """REMOVE the tag with its value's postings; TagAbsent when it is not there."""
        self._writer(experiment_id, workspace).write(key, REMOVE, extra, must_exist=True)

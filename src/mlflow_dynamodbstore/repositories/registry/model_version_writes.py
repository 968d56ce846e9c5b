"""Model version writes that change one live version in place (``update``) and its tags
(with the tag values' trigram postings when ``model_version_tag_value`` is indexed,
repositories/registry/model_version_tag_values.py); the base of ModelVersionRepository
(model_versions.py), which adds creates, descriptions and the writes that change stages."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.entities.model_registry.prompt_version import IS_PROMPT_TAG_KEY

from mlflow_dynamodbstore.config.settings import SettingsSource
from mlflow_dynamodbstore.fts.field_postings import MODEL_VERSION_TAG_VALUE
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Contention
from mlflow_dynamodbstore.repositories.registry import model_version_tag_values
from mlflow_dynamodbstore.repositories.registry.model_version_reads import ModelVersionReads
from mlflow_dynamodbstore.repositories.tag_value_writes import REMOVE, TagValueWrite
from mlflow_dynamodbstore.schema import keys

Item = dict[str, Any]

# META's number set of the versions (live or deleted) whose prompt tag is "true".
PROMPT_VERSIONS = "prompt_versions"


class VersionNotFound(Exception):
    """No live version with this number."""


class ConcurrentModification(Exception):
    """META's ``rev`` kept changing under us for every retry."""


def is_live(item: Item) -> bool:
    return item.get("current_stage") != STAGE_DELETED_INTERNAL


class ModelVersionTagWrites(ModelVersionReads):
    def __init__(self, gateway: TableGateway, settings: SettingsSource | None = None):
        super().__init__(gateway)
        # which trigram fields are on (model_version_tag_value); None: not indexed
        self._settings = settings

    def tag_values_indexed(self) -> bool:
        return self._settings is not None and self._settings.current().indexes_trigrams(
            MODEL_VERSION_TAG_VALUE
        )

    def update(self, model_id: str, version: int, expr: str, names: dict, values: dict) -> Item:
        """Update a live version; VersionNotFound if it does not exist or was deleted."""
        try:
            attrs = self.gateway.update_item(
                keys.model_version_key(model_id, version),
                expr,
                names=names,
                values=values,
                condition=Attr("PK").exists() & Attr("current_stage").ne(STAGE_DELETED_INTERNAL),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise VersionNotFound(f"{model_id}/{version}") from None
        assert attrs is not None
        return attrs

    def _tag_writer(self, model_id: str, version: int, item: Item | None) -> TagValueWrite:
        """A tag write with its value postings; ``item``: the version as the caller just
        read it (the first attempt's state; a lost race reads it again)."""

        def read(lost: object) -> Item:
            found = item if lost is None and item is not None else None
            found = found or self.get(model_id, version)
            if found is None or not is_live(found):
                raise VersionNotFound(f"{model_id}/{version}")
            return found

        workspace = str((item or {}).get("workspace") or "")
        return TagValueWrite(
            self.gateway,
            keys.model_version_key(model_id, version),
            read,
            lambda key: model_version_tag_values.document(workspace, model_id, version, key),
            what=f"model version {model_id}/{version}",
            guard="attribute_exists(#u_pk) AND #u_stage <> :u_deleted",
            guard_names={"#u_pk": "PK", "#u_stage": "current_stage"},
            guard_values={":u_deleted": STAGE_DELETED_INTERNAL},
        )

    def _prompt_mark(self, model_id: str, version: int, marked: bool) -> dict:
        """META's side of a prompt tag change (see ``_update_with_prompt_mark``)."""
        return self.gateway.tx_update(
            keys.registered_model_key(model_id),
            f"{'ADD' if marked else 'DELETE'} #u_pv :u_pv",
            names={"#u_pv": PROMPT_VERSIONS},
            values={":u_pv": {version}},
            condition=Attr("PK").exists(),
        )

    def _indexed_tag_write(
        self, model_id: str, version: int, key: str, value: Any, item: Item | None
    ) -> bool:
        """The tag write with its postings, when indexed and the caller read the version;
        False when not (the plain update then)."""
        if item is None or not self.tag_values_indexed():
            return False
        extra = []
        if key == IS_PROMPT_TAG_KEY:
            marked = value is not REMOVE and value == "true"
            extra.append(self._prompt_mark(model_id, version, marked))
        try:
            self._tag_writer(model_id, version, item).write(key, value, extra)
        except Contention:
            raise ConcurrentModification(model_id) from None
        return True

    def set_tag(
        self, model_id: str, version: int, key: str, value: str, item: Item | None = None
    ) -> None:
        """``item``: the live version as just read (needed to move its value's postings
        when tag values are indexed)."""
        if self._indexed_tag_write(model_id, version, key, value, item):
            return
        expr, names, values = (
            "SET #u_tags.#u_k = :u_v",
            {"#u_tags": "tags", "#u_k": key},
            {":u_v": value},
        )
        if key == IS_PROMPT_TAG_KEY:
            self._update_with_prompt_mark(model_id, version, expr, names, values, value == "true")
        else:
            self.update(model_id, version, expr, names, values)

    def delete_tag(self, model_id: str, version: int, key: str, item: Item | None = None) -> None:
        # an absent key too: the condition then holds it absent (a REMOVE no-op)
        if self._indexed_tag_write(model_id, version, key, REMOVE, item):
            return
        expr, names = "REMOVE #u_tags.#u_k", {"#u_tags": "tags", "#u_k": key}
        if key == IS_PROMPT_TAG_KEY:
            self._update_with_prompt_mark(model_id, version, expr, names, {}, False)
        else:
            self.update(model_id, version, expr, names, {})

    def _update_with_prompt_mark(
        self, model_id: str, version: int, expr: str, names: dict, values: dict, marked: bool
    ) -> None:
        """A change of the prompt tag also adds the version to (or removes it from) META's
        ``prompt_versions``, in one transaction: searches exclude every version of a model
        any version of which is a prompt (the SQL store's anti-join), from META alone."""
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_update(
                        keys.model_version_key(model_id, version),
                        expr,
                        names=names,
                        values=values or None,
                        condition=Attr("PK").exists()
                        & Attr("current_stage").ne(STAGE_DELETED_INTERNAL),
                    ),
                    self._prompt_mark(model_id, version, marked),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise VersionNotFound(f"{model_id}/{version}") from None
            raise

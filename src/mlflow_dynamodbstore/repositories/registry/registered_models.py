"""Registered models: the META item of ``RM#<model id>``, its name guard and the workspace
listing (GSI1).

A model has a stable internal id; versions live in the same partition (see
``model_versions.py``). The name guard ``WS#<ws>`` / ``RMNAME#<name>`` maps names to ids and
makes names unique per workspace (written with ``attribute_not_exists`` in the same
transaction as the META item). META carries the small per-model collections inline:

- ``tags``: map key -> value,
- ``aliases``: map alias -> version number,
- ``latest``: map stage -> highest live version number in that stage (what MLflow returns as
  ``latest_versions``), maintained by every write that changes a version's stage,
- ``first``: map stage -> lowest live version number in that stage (the SQL store lists a
  model's latest versions in that order), maintained alongside ``latest``,
- ``next_version``: the last version number given out (claimed in create_model_version's
  transaction, conditioned on the value read),
- ``rev``: bumped by every write that changes ``latest``/``aliases``; writes that recompute
  them from a read of the partition are conditional on it (optimistic concurrency),
- ``renamed_time``: when the model was last renamed. MLflow's SQL store rewrites every
  version's ``last_updated_time`` on a rename; here a version's effective last update is
  ``max(its own, renamed_time)``, so a rename does not touch the versions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.config.settings import SettingsSource
from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.field_postings import MODEL_TAG_VALUE, MODEL_VERSION_TAG_VALUE
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import GatewayError
from mlflow_dynamodbstore.gateway.paging import growing_walk
from mlflow_dynamodbstore.repositories.registry import (
    model_tag_values,
    model_version_tag_values,
    version_number_order,
)
from mlflow_dynamodbstore.repositories.registry.order_state import walk_time_listing
from mlflow_dynamodbstore.repositories.tag_value_writes import REMOVE, TagValueWrite
from mlflow_dynamodbstore.schema import indexes, keys, registry_order_keys
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE

Item = dict[str, Any]
_log = logging.getLogger(__name__)

_DELETED_STAGE = "Deleted_Internal"  # STAGE_DELETED_INTERNAL (model_versions imports us)

# Sort keys are at most 1024 bytes; the facade refuses longer names at create/rename.
_MAX_KEY_NAME_BYTES = 1000


def _storable(name: str) -> bool:
    return len(name.encode("utf-8")) <= _MAX_KEY_NAME_BYTES


def update_order_fields(model_id: str, time: int) -> tuple[str, dict, dict]:
    """``SET`` clause (without the keyword), names and values that move a model to ``time``
    in REGISTERED_MODELS_BY_LAST_UPDATE: every write of META's ``last_updated_time`` adds
    it, so the listing's order is the model's last update. Only the sort key is set: an
    item written before the listing existed has no partition key there until the backfill
    adds both."""
    return (
        "#u_usk = :u_usk",
        {"#u_usk": indexes.REGISTERED_MODELS_BY_LAST_UPDATE.sk},
        {":u_usk": registry_order_keys.model_update_sk(time, model_id)},
    )


def name_document(workspace: str, model_id: str) -> postings.Document:
    """The model's name in the trigram index (one workspace-wide posting list; model
    version searches use it too, a version's name being its model's)."""
    return postings.Document(workspace, postings.MODEL_NAME, WORKSPACE_SCOPE, model_id)


class ModelNameTaken(Exception):
    """Another registered model in the workspace has this name."""


class ModelNotFound(Exception):
    """The registered model does not exist (any more)."""


class RegisteredModelRepository:
    def __init__(self, gateway: TableGateway, settings: SettingsSource | None = None):
        self.gateway = gateway
        # which trigram fields are on (model_tag_value); None: tag values are not indexed
        self._settings = settings

    def tag_values_indexed(self) -> bool:
        return self._indexes(MODEL_TAG_VALUE)

    def _indexes(self, field: str) -> bool:
        return self._settings is not None and self._settings.current().indexes_trigrams(field)

    # ---- reads -----------------------------------------------------------------------
    def get_id(self, workspace: str, name: str) -> str | None:
        if not _storable(name):
            return None  # no model can have it; DynamoDB would refuse the key
        guard = self.gateway.get_item(keys.registered_model_name_key(workspace, name))
        return guard["model_id"] if guard else None

    def get(self, model_id: str) -> Item | None:
        return self.gateway.get_item(keys.registered_model_key(model_id))

    def get_many(self, model_ids: list[str]) -> list[Item]:
        """META items of the ids that exist in the workspace (BatchGetItem, 100 each)."""
        return self.gateway.batch_get([keys.registered_model_key(i) for i in model_ids])

    def find(self, workspace: str, name: str) -> Item | None:
        """The META item of the model called ``name`` in ``workspace`` (2 GetItems)."""
        model_id = self.get_id(workspace, name)
        if model_id is None:
            return None
        item = self.get(model_id)
        # The guard and META are written and deleted together; re-check in case a rename or
        # delete committed between the two reads.
        if item is None or item["name"] != name:
            return None
        return item

    def find_many(self, workspace: str, names: list[str]) -> list[Item]:
        """META items of the named models that exist (2 BatchGetItems per 100 names)."""
        guards = self.gateway.batch_get(
            [keys.registered_model_name_key(workspace, n) for n in names if _storable(n)],
            consistent=True,
        )
        metas = self.gateway.batch_get(
            [keys.registered_model_key(g["model_id"]) for g in guards], consistent=True
        )
        return [m for m in metas if m["name"] in names]

    def list_in_workspace(self, workspace: str) -> Iterator[Item]:
        """Every registered model META item of a workspace, by name (GSI1)."""
        listing = indexes.REGISTERED_MODELS_BY_NAME
        return self.gateway.query(
            listing.pk_eq(keys.registered_models_gsi1pk(workspace)), index=listing.index
        )

    def walk_by_name(
        self,
        workspace: str,
        *,
        descending: bool = False,
        start: str | None = None,
        first_page: int = 100,
    ) -> Iterator[Item]:
        """The workspace's model META items in name order (GSI1), lazily, from ``start``
        (inclusive) on: each Query asks for twice as many items as the one before (up to
        1,000), so a caller that stops after its page pays for little more than it used."""
        listing = indexes.REGISTERED_MODELS_BY_NAME
        pk = keys.registered_models_gsi1pk(workspace)
        if not start or not _storable(start):
            condition = listing.pk_eq(pk)
        elif descending:
            condition = listing.key_condition(pk, upper=start)
        else:
            condition = listing.key_condition(pk, lower=start)
        yield from growing_walk(
            self.gateway,
            condition,
            index=listing.index,
            forward=not descending,
            first_page=first_page,
        )

    def walk_by_update(
        self, workspace: str, *, descending: bool, start: int | None = None, first_page: int = 100
    ) -> Iterator[list[Item]]:
        """Pages of the workspace's model META items by last update (GSI2), from the
        entries at time ``start`` (inclusive) on."""
        return walk_time_listing(
            self.gateway,
            indexes.REGISTERED_MODELS_BY_LAST_UPDATE,
            registry_order_keys.models_by_update_pk(workspace),
            descending,
            start,
            first_page,
        )

    # ---- writes ----------------------------------------------------------------------
    def create(
        self,
        *,
        model_id: str,
        workspace: str,
        name: str,
        creation_time: int,
        description: str | None,
        tags: dict[str, str],
    ) -> Item:
        item = {
            **keys.registered_model_key(model_id),
            **keys.registered_model_list_keys(workspace, name),
            **registry_order_keys.model_update_keys(workspace, creation_time, model_id),
            "model_id": model_id,
            "workspace": workspace,
            "name": name,
            "creation_time": creation_time,
            "last_updated_time": creation_time,
            "description": description,
            "tags": dict(tags),
            "aliases": {},
            "latest": {},
            "first": {},
            "next_version": 0,
            "rev": 0,
        }
        guard = {**keys.registered_model_name_key(workspace, name), "model_id": model_id}
        try:
            postings.transact_with_postings(
                self.gateway,
                [
                    self.gateway.tx_put(guard, Attr("PK").not_exists()),
                    self.gateway.tx_put(item, Attr("PK").not_exists()),
                ],
                self._created_postings(workspace, model_id, name, tags),
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise ModelNameTaken(name) from None
            raise
        return item

    def update_description(self, model_id: str, description: str | None, time: int) -> Item:
        order, order_names, order_values = update_order_fields(model_id, time)
        return self._update(
            model_id,
            f"SET #u_d = :u_d, #u_t = :u_t, {order}",
            {"#u_d": "description", "#u_t": "last_updated_time", **order_names},
            {":u_d": description, ":u_t": time, **order_values},
        )

    def touch_renamed(self, model_id: str, time: int) -> Item:
        """A rename to the same name: only the timestamps move, as in the SQL store (the
        versions' too, see ``stamp_versions``)."""
        order, order_names, order_values = update_order_fields(model_id, time)
        self.stamp_versions(model_id, time)
        return self._update(
            model_id,
            f"SET #u_t = :u_t, #u_r = :u_t, {order}",
            {"#u_t": "last_updated_time", "#u_r": "renamed_time", **order_names},
            {":u_t": time, **order_values},
        )

    def stamp_versions(self, model_id: str, time: int) -> None:
        """A rename sets every version's last update, as the SQL store does (so the versions
        move in MODEL_VERSIONS_BY_LAST_UPDATE): one Query of the partition and one
        UpdateItem per live version, written just before the rename's transaction, so a
        failure in between leaves the rename undone and retryable (at worst versions
        stamped by a rename that then lost a race for the name: a later last update)."""
        by_update = indexes.MODEL_VERSIONS_BY_LAST_UPDATE
        for item in self.gateway.query(
            Key("PK").eq(keys.registered_model_pk(model_id))
            & Key("SK").begins_with(keys.MODEL_VERSION_PREFIX),
            consistent=True,
        ):
            if item.get("current_stage") == _DELETED_STAGE:
                continue
            sk = registry_order_keys.version_order_sk(time, model_id, int(item["version"]))
            # deleted meanwhile, or updated after the rename (its own time is later)
            with contextlib.suppress(ConditionFailed):
                self.gateway.update_item(
                    {"PK": item["PK"], "SK": item["SK"]},
                    "SET #u_t = :u_t, #u_sk = :u_sk",
                    names={"#u_t": "last_updated_time", "#u_sk": by_update.sk},
                    values={":u_t": time, ":u_sk": sk},
                    condition=Attr("PK").exists()
                    & Attr("current_stage").ne(_DELETED_STAGE)
                    & Attr("last_updated_time").lte(time),
                )

    def _created_postings(
        self, workspace: str, model_id: str, name: str, tags: dict[str, Any]
    ) -> postings.PostingChange:
        change = postings.created(name_document(workspace, model_id), name)
        if tags and self.tag_values_indexed():
            change.puts.extend(model_tag_values.tag_posting_keys(workspace, model_id, tags))
        return change

    def _tag_writer(self, model_id: str, meta: Item | None) -> TagValueWrite:
        """A tag write with its value postings; ``meta``: META as the caller just read it
        (the first attempt's state; a lost race reads it again)."""

        def read(lost: object) -> Item:
            item = meta if lost is None and meta is not None else None
            item = item or self.gateway.get_item(keys.registered_model_key(model_id))
            if item is None:
                raise ModelNotFound(model_id)
            return item

        workspace = str((meta or {}).get("workspace") or "")
        return TagValueWrite(
            self.gateway,
            keys.registered_model_key(model_id),
            read,
            lambda key: model_tag_values.document(workspace, model_id, key),
            what=f"registered model {model_id}",
            guard="attribute_exists(#u_pk)",
            guard_names={"#u_pk": "PK"},
        )

    def set_tag(self, model_id: str, key: str, value: str, meta: Item | None = None) -> None:
        if self.tag_values_indexed() and meta is not None:
            self._tag_writer(model_id, meta).write(key, value, [])
            return
        self._update(
            model_id, "SET #u_tags.#u_k = :u_v", {"#u_tags": "tags", "#u_k": key}, {":u_v": value}
        )

    def delete_tag(self, model_id: str, key: str, meta: Item | None = None) -> None:
        if self.tag_values_indexed() and meta is not None:
            # an absent key too: the condition then holds it absent (a REMOVE no-op)
            self._tag_writer(model_id, meta).write(key, REMOVE, [])
            return
        self._update(model_id, "REMOVE #u_tags.#u_k", {"#u_tags": "tags", "#u_k": key}, {})

    def _update(self, model_id: str, expr: str, names: dict, values: dict) -> Item:
        try:
            attrs = self.gateway.update_item(
                keys.registered_model_key(model_id),
                expr,
                names=names,
                values=values,
                condition=Attr("PK").exists(),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise ModelNotFound(model_id) from None
        assert attrs is not None
        return attrs

    def rename(self, item: Item, new_name: str, time: int) -> Item:
        """Move the name guard and rename META in one transaction (3 writes, whatever the
        number of versions), then file the versions under the new name in version-number
        order (1 Query, 1 transaction per 99 versions: version_number_order.py)."""
        model_id, workspace, old_name = item["model_id"], item["workspace"], item["name"]
        new_guard = {**keys.registered_model_name_key(workspace, new_name), "model_id": model_id}
        list_keys = keys.registered_model_list_keys(workspace, new_name)
        order, order_names, order_values = update_order_fields(model_id, time)
        if self.get_id(workspace, new_name) is not None:
            raise ModelNameTaken(new_name)  # before the versions are stamped
        self.stamp_versions(model_id, time)
        actions = [
            self.gateway.tx_put(new_guard, Attr("PK").not_exists()),
            self.gateway.tx_delete(
                keys.registered_model_name_key(workspace, old_name),
                Attr("model_id").eq(model_id),
            ),
            self.gateway.tx_update(
                keys.registered_model_key(model_id),
                f"SET #u_n = :u_n, #u_sk = :u_sk, #u_t = :u_t, #u_r = :u_t, {order}",
                names={
                    "#u_n": "name",
                    "#u_sk": indexes.REGISTERED_MODELS_BY_NAME.sk,
                    "#u_t": "last_updated_time",
                    "#u_r": "renamed_time",
                    **order_names,
                },
                values={
                    ":u_n": new_name,
                    ":u_sk": indexes.REGISTERED_MODELS_BY_NAME.sort_key(list_keys),
                    ":u_t": time,
                    **order_values,
                },
                condition=Attr("name").eq(old_name),
            ),
        ]
        names = postings.moved(name_document(workspace, model_id), old_name, new_name)
        try:
            postings.transact_with_postings(self.gateway, actions, names)
        except TransactionCancelled as exc:
            if 0 in exc.failed_conditions():
                raise ModelNameTaken(new_name) from None
            if exc.is_condition_failure:
                raise ModelNotFound(model_id) from None
            raise
        # The versions' place in version-number order follows the name. The rename has
        # committed: a failure here must not answer an error for it (a retried rename would
        # find no model of the old name); the keys stay under the old name until the next
        # rename or `registry backfill-version-order` (docs/version-number-paging.md).
        try:
            version_number_order.rekey_model(self.gateway, model_id)
        except (version_number_order.ModelKeepsChanging, GatewayError) as exc:
            _log.warning(
                "model %s: versions not re-keyed after its rename (%s); run `registry "
                "backfill-version-order` to file them under the new name",
                model_id,
                type(exc).__name__,
            )
        return {**item, "name": new_name, "last_updated_time": time, "renamed_time": time}

    def delete(self, item: Item) -> None:
        """Remove the guard and META together (the model is gone from then on), then the rest
        of its partition (versions) in batches."""
        model_id = item["model_id"]
        names = postings.removed(name_document(item["workspace"], model_id), item["name"])
        if self.tag_values_indexed():
            names.deletes.extend(model_tag_values.meta_posting_keys(item))
        try:
            postings.transact_with_postings(
                self.gateway,
                [
                    self.gateway.tx_delete(
                        keys.registered_model_name_key(item["workspace"], item["name"]),
                        Attr("model_id").eq(model_id),
                    ),
                    self.gateway.tx_delete(
                        keys.registered_model_key(model_id), Attr("PK").exists()
                    ),
                ],
                names,
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise ModelNotFound(model_id) from None
            raise
        rest = list(
            self.gateway.query(Key("PK").eq(keys.registered_model_pk(model_id)), consistent=True)
        )
        if self._indexes(MODEL_VERSION_TAG_VALUE):  # the versions' tag value postings
            self.gateway.batch_write(
                deletes=[
                    p
                    for i in rest
                    if i["SK"].startswith(keys.MODEL_VERSION_PREFIX)
                    for p in model_version_tag_values.item_posting_keys(i)
                ]
            )
        self.gateway.batch_write(deletes=[{"PK": i["PK"], "SK": i["SK"]} for i in rest])

"""Model versions: ``RM#<model id>`` / ``V#<version>`` items in their model's partition.

A version item carries its tags inline (map key -> value) so that one GetItem or BatchGetItem
returns a whole ``ModelVersion``. Version numbers come from the model's ``next_version``
counter, claimed in the transaction that writes the version (conditioned on the value
read) or, when many creators race, reserved first with an atomic ADD, so concurrent creates
never collide or skip. Writes that change which versions are live or in which stage
(transition, delete) read the model's partition, recompute META's ``latest``/``aliases``
and commit the version changes and META together in one transaction conditional on META's
``rev`` (retried when another writer got there first).

Deleting a version is a soft delete, as in MLflow's SQL store: the item stays with stage
``Deleted_Internal`` and redacted fields (its tags are kept); aliases pointing to it go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.entities.model_registry.model_version_stages import (
    STAGE_ARCHIVED,
    STAGE_DELETED_INTERNAL,
)
from mlflow.entities.model_registry.prompt_version import IS_PROMPT_TAG_KEY

from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.gateway import ConditionFailed, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Conflict, Contention
from mlflow_dynamodbstore.gateway.limits import MAX_PARTITION_KEY_BYTES, TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic, version_of
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.registry import model_version_tag_values
from mlflow_dynamodbstore.repositories.registry.model_version_writes import (
    PROMPT_VERSIONS,  # re-exported: searches and backfills import them from here
    ConcurrentModification,
    ModelVersionTagWrites,
    VersionNotFound,
    is_live,
)
from mlflow_dynamodbstore.repositories.registry.registered_models import (
    ModelNotFound,
    update_order_fields,
)
from mlflow_dynamodbstore.schema import indexes, keys, registry_order_keys, version_number_keys
from mlflow_dynamodbstore.schema.table import TTL_ATTRIBUTE

Item = dict[str, Any]

# Writes of a version whose number is already reserved: giving up would leave a gap in the
# numbers, so these keep trying longer than the default 20.
_RESERVED_ATTEMPTS = 25
# Claims of the next version number before reserving one with an atomic ADD (many
# creators at once: 8 on one model lost every claim in CI with more attempts and no ADD).
_CLAIM_ATTEMPTS = 3

# What MLflow's SQL store writes over a deleted version's fields.
REDACTED_FIELDS = {
    "description": None,
    "user_id": None,
    "source": "REDACTED-SOURCE-PATH",
    "run_id": "REDACTED-RUN-ID",
    "run_link": "REDACTED-RUN-LINK",
    "status_message": None,
}


class _NumberStillOurs(Exception):
    """A claim failed on another condition while the number was still free."""


# GSI2's partition key embeds the run id: half of DynamoDB's partition key cap for it
# leaves the rest for the workspace and the prefix.
_MAX_INDEXED_RUN_ID_BYTES = MAX_PARTITION_KEY_BYTES // 2


def indexable_run_id(run_id: str | None) -> bool:
    """Whether versions of this run are in the by-run index (GSI2). Empty or huge run ids
    are not: searches for them read the workspace's version listing instead."""
    return bool(run_id) and len(run_id.encode()) <= _MAX_INDEXED_RUN_ID_BYTES


def latest_by_stage(versions: list[Item]) -> dict[str, int]:
    """Highest live version number per stage."""
    latest: dict[str, int] = {}
    for v in versions:
        if is_live(v):
            stage, number = v["current_stage"], int(v["version"])
            if number > latest.get(stage, 0):
                latest[stage] = number
    return latest


def first_by_stage(versions: list[Item]) -> dict[str, int]:
    """Lowest live version number per stage."""
    first: dict[str, int] = {}
    for v in versions:
        if is_live(v):
            stage, number = v["current_stage"], int(v["version"])
            if number < first.get(stage, number + 1):
                first[stage] = number
    return first


class ModelVersionRepository(ModelVersionTagWrites):
    # ---- create ----------------------------------------------------------------------
    def create(self, meta: Item, fields: Item) -> Item:
        """Write the next version of the model and bump META in one transaction: the
        version put (``attribute_not_exists``) and META's update, which claims the number
        (``next_version`` set to it, conditioned on the value ``meta`` holds) and sets last
        update, ``latest['None']`` if this version is the highest in that stage, and
        ``rev``. A writer that lost the number to another creator re-reads META and tries
        the next one; after a few lost claims (many creators at once) it reserves a number
        with an atomic ADD instead, which no other writer can take away. Numbers never
        collide or skip."""
        model_id = meta["model_id"]
        latest = meta  # the newest META read: the claim re-reads it itself when it lost

        def read(_lost: Lost | None) -> Item:
            return latest

        def claim(read_meta: Item) -> Item:
            nonlocal latest
            claimed = int(read_meta.get("next_version", 0))
            item = self._version_item(read_meta, claimed + 1, fields)
            try:
                return self._write_version(item, claimed=claimed, with_latest=True)
            except TransactionCancelled as exc:
                if not exc.is_condition_failure:
                    raise Conflict() from None  # only concurrent transactions: same number
            fresh = self.gateway.get_item(keys.registered_model_key(model_id))
            if fresh is None:
                raise ModelNotFound(model_id)
            latest = fresh
            if int(fresh.get("next_version", 0)) == claimed:
                # The number was still ours, so another condition failed (a higher version
                # is the latest of its stage, or a version item outlived the counter): the
                # reserved path below handles both.
                raise _NumberStillOurs()
            raise Conflict(fresh)

        try:
            return optimistic(read, claim, what=f"model {model_id}", attempts=_CLAIM_ATTEMPTS)
        except (Contention, _NumberStillOurs):
            return self._create_reserved(latest, fields)

    def _create_reserved(self, meta: Item, fields: Item) -> Item:
        """Reserve the number first (UpdateItem ADD ``next_version``: one request more,
        but never lost to another creator), then write the version and META."""
        model_id = meta["model_id"]
        try:
            attrs = self.gateway.update_item(
                keys.registered_model_key(model_id),
                "ADD #u_nv :u_one",
                names={"#u_nv": "next_version"},
                values={":u_one": 1},
                condition=Attr("PK").exists(),
                return_values="UPDATED_NEW",
            )
        except ConditionFailed:
            raise ModelNotFound(model_id) from None
        assert attrs is not None
        item = self._version_item(meta, int(attrs["next_version"]), fields)
        with_latest = True

        def write(_item: Item) -> Item:
            nonlocal with_latest, item
            try:
                return self._write_version(item, claimed=None, with_latest=with_latest)
            except TransactionCancelled as exc:
                if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
                    renamed = self._renamed(item)
                    if renamed is not None:  # listed under the model's new name, then retry
                        item = {**item, **renamed}
                        raise Conflict() from None
                    if not with_latest:
                        raise ModelNotFound(model_id) from None
                    # A higher version already is the latest of its stage (or the model is
                    # gone: the update without that condition tells).
                    with_latest = False
                elif exc.is_condition_failure:
                    raise
                # Else only conflicts with concurrent transactions on META: the number is
                # ours, so keep trying rather than leave a gap.
                raise Conflict() from None

        try:
            return optimistic(
                lambda _lost: item, write, what=f"model {model_id}", attempts=_RESERVED_ATTEMPTS
            )
        except Contention:
            raise ConcurrentModification(model_id) from None

    def _renamed(self, item: Item) -> dict[str, str] | None:
        """The listing keys of ``item`` under its model's current name, if a rename changed
        it since the item was built (None otherwise, or when the model is gone)."""
        meta = self.gateway.get_item(keys.registered_model_key(item["model_id"]))
        if meta is None:
            return None
        listed = version_number_keys.live_version_keys(
            meta["workspace"], int(item["version"]), meta["name"]
        )
        by_workspace = indexes.MODEL_VERSIONS_BY_WORKSPACE
        return None if listed[by_workspace.sk] == item[by_workspace.sk] else listed

    @staticmethod
    def _version_item(meta: Item, version: int, fields: Item) -> Item:
        model_id, workspace = meta["model_id"], meta["workspace"]
        item: Item = {
            **keys.model_version_key(model_id, version),
            # MODEL_VERSIONS_BY_WORKSPACE, in version-number order under the model's name
            **version_number_keys.live_version_keys(workspace, version, meta["name"]),
            "model_id": model_id,
            "workspace": workspace,
            "version": version,
            **fields,
        }
        item.update(
            registry_order_keys.version_update_keys(
                workspace, int(fields["last_updated_time"]), model_id, version
            )
        )
        item.update(
            registry_order_keys.version_creation_keys(
                workspace, int(fields["creation_time"]), model_id, version
            )
        )
        if indexable_run_id(item.get("run_id")):
            item.update(keys.model_version_run_keys(workspace, item["run_id"], model_id, version))
        return item

    def _write_version(self, item: Item, *, claimed: int | None, with_latest: bool) -> Item:
        """One transaction: the version put (``attribute_not_exists``) and META's update,
        with its tag values' postings when indexed (as far as they fit; the rest written
        just before: a posting of a version that does not exist, e.g. a lost number claim,
        is a candidate the search verifies away)."""
        change = postings.PostingChange()
        if item.get("tags") and self.tag_values_indexed():
            change.puts.extend(model_version_tag_values.item_posting_keys(item))
        postings.transact_with_postings(
            self.gateway,
            [
                self.gateway.tx_put(item, Attr("PK").not_exists()),
                self._meta_update(item, claimed=claimed, with_latest=with_latest),
            ],
            change,
        )
        return item

    def _meta_update(self, item: Item, *, claimed: int | None, with_latest: bool) -> dict:
        """META's side of a version create: last update, ``first``, ``rev``; with
        ``claimed``, ``next_version`` set to this version on condition it still holds
        ``claimed``; with ``with_latest``, ``latest`` of the stage on condition it is lower."""
        version, stage = item["version"], item["current_stage"]
        order, order_names, order_values = update_order_fields(
            item["model_id"], int(item["creation_time"])
        )
        names = {
            "#u_t": "last_updated_time",
            "#u_rev": "rev",
            "#u_f": "first",
            "#u_s": stage,
            **order_names,
        }
        values: dict[str, Any] = {
            ":u_t": item["creation_time"],
            ":u_one": 1,
            ":u_v": version,
            **order_values,
        }
        sets = ["#u_t = :u_t", "#u_f.#u_s = if_not_exists(#u_f.#u_s, :u_v)", order]
        adds = ["#u_rev :u_one"]
        if (item.get("tags") or {}).get(IS_PROMPT_TAG_KEY) == "true":
            names["#u_pv"] = PROMPT_VERSIONS
            values[":u_pv"] = {version}
            adds.append("#u_pv :u_pv")
        # the name the version is listed under (version_number_keys) is still the model's
        listed_under = version_number_keys.name_of_live_sk(
            item[indexes.MODEL_VERSIONS_BY_WORKSPACE.sk]
        )
        condition = Attr("PK").exists() & Attr("name").eq(listed_under)
        if claimed is not None:
            names["#u_nv"] = "next_version"
            sets.append("#u_nv = :u_v")
            # A model whose counter was never used may lack it (0 then).
            condition = condition & (
                Attr("next_version").eq(claimed)
                if claimed
                else (Attr("next_version").not_exists() | Attr("next_version").eq(0))
            )
        if with_latest:
            names["#u_l"] = "latest"
            sets.append("#u_l.#u_s = :u_v")
            condition = condition & (
                Attr(f"latest.{stage}").not_exists() | Attr(f"latest.{stage}").lt(version)
            )
        return self.gateway.tx_update(
            keys.registered_model_key(item["model_id"]),
            f"SET {', '.join(sets)} ADD {', '.join(adds)}",
            names=names,
            values=values,
            condition=condition,
        )

    # ---- single-version updates that do not change stages ----------------------------
    def update_description(
        self, model_id: str, version: int, description: str | None, time: int
    ) -> Item:
        """New description and last update (which moves the version in
        MODEL_VERSIONS_BY_LAST_UPDATE; the model's own last update stays, as in SQL)."""
        sk = registry_order_keys.version_order_sk(time, model_id, version)
        return self.update(
            model_id,
            version,
            "SET #u_d = :u_d, #u_t = :u_t, #u_usk = :u_usk",
            {
                "#u_d": "description",
                "#u_t": "last_updated_time",
                "#u_usk": indexes.MODEL_VERSIONS_BY_LAST_UPDATE.sk,
            },
            {":u_d": description, ":u_t": time, ":u_usk": sk},
        )

    def set_alias(self, model_id: str, alias: str, version: int) -> None:
        """Point an alias at a live version: the version's liveness is checked in the same
        transaction, and ``rev`` is bumped so a concurrent delete of it re-reads."""
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_check(
                        keys.model_version_key(model_id, version),
                        Attr("PK").exists() & Attr("current_stage").ne(STAGE_DELETED_INTERNAL),
                    ),
                    self.gateway.tx_update(
                        keys.registered_model_key(model_id),
                        "SET #u_a.#u_k = :u_v ADD #u_rev :u_one",
                        names={"#u_a": "aliases", "#u_k": alias, "#u_rev": "rev"},
                        values={":u_v": version, ":u_one": 1},
                        condition=Attr("PK").exists(),
                    ),
                ]
            )
        except TransactionCancelled as exc:
            if exc.reasons[:1] == ["ConditionalCheckFailed"]:
                raise VersionNotFound(f"{model_id}/{version}") from None
            if exc.is_condition_failure:
                raise ModelNotFound(model_id) from None
            raise

    def delete_alias(self, model_id: str, alias: str) -> None:
        try:
            self.gateway.update_item(
                keys.registered_model_key(model_id),
                "REMOVE #u_a.#u_k ADD #u_rev :u_one",
                names={"#u_a": "aliases", "#u_k": alias, "#u_rev": "rev"},
                values={":u_one": 1},
                condition=Attr("PK").exists(),
            )
        except ConditionFailed:
            raise ModelNotFound(model_id) from None

    # ---- writes that change stages: optimistic concurrency on META's rev -------------
    def transition(
        self, model_id: str, version: int, stage: str, archive_existing: bool, now: int
    ) -> tuple[Item, Item]:
        """Move a version to ``stage`` (archiving the others in it if asked); returns the
        updated (META, version) items."""

        def plan(meta: Item, versions: list[Item]) -> list[tuple[Item, dict]]:
            target = _live(versions, version)
            changes = [(target, {"current_stage": stage, "last_updated_time": now})]
            if archive_existing:
                changes += [
                    (v, {"current_stage": STAGE_ARCHIVED, "last_updated_time": now})
                    for v in versions
                    if is_live(v) and v["current_stage"] == stage and int(v["version"]) != version
                ]
            return changes

        meta, versions = self._commit(model_id, plan, now)
        return meta, _live(versions, version)

    def soft_delete(self, model_id: str, version: int, now: int, ttl: int | None = None) -> None:
        """Redact a version, mark it deleted and drop the aliases that pointed to it. With
        ``ttl``, DynamoDB TTL removes the deleted version item after it (nothing else hangs
        off a version, and readers already hide deleted ones)."""
        expiry = {} if ttl is None else {TTL_ATTRIBUTE: ttl}

        def plan(meta: Item, versions: list[Item]) -> list[tuple[Item, dict]]:
            target = _live(versions, version)
            return [
                (
                    target,
                    {
                        **REDACTED_FIELDS,
                        "current_stage": STAGE_DELETED_INTERNAL,
                        "last_updated_time": now,
                        **expiry,
                    },
                )
            ]

        _, versions = self._commit(model_id, plan, now, drop_aliases_of=version)
        if self.tag_values_indexed():
            # after the deletion: a crash in between leaves stale candidates, verified away
            deleted = [v for v in versions if int(v["version"]) == version]
            self.gateway.batch_write(
                deletes=[
                    p
                    for v in deleted
                    for p in model_version_tag_values.tag_posting_keys(
                        str(v["workspace"]), model_id, version, v.get("tags") or {}
                    )
                ]
            )

    def _commit(
        self,
        model_id: str,
        plan: Callable[[Item, list[Item]], list[tuple[Item, dict]]],
        now: int,
        drop_aliases_of: int | None = None,
    ) -> tuple[Item, list[Item]]:

        def read(_lost: Lost | None) -> tuple[Item, list[Item]]:
            meta, versions = self.read_model(model_id)
            if meta is None:
                raise ModelNotFound(model_id)
            return meta, versions

        def write(state: tuple[Item, list[Item]]) -> tuple[Item, list[Item]]:
            meta, versions = state
            changes = plan(meta, versions)  # raises VersionNotFound
            updated = {int(v["version"]): v for v in versions}
            for v, fields in changes:
                updated[int(v["version"])] = {**v, **fields}
            new_versions = list(updated.values())
            aliases = {
                a: v for a, v in (meta.get("aliases") or {}).items() if int(v) != drop_aliases_of
            }
            rev = version_of(meta, "rev")
            new_meta = {
                **meta,
                "latest": latest_by_stage(new_versions),
                "first": first_by_stage(new_versions),
                "aliases": aliases,
                "last_updated_time": now,
                "rev": rev.next,
            }
            actions = [self._version_update(v, fields) for v, fields in changes]
            order, order_names, order_values = update_order_fields(model_id, now)
            actions.append(
                self.gateway.tx_update(
                    keys.registered_model_key(model_id),
                    "SET #u_l = :u_l, #u_f = :u_f, #u_a = :u_a, #u_t = :u_t, #u_rev = :u_rev, "
                    + order,
                    names={
                        "#u_l": "latest",
                        "#u_f": "first",
                        "#u_a": "aliases",
                        "#u_t": "last_updated_time",
                        "#u_rev": "rev",
                        **order_names,
                    },
                    values={
                        ":u_l": new_meta["latest"],
                        ":u_f": new_meta["first"],
                        ":u_a": aliases,
                        ":u_t": now,
                        ":u_rev": new_meta["rev"],
                        **order_values,
                    },
                    condition=rev.condition,
                )
            )
            # More than 100 actions (archiving 100+ versions) cannot be one transaction: write
            # the surplus first; the META write below still decides the outcome.
            head, last = actions[:-1], actions[-1]
            try:
                while len(head) > TRANSACTION_LIMIT - 1:
                    self.gateway.transact_write(head[:TRANSACTION_LIMIT])
                    head = head[TRANSACTION_LIMIT:]
                self.gateway.transact_write([*head, last])
            except TransactionCancelled:
                # META's rev moved, or a conflicting transaction: re-read and retry.
                raise Conflict() from None
            return new_meta, new_versions

        try:
            return optimistic(read, write, what=f"model {model_id}")
        except Contention:
            raise ConcurrentModification(model_id) from None

    def _version_update(self, item: Item, fields: dict) -> dict:
        deleted = fields.get("current_stage") == STAGE_DELETED_INTERNAL
        if "last_updated_time" in fields and not deleted:
            # its new place in MODEL_VERSIONS_BY_LAST_UPDATE
            fields = {
                **fields,
                indexes.MODEL_VERSIONS_BY_LAST_UPDATE.sk: registry_order_keys.version_order_sk(
                    int(fields["last_updated_time"]), item["model_id"], int(item["version"])
                ),
            }
        if deleted:  # out of the live versions' number order (version_number_keys)
            fields = {
                **fields,
                indexes.MODEL_VERSIONS_BY_WORKSPACE.sk: version_number_keys.deleted_sk(
                    item["model_id"], int(item["version"])
                ),
            }
        expr, names, values = set_expression(fields)
        removed: list[str] = []
        if deleted or "run_id" in fields:
            # a deleted version no longer belongs to its run
            removed += indexes.MODEL_VERSIONS_BY_RUN.key_attributes
        if deleted:  # nor to the ordered listings searches walk
            removed += indexes.MODEL_VERSIONS_BY_LAST_UPDATE.key_attributes
            removed += indexes.MODEL_VERSIONS_BY_CREATION.key_attributes
        if removed:
            expr += " REMOVE " + ", ".join(removed)
        return self.gateway.tx_update(
            {"PK": item["PK"], "SK": item["SK"]},
            expr,
            names=names,
            values=values,
            condition=Attr("current_stage").eq(item["current_stage"]),
        )


def _live(versions: list[Item], version: int) -> Item:
    for v in versions:
        if int(v["version"]) == version and is_live(v):
            return v
    raise VersionNotFound(str(version))
